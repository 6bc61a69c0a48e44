"""results.json, report.md and the regret plot of a replay.

Definitions (also printed in report.md):

- normalised regret of a loss ``l``: ``(l - optimum_loss) / (worst_loss - optimum_loss)``,
  both taken over the table's rows at the maximum budget;
- a run's incumbent at time ``t``: the best loss of a trial that SUCCEEDED at the maximum
  budget and ended by ``t``; before the first one the regret counts as 1 (the worst);
- time to a target regret: the first incumbent time at or below it, **infinite** for a seed
  that never reached it within the time limit. The median is taken over ALL seeds (numpy's
  median: for an even count the mean of the two middle values), so it is "never" when more
  than half of the seeds did not reach the target (and, for an even count, when exactly half
  did not: the midpoint of a finite and an infinite value). Every figure is shown with
  reached/total beside it; no mean over the seeds that happened to reach it is reported;
- speed-up of ``hyperjump`` against another advisor: the other's all-seed median divided by
  hyperjump's. Infinite values are handled explicitly: other never, hyperjump did -> ``inf``
  ("other never"); hyperjump never, other did -> ``0`` ("hyperjump never"); both never ->
  undefined ("neither");
- ranking: advisors are sorted by median time to 10%, then 1%, then 0.1% regret, then final
  regret; the *best peer* is the first advisor that is neither ``hyperjump`` nor one of its
  ablations ``hyperjump-*``;
- oracle: the cheapest configuration within the target trained once at the maximum budget
  (the physical limit for one worker);
- advisor ms per decision: durations of the handler calls after which the advisor sent a
  NewTrialJob or KillTrialJob, pooled over seeds (median, p95).

Per-run quantities are computed once per run with numpy (regret of each incumbent, then
``searchsorted``), so a report is O(n log n) in the trials and the table's rows.

``python -m hyperjump_advisor.replay.report DIR`` rebuilds report.md and the plot from
``DIR/results.json``.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

TARGETS = (0.1, 0.01, 0.001)
REGRET_FLOOR = 1e-4  # plotted regret is clipped here (log axis; 0 = the optimum found)
REFERENCE = "hyperjump"


# ---- results.json ------------------------------------------------------------------------------
def results_document(table, budget_map, runs: list[dict], time_limit: float, workers: int,
                     settings: Optional[dict] = None) -> dict:
    return {
        "table": table.name,
        "optimum_loss": table.optimum_loss,
        "worst_loss": table.worst_loss,
        "levels": table.levels,
        "R": budget_map.R,
        "eta": budget_map.eta,
        "workers": workers,
        "time_limit": time_limit,
        "oracle": {str(t): table.oracle_time(t) for t in TARGETS},
        "table_summary": table.summary(),
        "settings": settings or {},
        "runs": runs,
    }


def write_results(directory: str | os.PathLike, document: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as handle:
        json.dump(document, handle, default=_json_default)
    os.replace(tmp, path)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {value!r}")


def load_results(directory: str | os.PathLike) -> dict:
    with open(Path(directory) / "results.json") as handle:
        return json.load(handle)


# ---- per-run measures -------------------------------------------------------------------------------
def regret_of(loss: float, document: dict) -> float:
    span = document["worst_loss"] - document["optimum_loss"]
    return (loss - document["optimum_loss"]) / span if span > 0 else 0.0


def _incumbent_arrays(run: dict, document: dict) -> tuple[np.ndarray, np.ndarray]:
    """(times, regrets) of a run's incumbent as arrays, regrets made non-increasing."""
    pairs = run.get("incumbent") or []
    times = np.array([p[0] for p in pairs], dtype=float)
    span = document["worst_loss"] - document["optimum_loss"]
    losses = np.array([p[1] for p in pairs], dtype=float)
    regrets = (losses - document["optimum_loss"]) / span if span > 0 else np.zeros_like(losses)
    regrets = np.minimum.accumulate(regrets) if regrets.size else regrets
    return times, regrets


def time_to_target(run: dict, document: dict, target: float) -> float:
    """First incumbent time at or below ``target`` regret; ``inf`` if the run never got there."""
    times, regrets = _incumbent_arrays(run, document)
    # regrets are non-increasing: the first index with regret <= target, by binary search on -regret
    index = int(np.searchsorted(-regrets, -(target + 1e-12), side="left"))
    return float(times[index]) if index < len(times) else math.inf


