"""The markdown of a suite of replay cells (``benchmarks/run_bench.py``): SUMMARY.md (per cell: the ranking,
the verdict of :mod:`.verdict`, the calibration of the jumps; on top, every cell's verdict line and the mean
rank over time averaged over the cells), the README table and chunks.md (wall time per chunk).

``documents`` maps (table, workers) to a results document (:mod:`.report`); ``folder(table, workers)`` names
the cell's folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from .calibration import calibration_markdown
from .measures import REFERENCE, TARGETS, by_advisor, comparison, summarize
from .render import CALIBRATION_PLOT, _t, median_cell, ratio_cell
from .statistics import average_over_cells
from .verdict import VERDICT_TARGETS, cell_verdict, holm_note, interval_cell, summary_line, verdict_markdown

Cells = dict[tuple[str, int], dict]


def cell_label(folder: str) -> str:
    return folder.rsplit("-w", 1)[0]


def _ckpt_seconds(document: dict) -> dict[str, tuple]:
    """advisor -> (mean advisor s/run with checkpointing on, n, mean with it off, n)."""
    out = {}
    for name, runs in by_advisor(document).items():
        on = [r["advisor_seconds"] for r in runs if r.get("checkpoint")]
        off = [r["advisor_seconds"] for r in runs if not r.get("checkpoint")]
        out[name] = (sum(on) / len(on) if on else None, len(on), sum(off) / len(off) if off else None, len(off))
    return out


def mean_rank_lines(verdicts: dict[tuple[str, int], dict]) -> list[str]:
    """Mean rank over time averaged over the cells (each advisor over the cells it ran in)."""
    averaged = average_over_cells([v["ranks"] for v in verdicts.values() if v["ranks"]])
    if not averaged:
        return []
    lines = ["| advisor | mean rank over time, averaged over cells | cells |", "|---|---|---|"]
    for name, (rank, cells) in sorted(averaged.items(), key=lambda item: item[1][0]):
        lines.append(f"| {name} | {rank:.2f} | {cells} |")
    return lines


def summary_markdown(documents: Cells, folder: Callable[[str, int], str], out: Optional[Path] = None) -> str:
    verdicts = {key: cell_verdict(document) for key, document in documents.items()}
    lines = ["# Replay benchmark summary", "",
             "Normalised regret = (incumbent - optimum) / (worst - optimum) at the maximum budget. Times are "
             "simulated seconds: the median over ALL seeds, a seed that never reached the target counting as "
             "infinite (`never` when at least half did not), with reached/total beside it. Advisors are ranked by "
             "median time to 10%, then 1%, then 0.1% regret. Best peer = best-ranked advisor that is neither "
             "hyperjump nor one of its ablations. Ratio = other's median / hyperjump's (> 1: hyperjump faster). "
             "Verdict: one-sided Mann-Whitney U of each peer against hyperjump (p < 0.05, no correction for the "
             "number of peers), bootstrap 95% intervals of the ratios, mean rank over time (see each cell). "
             "Accounting rules and details: each folder's report.md.", "",
             "## Verdicts", ""]
    for (table, workers), verdict in verdicts.items():
        lines.append(f"- {table}, {workers} worker(s): {summary_line(verdict)}"
                     + (f"; hyperjump's mean rank {verdict['ranks'][REFERENCE]:.2f} of {len(verdict['ranks'])}"
                        if REFERENCE in verdict["ranks"] else ""))
    ranks = mean_rank_lines(verdicts)
    if ranks:
        lines += ["", "## Mean rank over time, averaged over the cells", ""] + ranks
    lines.append("")
    for (table, workers), document in documents.items():
        lines += _cell_section(table, workers, document, verdicts[(table, workers)], folder(table, workers), out)
    return "\n".join(lines)


def _cell_section(table: str, workers: int, document: dict, verdict: dict, name: str, out: Optional[Path]) -> list:
    summary = summarize(document)
    comp = comparison(summary)
    ckpt = _ckpt_seconds(document)
    lines = [f"## {table}, {workers} worker(s) ([report]({name}/report.md))", "",
             "| rank | advisor | " + " | ".join(f"to {t * 100:g}%" for t in TARGETS) +
             " | final regret (median) | trials | missing configs/run | ms/decision (median / p95) | "
             "advisor s/run: ckpt on (n) / off (n) |",
             "|---|---|" + "---|" * len(TARGETS) + "---|---|---|---|---|"]
    for rank, (advisor, s) in enumerate(summary.items(), start=1):
        cells = [median_cell(s["targets"][t], s["seeds"]) for t in TARGETS]
        ms = "—" if s["decision_ms_median"] is None else \
            f"{s['decision_ms_median']:.2f} / {s['decision_ms_p95']:.2f}"
        on, n_on, off, n_off = ckpt[advisor]
        cpu = f"{'—' if on is None else f'{on:.2f}'} ({n_on}) / {'—' if off is None else f'{off:.2f}'} ({n_off})"
        lines.append(f"| {rank} | {advisor} | " + " | ".join(cells) + f" | {s['final_median']:.4f} | "
                     f"{s['trials']:.0f} | {s['missing_config_proposals']:.1f} | {ms} | {cpu} |")
    oracle = document.get("oracle", {})
    lines.append("| | *oracle* | " + " | ".join(_t(oracle.get(str(t))) for t in TARGETS) + " | | | | | |")
    if comp["reference"]:
        peer = comp["best_peer"]
        lines += ["", f"hyperjump vs best peer **{peer}** and hyperband: " + "; ".join(
            f"to {t * 100:g}%: " + (f"{ratio_cell(comp['targets'][t]['peer_ratio'], peer)} vs {peer}"
                             if comp["targets"][t]["peer"] else "—")
            + (f", {ratio_cell(comp['targets'][t]['hyperband_ratio'], 'hyperband')} vs hyperband"
               if comp["targets"][t]["hyperband"] else "")
            for t in TARGETS)]
    lines += [""] + verdict_markdown(verdict, heading="###")
    errors = {n: len(s["errors"]) for n, s in summary.items() if s["errors"]}
    if errors:
        lines += ["", "Errors: " + ", ".join(f"{n} {k} run(s)" for n, k in errors.items()) + " (see report.md)"]
    lines += ["", f"![{name}]({name}/regret.png)", ""]
    calibration = calibration_markdown(document, heading="###")
    if calibration:
        lines += calibration
        if out is None or (out / name / CALIBRATION_PLOT).is_file():
            lines += [f"![{name} calibration]({name}/{CALIBRATION_PLOT})", ""]
    return lines


def readme_table(documents: Cells, folder: Callable[[str, int], str]) -> str:
    """The README's table: hyperjump against the peers, per cell, with the verdict's figures."""
    lines = ["| table | W | HyperJump to 10% / 1% | mean rank (of N) | best peer | peer to 10% / 1% | "
             "ratio to 10% [95% CI] | ratio to 1% [95% CI] | significantly faster (p < 0.05) | "
             "vs hyperband 10% / 1% |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = {}
    for (table, workers), document in documents.items():
        summary = summarize(document)
        comp = comparison(summary)
        if not comp["reference"]:
            continue
        verdict = verdicts[(table, workers)] = cell_verdict(document)
        n = lambda name: summary[name]["seeds"] if name in summary else 0  # noqa: E731
        peer = comp["best_peer"]
        pair = lambda name: " / ".join(median_cell(summary[name]["targets"][t], n(name))  # noqa: E731
                                       for t in VERDICT_TARGETS)
        ranks = verdict["ranks"]
        rank = f"{ranks[REFERENCE]:.2f} ({len(ranks)})" if REFERENCE in ranks else "—"
        intervals = [interval_cell(verdict["targets"][t]["rows"][peer]) if peer else "—" for t in VERDICT_TARGETS]
        faster = "; ".join(f"to {t * 100:g}%: " + ", ".join(verdict["targets"][t]["faster"])
                           for t in VERDICT_TARGETS if verdict["targets"][t]["faster"]) or "none"
        if faster != "none":
            faster += f" ({holm_note(verdict)})"
        vs_hb = " / ".join(ratio_cell(comp["targets"][t]["hyperband_ratio"], "hyperband")
                           if comp["targets"][t]["hyperband"] else "—" for t in VERDICT_TARGETS)
        lines.append(f"| {cell_label(folder(table, workers))} | {workers} | {pair(REFERENCE)} | {rank} | "
                     f"{peer or '—'} | {pair(peer) if peer else '—'} | {intervals[0]} | {intervals[1]} | "
                     f"{faster} | {vs_hb} |")
    lines += ["", "Simulated seconds, median over all seeds (a seed that never reached the target counts as "
              "infinite; reached/total in brackets). Mean rank: HyperJump's rank by median normalised regret at 20 "
              "log-spaced times up to the time limit, ties averaged, over N advisors (1 = best). Best peer = the "
              "best-ranked advisor by median time to 10%, then 1%, that is neither HyperJump nor one of its "
              "ablations; ratio = its median / HyperJump's (> 1: HyperJump faster) with a bootstrap 95% interval. "
              "Significantly faster: peers whose one-sided Mann-Whitney U p-value against HyperJump is below 0.05 "
              "(no correction for the number of peers; in brackets, what remains after Holm's correction over them)."]
    ranks = mean_rank_lines(verdicts)
    if ranks:
        lines += ["", "Mean rank over time, averaged over the cells:", ""] + ranks
    return "\n".join(lines) + "\n"


def chunks_markdown(walls: dict[tuple[str, int], dict]) -> str:
    """``walls``: (table, workers) -> advisor -> (wall seconds, CPU seconds or None)."""
    names = sorted({a for w in walls.values() for a in w})
    lines = ["# Chunk times (seconds, wall / CPU; one chunk = one advisor, all its seeds, one process)", "",
             "CPU = the chunk process's and its peer subprocesses' CPU time: the figure to plan a budget with on a "
             "shared machine (wall time depends on the load).", "",
             "| table | W | " + " | ".join(names) + " | total wall / CPU |",
             "|---|---|" + "---|" * (len(names) + 1)]
    grand_wall = grand_cpu = 0.0
    for (table, workers), w in walls.items():
        wall = sum(v[0] or 0 for v in w.values())
        cpu = sum(v[1] or 0 for v in w.values())
        grand_wall, grand_cpu = grand_wall + wall, grand_cpu + cpu
        lines.append(f"| {table} | {workers} | " + " | ".join(_pair(w.get(n)) for n in names)
                     + f" | {wall:.0f} / {cpu:.0f} |")
    lines += ["", f"Sum of chunk times: {grand_wall:.0f} s wall, {grand_cpu:.0f} s CPU (divide by --jobs, at most "
              "the number of cores, for the wall time of an unloaded machine)."]
    return "\n".join(lines) + "\n"


def _pair(value) -> str:
    if value is None or value[0] is None:
        return "—"
    wall, cpu = value
    return f"{wall:.0f} / {'—' if cpu is None else f'{cpu:.0f}'}"
