"""``hyperjump-results --html FILE``: one self-contained page (plots embedded as base64 PNG).

At the top, why the experiment ended in error (if it did), the counts and the classArgs that differ from
the defaults. Two plots made with matplotlib: the incumbent (best metric at the full budget) against time
with the jumps and stops marked, and the schedule: for ``exec_mode: async`` each configuration's path up
the rungs (:mod:`.ladder`), for ``serial``/``parallelism`` the bracket/stage timeline. Below them the text
report (trials, rungs or brackets, promotions, jumps and stops).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any, Optional

from .diagnostics import diagnostics_lines
from .ladder import plot_ladder
from .reading import Records
from .report import class_args_changed, counts_line, format_budget, text_report


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    return plt


def _png_base64(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def incumbent_steps(records: Records) -> list[tuple[float, float]]:
    """(seconds since start, incumbent metric) at each new incumbent."""
    start = records.start_time or 0.0
    return [(e["time"] - start, float(e["metric"])) for e in records.incumbents
            if isinstance(e.get("time"), (int, float)) and isinstance(e.get("metric"), (int, float))]


def plot_incumbent(records: Records) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.6))
    start = records.start_time or 0.0
    steps = incumbent_steps(records)
    end = max([t.time - start for t in records.trials] + [x for x, _ in steps] + [1.0])
    full = [(t.time - start, t.metric) for t in records.trials
            if t.metric is not None and records.full_budget is not None and t.budget >= records.full_budget - 1e-9]
    if full:
        axes.plot([x for x, _ in full], [y for _, y in full], ".", color="grey", label="trials at the full budget")
    if steps:
        xs = [x for x, _ in steps] + [end]
        ys = [y for _, y in steps] + [steps[-1][1]]
        axes.step(xs, ys, where="post", color="tab:blue", label="incumbent at the full budget")
        axes.plot([x for x, _ in steps], [y for _, y in steps], "o", color="tab:blue")
    marks = [(m, "tab:red", "--", "jump") for m in records.jumps] + \
        [(m, "tab:orange", ":", "rung stop") for m in records.stops]
    labelled = set()
    for move, color, style, label in marks:
        if isinstance(move.time, (int, float)):
            axes.axvline(move.time - start, color=color, linestyle=style, linewidth=1.2,
                         label=None if label in labelled else label)
            labelled.add(label)
    axes.set_xlabel("seconds since the experiment started")
    axes.set_ylabel("metric")
    axes.set_title("Incumbent against time" + ("" if steps else " (no full-budget result yet)"))
    if steps or marks:
        axes.legend(loc="best")
    axes.set_xlim(0, end * 1.02)
    data = _png_base64(figure)
    plt.close(figure)
    return data


def planned_budget(records: Records, bracket: Any, stage: Any) -> Any:
    """The budget of a bracket's stage from the header's plan (brackets listed from s_max down to 0)."""
    plan = (records.header or {}).get("plan") or []
    s = next((b.get("s") for b in records.brackets if b.get("bracket") == bracket), None)
    if s is None:
        return None
    try:
        return plan[len(plan) - 1 - s][stage][1]
    except (TypeError, IndexError):
        return None


def stage_spans(records: Records) -> list[dict]:
    """One span per (bracket, stage): when it started, when it ended, and whether a jump left it."""
    start = records.start_time or 0.0
    last = max([t.time for t in records.trials] + [e.get("time") or start for e in records.events] + [start])
    opened: dict[tuple[Any, Any], float] = {}   # (bracket, stage) -> start time
    for b in records.brackets:
        opened[(b.get("bracket"), 0)] = b.get("time") or start
    closed: dict[tuple[Any, Any], tuple[float, Any]] = {}   # (bracket, stage) -> (end time, promotion)
    for p in records.promotions:
        key = (p.get("bracket"), p.get("stage"))
        closed[key] = (p.get("time") or last, p)
        if not p.get("finishes_bracket") and p.get("to_stage") is not None:
            opened[(p.get("bracket"), p.get("to_stage"))] = p.get("time") or last
    for t in records.trials:  # stages known only from trials (e.g. no audit file)
        opened.setdefault((t.bracket, t.stage), t.time)
    spans = []
    for (bracket, stage), begin in sorted(opened.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        end, promotion = closed.get((bracket, stage), (None, None))
        trial_ends = [t.time for t in records.trials if t.bracket == bracket and t.stage == stage]
        if end is None:
            end = max(trial_ends + [begin])
        budgets: list[Any] = [t.budget for t in records.trials if t.bracket == bracket and t.stage == stage]
        if promotion is not None:
            budgets.append(promotion.get("from_budget"))
        budgets.append(planned_budget(records, bracket, stage))
        spans.append({"bracket": bracket, "stage": stage, "begin": begin - start, "end": end - start,
                      "budget": next((b for b in budgets if b is not None), None),
                      "jump": bool(promotion and promotion.get("kind") in ("jump", "async_jump")),
                      "trial_ends": [x - start for x in trial_ends]})
    return spans


def plot_timeline(records: Records) -> str:
    plt = _pyplot()
    spans = stage_spans(records)
    brackets = sorted({s["bracket"] for s in spans})
    no_jump = {b.get("bracket") for b in records.brackets if b.get("no_jump")}
    figure, axes = plt.subplots(figsize=(9, 0.5 * max(len(brackets), 2) + 1.2))
    colors = plt.get_cmap("viridis")
    stages = max([s["stage"] for s in spans] + [1])
    R = records.full_budget

    def shade(span: dict) -> float:
        """Colour by budget (log scale, R = brightest); by stage when the budget is unknown."""
        if span["budget"] and R and R > 1:
            return math.log(span["budget"]) / math.log(R)
        return span["stage"] / stages

    total = max([s["end"] for s in spans] + [1.0])
    for span in spans:
        y = brackets.index(span["bracket"])
        width = max(span["end"] - span["begin"], 0.2)
        axes.broken_barh([(span["begin"], width)], (y - 0.35, 0.7), facecolors=colors(shade(span)),
                         edgecolor="tab:red" if span["jump"] else "black", linewidth=2 if span["jump"] else 0.5,
                         hatch="//" if span["jump"] else None)
        axes.plot(span["trial_ends"], [y] * len(span["trial_ends"]), "|", color="black", markersize=8)
        if span["budget"] is not None and width >= 0.05 * total:   # narrow spans: labels would overlap
            axes.text(span["begin"] + width / 2, y - 0.42, f"budget {format_budget(span['budget'])}",
                      ha="center", va="bottom", fontsize=7)
    axes.set_yticks(range(len(brackets)))
    axes.set_yticklabels([f"bracket {b}" + (" (no-jump)" if b in no_jump else "") for b in brackets])
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the experiment started")
    axes.set_title("Brackets and stages (colour: budget; red hatched: left by a jump; |: a trial ended)", pad=14)
    data = _png_base64(figure)
    plt.close(figure)
    return data


def plot_schedule(records: Records) -> tuple[str, str]:
    """(title, base64 PNG) of the view that fits the mode."""
    if not records.is_async:
        return "Bracket and stage timeline", plot_timeline(records)
    plt = _pyplot()
    figure = plot_ladder(records, plt)
    data = _png_base64(figure)
    plt.close(figure)
    return "Configurations up the rungs", data


def top_of_page(records: Records) -> str:
    """The halt, the counts and the changed classArgs, in HTML."""
    parts = []
    if records.halt is not None:
        parts.append('<div class="halt"><b>The experiment ended in error.</b><pre>'
                     f"{html.escape(records.halt)}</pre></div>")
    if records.refusal is None:
        parts.append(f"<p><b>{html.escape(counts_line(records))}</b></p>")
    changed = class_args_changed(records)
    if changed:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(json.dumps(v))}</td>"
                       f"<td>{html.escape(json.dumps(d))}</td></tr>" for k, (v, d) in changed.items())
        parts.append("<table><tr><th>classArg</th><th>value</th><th>default</th></tr>" + rows + "</table>")
    elif records.header:
        parts.append("<p>classArgs: all defaults</p>")
    diagnostics = diagnostics_lines(records.diagnostics)
    if diagnostics:
        parts.append(f"<h2>{html.escape(diagnostics[0].rstrip(':'))}</h2><pre>"
                     f"{html.escape(chr(10).join(diagnostics[1:]))}</pre>")
    return "\n".join(parts)


def html_page(records: Records) -> str:
    header = records.header or {}
    title = f"HyperJump results: {records.folder.parent.name}"
    subtitle = (f"R={format_budget(header.get('R'))}, eta={header.get('eta')}, exec_mode "
                f"{'async' if records.is_async else (header.get('class_args') or {}).get('exec_mode')}"
                if header else "no audit header")
    schedule_title, schedule = plot_schedule(records)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1150px}} pre{{font-size:12px;background:#f6f6f6;padding:1em;
overflow-x:auto}} .halt{{border:2px solid #c00;background:#fee;padding:0 1em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}} img{{max-width:100%}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(subtitle)}; records from <code>{html.escape(str(records.folder))}</code></p>
{top_of_page(records)}
<h2>Incumbent against time</h2>
<img alt="incumbent against time" src="data:image/png;base64,{plot_incumbent(records)}">
<h2>{html.escape(schedule_title)}</h2>
<img alt="{html.escape(schedule_title.lower())}" src="data:image/png;base64,{schedule}">
<h2>Report</h2>
<pre>{html.escape(text_report(records))}</pre>
</body></html>
"""


def write_html(records: Records, path: Path, page: Optional[str] = None) -> None:
    Path(path).write_text(page if page is not None else html_page(records), encoding="utf-8")