def regret_curve(run: dict, document: dict, grid: np.ndarray) -> np.ndarray:
    """Incumbent regret of one run at each grid time (1 before the first incumbent)."""
    times, regrets = _incumbent_arrays(run, document)
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, regrets[np.maximum(index, 0)] if regrets.size else 1.0, 1.0)


def final_regret(run: dict, document: dict) -> float:
    _, regrets = _incumbent_arrays(run, document)
    return float(regrets[-1]) if regrets.size else 1.0


def _config_key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def is_ours(name: str) -> bool:
    """hyperjump or one of its ablations (hyperjump-*): not a peer."""
    return name == REFERENCE or name.startswith(REFERENCE + "-")


# ---- medians with unreached seeds ---------------------------------------------------------------------
def median_all(times: list[float]) -> float:
    """Median over all seeds, unreached ones counted as ``inf`` (so "never" when too few reached)."""
    return float(np.median(np.asarray(times, dtype=float))) if len(times) else math.inf


def quantile_all(times: list[float], q: float) -> float:
    """Linear-interpolated quantile over all seeds; infinite as soon as an infinite value takes part."""
    values = np.sort(np.asarray(times, dtype=float))
    if not values.size:
        return math.inf
    position = q * (values.size - 1)
    low, high = int(math.floor(position)), int(math.ceil(position))
    if math.isinf(values[high]) and position > low or math.isinf(values[low]):
        return math.inf
    return float(values[low] + (values[high] - values[low]) * (position - low)) if high != low else float(values[low])


def ratio(other: float, mine: float) -> Optional[float]:
    """other / mine for all-seed medians: inf if only mine is finite, 0 if only other's, None if neither."""
    if math.isinf(mine) and math.isinf(other):
        return None
    if math.isinf(other):
        return math.inf
    if math.isinf(mine):
        return 0.0
    return other / mine if mine > 0 else (1.0 if other == 0 else math.inf)


# ---- per-advisor summary --------------------------------------------------------------------------------
def by_advisor(document: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for run in document["runs"]:
        groups.setdefault(run["advisor"], []).append(run)
    return groups


def _mean_of(runs: list[dict], key: str) -> float:
    return float(np.mean([r.get(key, 0) or 0 for r in runs])) if runs else 0.0


def summarize(document: dict) -> dict[str, dict]:
    """advisor -> measures, in ranking order (see :func:`rank_key`)."""
    summary = {}
    top = max(document["levels"]) if document.get("levels") else None
    for name, runs in by_advisor(document).items():
        s: dict[str, Any] = {"seeds": len(runs), "targets": {}}
        for target in TARGETS:
            times = [time_to_target(r, document, target) for r in runs]
            finite = np.array([t for t in times if math.isfinite(t)])
            s["targets"][target] = {"reached": int(finite.size), "times": times, "median": median_all(times),
                                    "q25": quantile_all(times, 0.25), "q75": quantile_all(times, 0.75)}
        finals = np.array([final_regret(r, document) for r in runs])
        s["final_mean"] = float(finals.mean())
        s["final_se"] = float(finals.std(ddof=1) / math.sqrt(len(finals))) if len(finals) > 1 else 0.0
        s["final_median"] = float(np.median(finals))
        s["configs"] = float(np.mean([len({_config_key(t["config"]) for t in r["trials"]}) for r in runs]))
        s["trials"] = float(np.mean([len(r["trials"]) for r in runs]))
        s["full_budget_trials"] = float(np.mean([sum(1 for t in r["trials"] if t["budget"] == top)
                                                 for r in runs]))
        s["failed"] = float(np.mean([sum(1 for t in r["trials"] if t["status"] == "FAILED") for r in runs]))
        s["killed"] = float(np.mean([sum(1 for t in r["trials"] if t["status"] == "KILLED") for r in runs]))
        for key in ("missing_config_proposals", "missing_row_proposals", "resumed_trials", "resume_floored"):
            s[key] = _mean_of(runs, key)
            s[key + "_total"] = int(sum(r.get(key, 0) or 0 for r in runs))
        s["checkpoint"] = sum(1 for r in runs if r.get("checkpoint"))
        decisions = np.concatenate([np.asarray(r.get("decision_ms", []), dtype=float) for r in runs]) \
            if runs else np.zeros(0)
        s["decision_ms_median"] = float(np.median(decisions)) if decisions.size else None
        s["decision_ms_p95"] = float(np.percentile(decisions, 95)) if decisions.size else None
        s["advisor_seconds"] = float(np.mean([r["advisor_seconds"] for r in runs]))
        s["decisions"] = float(np.mean([r["decisions"] for r in runs]))
        reasons: dict[str, int] = {}
        for r in runs:
            reasons[r.get("end_reason", "?")] = reasons.get(r.get("end_reason", "?"), 0) + 1
        s["end_reasons"] = reasons
        s["errors"] = [r["error"] for r in runs if r.get("error")]
        s["queued_trials"] = int(sum(r.get("queued_trials", 0) for r in runs))
        s["kills_ignored"] = int(sum(r.get("kills_ignored", 0) for r in runs))
        summary[name] = s
    return dict(sorted(summary.items(), key=lambda item: rank_key(item[1])))


def rank_key(s: dict) -> tuple:
    """Sort advisors by median time to 10%, then 1%, then 0.1% regret, then final regret."""
    return tuple(s["targets"][t]["median"] for t in TARGETS) + (s["final_median"],)


def best_peer(summary: dict[str, dict]) -> Optional[str]:
    """The best-ranked advisor that is neither hyperjump nor one of its ablations."""
    peers = [name for name in summary if not is_ours(name)]
    return min(peers, key=lambda n: rank_key(summary[n])) if peers else None


def speedups(summary: dict[str, dict], reference: str = REFERENCE) -> dict[str, dict[float, Optional[float]]]:
    """other advisor -> target -> median(other) / median(reference), all-seed medians (see :func:`ratio`)."""
    if reference not in summary:
        return {}
    return {name: {t: ratio(s["targets"][t]["median"], summary[reference]["targets"][t]["median"])
                   for t in TARGETS}
            for name, s in summary.items() if name != reference}


def comparison(summary: dict[str, dict], reference: str = REFERENCE) -> dict:
    """hyperjump against the best peer and hyperband: medians and ratios per target."""
    peer = best_peer(summary)
    out: dict[str, Any] = {"reference": reference if reference in summary else None, "best_peer": peer,
                           "targets": {}}
    for t in TARGETS:
        row: dict[str, Any] = {}
        mine = summary[reference]["targets"][t] if reference in summary else None
        row["hyperjump"] = mine
        for label, name in (("peer", peer), ("hyperband", "hyperband")):
            theirs = summary[name]["targets"][t] if name in summary else None
            row[label] = theirs
            row[label + "_ratio"] = ratio(theirs["median"], mine["median"]) if mine and theirs else None
        out["targets"][t] = row
    return out


# ---- formatting -------------------------------------------------------------------------------------------
def _t(seconds: Optional[float]) -> str:
    if seconds is None:
        return "—"
    if math.isinf(seconds):
        return "never"
    if seconds >= 10_000:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:,.0f} s"


