"""report.md of a replay: the accounting rules, the ranking table, hyperjump against the best peer
and hyperband, the verdict (p-values, intervals, mean ranks: :mod:`.verdict`), speed-ups, search and advisor cost, the calibration of the jumps (:mod:`.calibration`)
and notes (definitions: :mod:`.measures`).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

from .calibration import calibration_markdown
from .measures import REFERENCE, TARGETS, comparison, speedups, summarize
from .verdict import cell_verdict, verdict_markdown

CALIBRATION_PLOT = "calibration.png"


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
    if comp["reference"]:
        lines += [""] + verdict_markdown(cell_verdict(document))
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
    calibration = calibration_markdown(document)
    if calibration:
        lines += [""] + calibration
        lines += [f"![{p}]({p})" for p in plots if p == CALIBRATION_PLOT]
    notes = _notes(summary)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    others = [p for p in plots if p != CALIBRATION_PLOT or not calibration]
    if others:
        lines += [""] + [f"![{p}]({p})" for p in others]
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
