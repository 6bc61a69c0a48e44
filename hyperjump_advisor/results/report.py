"""What the records say, as text, CSV and JSON: every trial, the best at full budget, brackets, promotions."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any, Optional, Sequence

from ..records import TRIAL_COLUMNS
from .reading import Records, TrialRecord


# ---------------------------------------------------------------------------
# What the records say
# ---------------------------------------------------------------------------

def maximizing(records: Records) -> bool:
    class_args = (records.header or {}).get("class_args") or {}
    return str(class_args.get("optimize_mode", "maximize")).lower() != "minimize"


def best_at_full_budget(records: Records) -> Optional[TrialRecord]:
    """The best DONE trial at the full budget R, by the advisor's loss (the metric when there is no loss)."""
    R = records.full_budget
    if R is None:
        return None
    candidates = [t for t in records.trials if t.status == "DONE" and t.budget >= R - 1e-9
                  and (t.loss is not None or t.metric is not None)]
    if not candidates:
        return None
    sign = -1.0 if maximizing(records) else 1.0

    def badness(t: TrialRecord) -> float:
        return t.loss if t.loss is not None else sign * (t.metric or 0.0)

    return min(candidates, key=badness)


def format_budget(budget: Any) -> str:
    if isinstance(budget, (int, float)) and float(budget).is_integer():
        return str(int(budget))
    return str(budget)


def format_metric(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.6g}"


def format_parameters(parameters: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in parameters.items())


def format_ids(ids: Optional[Sequence[Any]]) -> str:
    return "[" + ", ".join(str(i) for i in (ids or [])) + "]"


def format_rears(values: Optional[Sequence[Any]]) -> str:
    return ", ".join(f"{v:.3g}" if isinstance(v, (int, float)) else str(v) for v in (values or [])) or "-"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def trial_lines(records: Records) -> list[str]:
    rows = [[t.trial_job_id or "(unknown)", str(t.parameter_id), str(t.config_id), f"{t.bracket}/{t.stage}",
             format_budget(t.budget), format_metric(t.metric), t.status, t.fate, format_parameters(t.parameters)]
            for t in records.trials]
    header = ["trial", "param", "config", "bracket/stage", "budget", "metric", "status", "advisor", "configuration"]
    return [f"Trials ({len(rows)}, in the order they ended):"] + (format_table(header, rows) if rows else ["  none yet"])


def best_lines(records: Records) -> list[str]:
    R = records.full_budget
    best = best_at_full_budget(records)
    if best is None:
        return [f"Best configuration at the full budget R={format_budget(R)}: none yet "
                "(no trial at the full budget has a result)."]
    return [f"Best configuration at the full budget R={format_budget(R)}: metric {format_metric(best.metric)} "
            f"(config {best.config_id}, trial {best.trial_job_id}, parameter id {best.parameter_id})",
            f"  {format_parameters(best.parameters)}"]


def bracket_lines(records: Records) -> list[str]:
    lines = [f"Brackets ({len(records.brackets)}):"]
    for b in records.brackets:
        mark = "  [no-jump: plain successive halving]" if b.get("no_jump") else ""
        ids = b.get("config_ids") or []
        lines.append(f"  bracket {b.get('bracket')} (iteration {b.get('iteration')}, s={b.get('s')}): "
                     f"{len(ids)} configurations {format_ids(ids)}{mark}")
    return lines


def promotion_line(p: dict) -> str:
    if p.get("finishes_bracket"):
        moves = (f"bracket {p.get('bracket')}: stage {p.get('stage')} -> end of bracket "
                 f"(from budget {format_budget(p.get('from_budget'))}; no larger budget is trained)")
    else:
        moves = (f"bracket {p.get('bracket')}: stage {p.get('stage')} -> stage {p.get('to_stage')} "
                 f"(budget {format_budget(p.get('from_budget'))} -> {format_budget(p.get('to_budget'))})")
    kept = f"kept {format_ids(p.get('kept_config_ids'))}, discarded {format_ids(p.get('discarded_config_ids'))}"
    if p.get("kind") != "jump":
        return f"  promotion {moves}: {kept}"
    rejected = p.get("rejected_rear")
    rejected_text = "" if rejected is None else f", next hop rejected at rEAR {format_rears([rejected])}"
    return (f"  JUMP      {moves}: rEAR per hop {format_rears(p.get('rear_per_hop'))}{rejected_text}, "
            f"threshold {p.get('threshold')}; {kept}")