def median_cell(x: Optional[dict], seeds: int) -> str:
    """``median (reached/total)``; the median is "never" when too few seeds reached the target."""
    if x is None:
        return "—"
    return f"{_t(x['median'])} ({x['reached']}/{seeds})"


def ratio_cell(value: Optional[float], other: str = "other") -> str:
    if value is None:
        return "— (neither reached)"
    if math.isinf(value):
        return f"∞ ({other} never)"
    if value == 0:
        return "0 (hyperjump never)"
    return f"{value:.2f}x"


def _ms(value: Optional[float]) -> str:
    return "—" if value is None else (f"{value:.2f}" if value < 100 else f"{value:,.0f}")


ACCOUNTING = [
    "time to a target: the first time the incumbent (best full-budget result) is within the target; a seed that "
    "never got there counts as infinite and medians are over ALL seeds, so a median is `never` when at least half "
    "of the seeds did not reach it (reached/total beside every figure); ratios are of these medians",
    "a trial lasts the table's time of its (configuration, level); its PERIODICAL results arrive at the table's "
    "time of each smaller level (minus the resumed level's time for a resumed trial), clamped to be "
    "non-decreasing and within the trial",
    "a resumed trial (pause-resume) costs min(T(level), max(T(level) - T(resumed level), floor)); floor = the "
    "configuration's cheapest positive single-level step in the table (1% of T(level) if none), so it never "
    "costs zero where the table's time at a higher level is not above the resumed level's; it never binds where "
    "the times increase",
    "a proposal naming a configuration or a (configuration, budget) the table lacks fails at once at zero cost; "
    "it is counted (missing configs / missing rows per run) and shown below",
]


