"""The verdict of one replay cell (one table and worker count): for each target regret (10%, 1%), each
advisor's median time with reached/seeds, the one-sided Mann-Whitney p-value of "faster than HyperJump"
and a bootstrap 95% interval of its median ratio to HyperJump; every advisor's mean rank over time; and
the line a reader wants: "no peer significantly faster" or the peers that are. The statistics are in
:mod:`.statistics`; this module applies them to a results document (:mod:`.report`) and renders them.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from . import statistics
from .measures import REFERENCE, by_advisor, is_ours, ratio, regret_curve, summarize

VERDICT_TARGETS = (0.1, 0.01)


def rank_grid(document: dict) -> Optional[np.ndarray]:
    """20 log-spaced times from the earliest first incumbent of any run to the time limit (None: no incumbent)."""
    firsts = [r["incumbent"][0][0] for r in document["runs"] if r.get("incumbent")]
    limit = document.get("time_limit")
    if not firsts or limit is None or not math.isfinite(limit):
        limit = max((r.get("end_time", 0.0) for r in document["runs"]), default=0.0)
    first = max(min(firsts), limit * 1e-6) if firsts else 0.0
    if not firsts or not 0 < first <= limit:
        return None
    return statistics.log_time_grid(first, limit)


def cell_mean_ranks(document: dict) -> dict[str, float]:
    """advisor -> mean rank over the grid of :func:`rank_grid` by median normalised regret ({} without one)."""
    grid = rank_grid(document)
    if grid is None:
        return {}
    medians = {name: np.median([regret_curve(r, document, grid) for r in runs], axis=0)
               for name, runs in by_advisor(document).items()}
    return statistics.mean_ranks(medians)


def cell_verdict(document: dict, reference: str = REFERENCE, seed: int = 0) -> dict[str, Any]:
    """{"reference", "ranks", "targets": {t: {"rows": {advisor: row}, "faster": [peer, ...]}}}; a row holds
    median, reached, seeds and, for the other advisors, p (one-sided, faster than the reference), ratio
    (median / the reference's median) and interval (bootstrap 95%, None when undefined)."""
    summary = summarize(document)
    out: dict[str, Any] = {"reference": reference if reference in summary else None,
                           "ranks": cell_mean_ranks(document), "targets": {}}
    for target in VERDICT_TARGETS:
        rows: dict[str, dict] = {}
        mine = summary[reference]["targets"][target]["times"] if reference in summary else None
        for name, s in summary.items():
            x = s["targets"][target]
            row: dict[str, Any] = {"median": x["median"], "reached": x["reached"], "seeds": s["seeds"]}
            if mine is not None and name != reference:
                row["p"] = statistics.one_sided_mann_whitney(x["times"], mine)
                row["ratio"] = ratio(x["median"], float(np.median(mine)))
                row["interval"] = statistics.bootstrap_median_ratio(x["times"], mine, seed=seed)
            rows[name] = row
        peers = {n: r["p"] for n, r in rows.items() if "p" in r and not is_ours(n)}
        out["targets"][target] = {"rows": rows, "faster": statistics.significantly_faster(peers),
                                  "faster_holm": statistics.holm_faster(peers), "peers": len(peers)}
    return out


# ---- rendering -----------------------------------------------------------------------------------------
def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "never"
    return f"{value / 3600:.1f} h" if value >= 10_000 else f"{value:,.0f} s"


def _x(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    return "∞" if math.isinf(value) else f"{value:.2f}"


def interval_cell(row: dict) -> str:
    """``0.97x [0.80, 1.20]``: the ratio of medians and its bootstrap 95% interval."""
    point = "undefined (neither reached)" if row.get("ratio") is None else f"{_x(row['ratio'])}x"
    interval = row.get("interval")
    return point + (f" [{_x(interval[0])}, {_x(interval[1])}]" if interval else " [—]")


def p_cell(p: Optional[float]) -> str:
    if p is None:
        return "—"
    text = f"{p:.3f}" if p >= 0.001 else "<0.001"
    return f"**{text}**" if p < statistics.SIGNIFICANCE else text


def summary_line(verdict: dict) -> str:
    """"no peer significantly faster" or, per target, the peers that are (with their p-values)."""
    if verdict["reference"] is None:
        return f"no {REFERENCE} run in this cell: no verdict"
    parts = []
    for target, t in verdict["targets"].items():
        if t["faster"]:
            parts.append(f"to {target * 100:g}%: " + ", ".join(f"{n} (p={t['rows'][n]['p']:.3f})" for n in t["faster"]))
    if not parts:
        return "no peer significantly faster (one-sided Mann-Whitney U, p < 0.05, to 10% and to 1%)"
    return "significantly faster than hyperjump (p < 0.05): " + "; ".join(parts) + f" ({holm_note(verdict)})"


def holm_note(verdict: dict) -> str:
    """What survives Holm's correction for the number of peers, per target ("none" when nothing does)."""
    kept = [f"to {target * 100:g}%: " + ", ".join(t["faster_holm"])
            for target, t in verdict["targets"].items() if t.get("faster_holm")]
    peers = max((t.get("peers", 0) for t in verdict["targets"].values()), default=0)
    return f"after Holm's correction over {peers} peers: " + ("; ".join(kept) if kept else "none")


def verdict_markdown(verdict: dict, heading: str = "##") -> list[str]:
    targets = list(verdict["targets"])
    lines = [f"{heading} Verdict against {REFERENCE}", "",
             f"**{summary_line(verdict)}**", "",
             "Per target: median time over all seeds (unreached = infinite) with reached/seeds; p = one-sided "
             f"Mann-Whitney U p-value of \"this advisor is faster than {REFERENCE}\" (bold below 0.05; no "
             "correction for the number of advisors; the verdict line adds what survives Holm's); ratio = its "
             "median / hyperjump's (> 1: hyperjump faster) "
             "with a bootstrap 95% interval (2,000 resamples of each advisor's seeds, seeded). Mean rank = rank by "
             "median normalised regret at 20 log-spaced times from the first incumbent of any run to the time "
             "limit, ties averaged, averaged over the times (1 = best).", "",
             "| advisor | mean rank | " + " | ".join(f"to {t * 100:g}%: median (reached) | p | ratio [95% CI]"
                                                    for t in targets) + " |",
             "|---|---|" + "---|---|---|" * len(targets)]
    ranks = verdict["ranks"]
    names = sorted(verdict["targets"][targets[0]]["rows"], key=lambda n: ranks.get(n, math.inf))
    for name in names:
        cells = []
        for t in targets:
            row = verdict["targets"][t]["rows"][name]
            median = f"{_seconds(row['median'])} ({row['reached']}/{row['seeds']})"
            if name == verdict["reference"]:
                cells.append(f"{median} | — | —")
            else:
                cells.append(f"{median} | {p_cell(row.get('p'))} | {interval_cell(row)}")
        rank = f"{ranks[name]:.2f}" if name in ranks else "—"
        lines.append(f"| {name} | {rank} | " + " | ".join(cells) + " |")
    return lines