def promotion_lines(records: Records) -> list[str]:
    promotions = records.promotions
    lines = [f"Promotions and jumps ({len(promotions) - len(records.jumps)} successive-halving promotions, "
             f"{len(records.jumps)} jumps):"]
    lines += [promotion_line(p) for p in promotions] or ["  none yet"]
    quiet = records.of_kind("no_jump")
    if quiet:
        lines.append(f"  ({len(quiet)} sampled risk evaluations did not jump; see --json)")
    return lines


def incumbent_lines(records: Records) -> list[str]:
    start = records.start_time or 0.0
    lines = [f"Incumbents at the full budget ({len(records.incumbents)}):"]
    for e in records.incumbents:
        lines.append(f"  after {(e.get('time') or start) - start:.1f} s: config {e.get('config_id')} "
                     f"(parameter id {e.get('parameter_id')}): metric {format_metric(e.get('metric'))}")
    return lines


def text_report(records: Records) -> str:
    header = records.header or {}
    title = f"HyperJump records in {records.folder}"
    if header:
        title += f"\nR={format_budget(header.get('R'))}, eta={header.get('eta')}, classArgs {header.get('class_args')}"
    sections = [[title], trial_lines(records), best_lines(records), bracket_lines(records),
                promotion_lines(records), incumbent_lines(records)]
    if records.warnings:
        sections.append(["Notes:"] + [f"  {w}" for w in records.warnings])
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def trials_csv(records: Records) -> str:
    """The trials (one row per parameter id, the last one written) in the advisor's CSV format."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS)
    for t in records.trials:
        row = asdict(t)
        row.update(jumped=int(t.jumped), killed=int(t.killed), parameters=json.dumps(t.parameters),
                   metric="" if t.metric is None else t.metric, loss="" if t.loss is None else t.loss)
        writer.writerow([row[c] for c in TRIAL_COLUMNS])
    return out.getvalue()


def records_json(records: Records) -> dict:
    best = best_at_full_budget(records)
    return {
        "folder": str(records.folder),
        "header": records.header,
        "full_budget": records.full_budget,
        "best_at_full_budget": None if best is None else asdict(best),
        "trials": [asdict(t) for t in records.trials],
        "brackets": records.brackets,
        "promotions": records.promotions,
        "no_jump": records.of_kind("no_jump"),
        "incumbents": records.incumbents,
        "warnings": records.warnings,
    }


# ---------------------------------------------------------------------------
# Sizing: one Hyperband iteration
# ---------------------------------------------------------------------------

def plan_text(R: int, eta: int) -> str:
    """One Hyperband iteration's brackets for (R, eta) and its trial count (to size maxTrialNumber)."""
    from ..schedule import iteration_plan

    plan = iteration_plan(R, eta)
    total = sum(stage.n for bracket in plan for stage in bracket)
    lines = [f"One Hyperband iteration for R={R}, eta={eta}: {total} trials in {len(plan)} brackets"]
    for bracket in plan:
        stages = ", ".join(f"{stage.n} x {stage.budget}" for stage in bracket)
        lines.append(f"  s={len(bracket) - 1}: {stages}   ({sum(stage.n for stage in bracket)} trials)")
    lines.append(f"maxTrialNumber >= {total} lets the whole iteration run; the first bracket alone needs "
                 f"{sum(stage.n for stage in plan[0])} trials before it reaches the full budget.")
    return "\n".join(lines) + "\n"