def render_report(document: dict, plots: Sequence[str] = ()) -> str:
    summary = summarize(document)
    lines = [f"# Replay: {document['table']}, {document['workers']} worker(s)", ""]
    lines += [f"- table: {document.get('table_summary', document['table'])}",
              f"- Hyperband R={document['R']}, eta={document['eta']}: TRIAL_BUDGET b runs at the table level "
              "log_step(R/b) below the top, step = the table's eta for geometric levels (budget ratios kept), "
              f"the plan's eta otherwise (by rank); levels {', '.join(f'{v:g}' for v in document['levels'])}",
              f"- optimum loss {document['optimum_loss']:.6g}, worst {document['worst_loss']:.6g} "
              "(at the maximum budget); regret = (incumbent - optimum) / (worst - optimum)",
              f"- simulated time limit {_t(document['time_limit'])}; "
              "seeds per advisor: " + ", ".join(f"{n} {s['seeds']}" for n, s in summary.items())]
    settings = document.get("settings") or {}
    if settings:
        lines.append("- settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    lines += ["", "## Accounting rules", ""] + [f"- {rule}" for rule in ACCOUNTING]
    oracle = document.get("oracle", {})
    lines += ["", "## Time to reach a target regret (simulated seconds)", "",
              "Median over all seeds (unreached = infinite) and reached/total; interquartile range below each; "
              "advisors sorted by time to 10%, then 1%, then 0.1%. Oracle = cheapest configuration within the "
              "target trained once at full budget.", "",
              "| rank | advisor | " + " | ".join(f"to {t:g}: median (reached) | IQR" for t in TARGETS)
              + " | final regret (median) |",
              "|---|---|" + "---|---|" * len(TARGETS) + "---|"]
    for rank, (name, s) in enumerate(summary.items(), start=1):
        cells = []
        for target in TARGETS:
            x = s["targets"][target]
            cells.append(f"{median_cell(x, s['seeds'])} | {_t(x['q25'])} – {_t(x['q75'])}")
        lines.append(f"| {rank} | {name} | " + " | ".join(cells) + f" | {s['final_median']:.4f} |")
    lines.append("| | *oracle* | " + " | ".join(f"{_t(oracle.get(str(t)))} | " for t in TARGETS) + " |")
    comp = comparison(summary)
    if comp["reference"]:
        peer = comp["best_peer"]
        lines += ["", f"## {REFERENCE} against the best peer ({peer or 'none'}) and hyperband", "",
                  "Ratios = other's median / hyperjump's median (> 1: hyperjump faster).", "",
                  f"| target | {REFERENCE} | best peer: {peer or '—'} | ratio | hyperband | ratio | oracle |",
                  "|---|---|---|---|---|---|---|"]
        for t in TARGETS:
            row = comp["targets"][t]
            seeds = lambda n: summary[n]["seeds"] if n in summary else 0  # noqa: E731
            lines.append(f"| {t:g} | {median_cell(row['hyperjump'], seeds(REFERENCE))} | "
                         f"{median_cell(row['peer'], seeds(peer) if peer else 0)} | "
                         f"{ratio_cell(row['peer_ratio'], peer or 'peer') if row['peer'] else '—'} | "
                         f"{median_cell(row['hyperband'], seeds('hyperband'))} | "
                         f"{ratio_cell(row['hyperband_ratio'], 'hyperband') if row['hyperband'] else '—'} | "
                         f"{_t(oracle.get(str(t)))} |")
    ups = speedups(summary)
    if ups:
        lines += ["", f"## Speed-up of {REFERENCE} against every advisor (other's median / {REFERENCE}'s)", "",
                  "| against | " + " | ".join(f"regret {t:g}" for t in TARGETS) + " |",
                  "|---|" + "---|" * len(TARGETS)]
        for name, row in ups.items():
            lines.append(f"| {name} | " + " | ".join(ratio_cell(row[t], name) for t in TARGETS) + " |")
    lines += ["", "## Search and advisor cost", "",
              "Per run (mean over seeds). Missing configs / rows: proposals naming a configuration the table lacks "
              "/ a configuration without a row at that budget (failed at zero cost). Resumed: trials that continued "
              "from a checkpoint; floored: of those, the ones whose cost the floor raised. Advisor s/run includes "
              "writing its checkpoint state when checkpointing is on (ckpt runs).", "",
              "| advisor | final regret (mean ± se) | configs | trials | full-budget trials | failed | killed | "
              "missing configs | missing rows | resumed | floored | ms/decision median | p95 | decisions | "
              "advisor s/run | ckpt runs | end |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        ends = ", ".join(f"{k} {v}" for k, v in s["end_reasons"].items())
        lines.append(f"| {name} | {s['final_mean']:.4f} ± {s['final_se']:.4f} | "
                     f"{s['configs']:.1f} | {s['trials']:.1f} | {s['full_budget_trials']:.1f} | {s['failed']:.1f} | "
                     f"{s['killed']:.1f} | {s['missing_config_proposals']:.1f} | {s['missing_row_proposals']:.1f} | "
                     f"{s['resumed_trials']:.1f} | {s['resume_floored']:.1f} | "
                     f"{_ms(s['decision_ms_median'])} | {_ms(s['decision_ms_p95'])} | "
                     f"{s['decisions']:.0f} | {s['advisor_seconds']:.2f} | {s['checkpoint']}/{s['seeds']} | {ends} |")
    notes = _notes(summary)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if plots:
        lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _notes(summary: dict[str, dict]) -> list[str]:
    notes = []
    for name, s in summary.items():
        if s["errors"]:
            first = s["errors"][0].strip().splitlines()
            notes.append(f"{name}: {len(s['errors'])} run(s) ended with an error; first: `{first[-1] if first else ''}`")
        if s["missing_config_proposals_total"]:
            notes.append(f"{name}: {s['missing_config_proposals_total']} proposal(s) named a configuration the table "
                         f"lacks ({s['missing_config_proposals']:.1f} per run); each failed at zero cost")
        if s["queued_trials"]:
            notes.append(f"{name}: {s['queued_trials']} NewTrialJob(s) had to wait for a worker (more trials sent "
                         "than requested)")
        if s["kills_ignored"]:
            notes.append(f"{name}: {s['kills_ignored']} KillTrialJob(s) named a trial that was not running")
        idle = s["end_reasons"].get("idle", 0)
        if idle:
            notes.append(f"{name}: {idle} run(s) stopped idle before the time limit: the advisor held trial "
                         "requests without sending work and no trial was running (a stall)")
    return notes


# ---- plot -----------------------------------------------------------------------------------------------
def plot_regret(document: dict, path: str | os.PathLike) -> Optional[Path]:
    """Median incumbent regret vs simulated time with its interquartile band across seeds, one curve per
    advisor (in ranking order)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    groups = by_advisor(document)
    order = list(summarize(document))
    firsts = [r["incumbent"][0][0] for runs in groups.values() for r in runs if r["incumbent"]]
    limit = document["time_limit"] if document.get("time_limit") and math.isfinite(document["time_limit"]) \
        else max((r.get("end_time", 0) for runs in groups.values() for r in runs), default=1.0)
    start = max(min(firsts) * 0.5, limit * 1e-4) if firsts else limit * 1e-3
    grid = np.geomspace(start, limit, 300)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name in order:
        runs = groups[name]
        curves = np.array([regret_curve(r, document, grid) for r in runs])
        median = np.median(curves, axis=0)
        q25, q75 = np.percentile(curves, 25, axis=0), np.percentile(curves, 75, axis=0)  # regrets: finite
        style = "-" if is_ours(name) else "--"
        width = 2.2 if name == REFERENCE else 1.3
        line, = ax.plot(grid, np.maximum(median, REGRET_FLOOR), style, linewidth=width,
                        label=f"{name} ({len(runs)} seeds)")
        ax.fill_between(grid, np.maximum(q25, REGRET_FLOOR), np.maximum(q75, REGRET_FLOOR),
                        color=line.get_color(), alpha=0.15, linewidth=0)
    for target in TARGETS:
        ax.axhline(target, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("normalised regret of the incumbent\n(median, band: interquartile across seeds)")
    ax.set_title(f"{document['table']}, {document['workers']} worker(s)")
    ax.legend(fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ---- all outputs ------------------------------------------------------------------------------------------
def write_outputs(directory: str | os.PathLike, document: dict) -> dict[str, Path]:
    """results.json, regret.png and report.md in ``directory``."""
    directory = Path(directory)
    out = {"results": write_results(directory, document)}
    plot = plot_regret(document, directory / "regret.png")
    plots = [plot.name] if plot else []
    if plot:
        out["plot"] = plot
    report = directory / "report.md"
    report.write_text(render_report(document, plots))
    out["report"] = report
    return out


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m hyperjump_advisor.replay.report DIR (with DIR/results.json)", file=sys.stderr)
        return 2
    document = load_results(argv[0])
    plot = plot_regret(document, Path(argv[0]) / "regret.png")
    (Path(argv[0]) / "report.md").write_text(render_report(document, [plot.name] if plot else []))
    print(Path(argv[0]) / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
