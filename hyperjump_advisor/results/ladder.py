"""``exec_mode: async`` as it ran: each configuration's path up the rungs over time (a "ladder" chart).

x is the time since the start, y the rung (its budget). A configuration is a line: a dot where a result at
a rung arrived, a horizontal wait until it was promoted, then a rise to its result at the next rung; a rise
past rungs (a jump) is red and dashed. Stops mark the configurations they discarded with a red cross, trials
killed by a stop with an orange x, and a killed trial that finished first (a late kill) with a star.
Configurations are spread slightly within a rung so that their lines do not hide each other.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional

from .moves import Move
from .reading import Records, TrialRecord
from .report import best_at_full_budget, format_budget, plural

SPREAD = 0.3   # the part of a rung's height over which configurations are spread


def _offsets(config_ids: list[int]) -> dict[int, float]:
    n = max(len(config_ids), 1)
    return {c: (i / max(n - 1, 1) - 0.5) * SPREAD if n > 1 else 0.0 for i, c in enumerate(sorted(config_ids))}


def _trials_by_config(records: Records) -> dict[int, list[TrialRecord]]:
    by_config: dict[int, list[TrialRecord]] = defaultdict(list)
    for t in records.trials:
        by_config[t.config_id].append(t)
    return by_config


def _leaves(records: Records) -> dict[tuple[int, Any], Move]:
    """(config, rung it left) -> the promotion or jump that moved it up."""
    return {(c, m.stage): m for m in records.moves if m.kind in ("promotion", "jump") for c in m.kept}


def _path(trials: list[TrialRecord], leaves: dict, config: int, start: float) -> list[tuple[float, float, str]]:
    """The configuration's line as (x, rung, style of the segment that ends here) points, in time order."""
    points: list[tuple[float, float, str]] = []
    style = "start"
    for t in sorted(trials, key=lambda t: (t.stage, t.time)):
        points.append((t.time - start, t.stage, style))
        move = leaves.get((config, t.stage))
        if move is not None and isinstance(move.time, (int, float)):
            points.append((max(move.time - start, t.time - start), t.stage, "wait"))
            style = "jump" if move.kind == "jump" else "promotion"
        else:
            style = "start"
    return points


def _draw_path(axes, points: list, offset: float, best: bool) -> None:
    color, width = ("tab:blue", 2.2) if best else ("0.55", 0.9)
    for (x0, y0, _), (x1, y1, style) in zip(points, points[1:]):
        if style == "start":
            continue   # a restart of the same configuration later (not a move): no line
        jump = style == "jump"
        axes.plot([x0, x1], [y0 + offset, y1 + offset], color="tab:red" if jump else color,
                  linestyle="--" if jump else "-", linewidth=width + (0.6 if jump else 0), zorder=3 if best else 2)


def _draw_results(axes, trials: list[TrialRecord], offset: float, start: float) -> None:
    for t in trials:
        x, y = t.time - start, t.stage + offset
        if t.late_kill:
            axes.plot(x, y, "*", color="tab:purple", markersize=10, zorder=5)
        elif t.killed:
            axes.plot(x, y, "x", color="tab:orange", markersize=8, markeredgewidth=2, zorder=5)
        elif t.status == "FAILED":
            axes.plot(x, y, "o", markerfacecolor="white", markeredgecolor="tab:red", markersize=5, zorder=4)
        elif t.status == "DONE":
            axes.plot(x, y, "o", color="0.25", markersize=3.5, zorder=4)


def _draw_stops(axes, records: Records, offsets: dict[int, float], start: float) -> None:
    for m in records.stops:
        if isinstance(m.time, (int, float)) and isinstance(m.stage, int):
            for c in m.discarded:
                axes.plot(m.time - start, m.stage + offsets.get(c, 0.0), "P", color="tab:red", markersize=8,
                          zorder=6)


def _legend(axes) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.55", label="promotion (ASHA or challenger)"),
               Line2D([], [], color="tab:red", linestyle="--", label="jump past rungs"),
               Line2D([], [], color="tab:blue", linewidth=2.2, marker="o", label="best configuration at R"),
               Line2D([], [], marker="o", color="0.25", linestyle="", label="result"),
               Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="tab:red", linestyle="",
                      label="failed"),
               Line2D([], [], marker="P", color="tab:red", linestyle="", label="discarded by a rung stop"),
               Line2D([], [], marker="x", color="tab:orange", linestyle="", markeredgewidth=2,
                      label="killed by a rung stop"),
               Line2D([], [], marker="*", color="tab:purple", linestyle="", markersize=10,
                      label="completed after a late kill")]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def plot_ladder(records: Records, plt: Any, best: Optional[TrialRecord] = None) -> Any:
    """The figure (the caller saves and closes it)."""
    budgets = records.rung_budgets
    figure, axes = plt.subplots(figsize=(10, 1.4 * max(len(budgets), 2) + 1.2))
    start = records.start_time or 0.0
    by_config = _trials_by_config(records)
    offsets = _offsets(list(by_config))
    leaves = _leaves(records)
    best = best if best is not None else best_at_full_budget(records)
    for config, trials in by_config.items():
        _draw_path(axes, _path(trials, leaves, config, start), offsets[config],
                   best is not None and config == best.config_id)
        _draw_results(axes, trials, offsets[config], start)
    if best is not None:
        axes.plot(best.time - start, best.stage + offsets.get(best.config_id, 0.0), "o", color="tab:blue",
                  markersize=9, zorder=6)
    _draw_stops(axes, records, offsets, start)
    axes.set_yticks(range(len(budgets)))
    axes.set_yticklabels([f"rung {k}\nbudget {format_budget(b)}" for k, b in enumerate(budgets)])
    axes.set_ylim(-0.5, max(len(budgets), 1) - 0.5)
    axes.set_xlabel("seconds since the experiment started")
    counts = records.counts
    axes.set_title(f"Each configuration's path up the rungs ({plural(counts['promotions'], 'promotion')}, "
                   f"{plural(counts['jumps'], 'jump')}, {plural(counts['stops'], 'stop')})")
    axes.grid(axis="y", color="0.9")
    _legend(axes)
    return figure
