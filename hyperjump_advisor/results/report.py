"""What the records say, as text, CSV and JSON: why it stopped, every trial, the best at full budget, the
brackets or rungs, every promotion, jump and stop."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any, Optional, Sequence

from ..records import TRIAL_COLUMNS
from .diagnostics import diagnostics_lines
from .moves import RULE_NAMES, Move
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


def plural(n: int, noun: str, nouns: Optional[str] = None) -> str:
    """'1 jump', '2 jumps', '0 jumps'."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


CONFIG_IDS = ["config = the advisor's number for one hyperparameter configuration, the same at every budget;",
              "a trial is one configuration at one budget; param = its NNI parameter id."]


def trial_fate(t: TrialRecord, async_mode: bool) -> str:
    if async_mode and t.killed and not t.late_kill:
        return "killed by a rung stop"
    return t.fate


def trial_lines(records: Records) -> list[str]:
    async_mode = records.is_async
    where = (lambda t: str(t.stage)) if async_mode else (lambda t: f"{t.bracket}/{t.stage}")  # noqa: E731
    rows = [[t.trial_job_id or "(unknown)", str(t.parameter_id), str(t.config_id), where(t),
             format_budget(t.budget), format_metric(t.metric), t.status, trial_fate(t, async_mode),
             format_parameters(t.parameters)] for t in records.trials]
    header = ["trial", "param", "config", "rung" if async_mode else "bracket/stage", "budget", "metric", "status",
              "advisor", "configuration"]
    title = f"Trials ({len(rows)}, in the order they ended):"
    return [title] + [f"  {line}" for line in CONFIG_IDS] + (format_table(header, rows) if rows else ["  none yet"])


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
                     f"{plural(len(ids), 'configuration')} {format_ids(ids)}{mark}")
    return lines


def rung_lines(records: Records) -> list[str]:
    """exec_mode async: the shared rungs, what each saw and what left it."""
    rows = [[str(r.index), format_budget(r.budget), str(r.results), str(r.failed), str(r.killed), str(r.late_kills),
             str(r.promoted_out), str(r.jumped_out), str(r.skipped_by_jumps), str(r.discarded_by_stops)]
            for r in records.rungs]
    header = ["rung", "budget", "results", "failed", "killed", "late kills", "promoted", "jumped out",
              "skipped by jumps", "discarded by stops"]
    return ([f"Rungs ({len(rows)}; asynchronous Hyperband: every configuration starts at one rung and moves up "
             "as soon as it ranks in the top 1/eta there):"] + (format_table(header, rows) if rows else ["  none"]))


def _since(records: Records, time: Any) -> str:
    start = records.start_time or 0.0
    return f"{time - start:7.1f} s" if isinstance(time, (int, float)) else "      ? s"


def async_move_line(records: Records, m: Move) -> str:
    when = _since(records, m.time)
    if m.kind == "stop":
        budgets = records.rung_budgets
        budget = m.from_budget if m.from_budget is not None else (
            budgets[m.stage] if isinstance(m.stage, int) and 0 <= m.stage < len(budgets) else None)
        return (f"  {when}  STOP      rung {m.stage} (budget {format_budget(budget)}): discarded "
                f"{plural(len(m.discarded), 'config')} {format_ids(m.discarded)}, rEAR {format_rears(m.rear)}, "
                f"threshold {m.threshold}")
    moves = (f"config {format_ids(m.kept)[1:-1]}: rung {m.stage} -> {m.to_stage} "
             f"(budget {format_budget(m.from_budget)} -> {format_budget(m.to_budget)})")
    rule = RULE_NAMES.get(m.rule, m.rule)
    if m.kind == "promotion":
        return f"  {when}  promotion {moves}, {rule}"
    skipped = ", ".join(f"budget {format_budget(b)} at rEAR {format_rears([r])}" for b, r in zip(m.skipped_budgets,
                                                                                                m.rear)) or "-"
    rejected = "" if m.rejected_rear is None else f"; the next rung's rEAR {format_rears([m.rejected_rear])} was over"
    return (f"  {when}  JUMP      {moves}: skipped {skipped} (sum {format_rears([sum(m.rear)])} <= threshold "
            f"{m.threshold}){rejected}; let out by {rule}")


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


def counts_line(records: Records) -> str:
    c = records.counts
    if records.is_async:
        return (f"{plural(c['promotions'], 'promotion')} ({c['promotions_asha']} by ASHA's top 1/eta, "
                f"{plural(c['promotions_challenger'], 'challenger')}), {plural(c['jumps'], 'jump')} past rungs, "
                f"{plural(c['stops'], 'rung stop')} ({plural(c['discarded_by_stops'], 'configuration')} discarded)")
    return (f"{plural(c['promotions_successive_halving'], 'successive-halving promotion')}, "
            f"{plural(c['jumps'], 'jump')}")


def promotion_lines(records: Records) -> list[str]:
    title = "Promotions, jumps and stops" if records.is_async else "Promotions and jumps"
    lines = [f"{title} ({counts_line(records)}):"]
    if records.is_async:
        lines += [async_move_line(records, m) for m in records.moves] or ["  none yet"]
    else:
        lines += [promotion_line(p) for p in records.promotions
                  if p.get("kind") in ("successive_halving", "jump")] or ["  none yet"]
    quiet = records.of_kind("no_jump")
    if quiet:
        lines.append(f"  ({plural(len(quiet), 'sampled risk evaluation')} did not jump; see --json)")
    return lines


def incumbent_lines(records: Records) -> list[str]:
    start = records.start_time or 0.0
    lines = [f"Incumbents at the full budget ({len(records.incumbents)}):"]
    for e in records.incumbents:
        lines.append(f"  after {(e.get('time') or start) - start:.1f} s: config {e.get('config_id')} "
                     f"(parameter id {e.get('parameter_id')}): metric {format_metric(e.get('metric'))}")
    return lines


def class_args_changed(records: Records) -> dict[str, tuple[Any, Any]]:
    """classArg -> (value, default) for the values that differ from the defaults."""
    from ..settings import Settings

    defaults = Settings()
    given = (records.header or {}).get("class_args") or {}
    return {k: (v, getattr(defaults, k)) for k, v in given.items()
            if hasattr(defaults, k) and v != getattr(defaults, k)}


def title_lines(records: Records) -> list[str]:
    header = records.header or {}
    lines = []
    if records.halt is not None:
        lines += ["THE EXPERIMENT ENDED IN ERROR:"] + [f"  {line}" for line in records.halt.splitlines()] + [""]
    lines.append(f"HyperJump records in {records.folder}")
    if not header:
        return lines
    mode = "async" if records.is_async else (header.get("class_args") or {}).get("exec_mode", "synchronous")
    lines.append(f"R={format_budget(header.get('R'))}, eta={header.get('eta')}, exec_mode {mode}")
    changed = class_args_changed(records)
    if changed:
        rows = [[k, json.dumps(v), json.dumps(d)] for k, (v, d) in changed.items()]
        lines += ["classArgs that differ from the defaults:"] + ["  " + x for x in format_table(
            ["classArg", "value", "default"], rows)]
    else:
        lines.append("classArgs: all defaults")
    return lines


def text_report(records: Records) -> str:
    sections = [title_lines(records)]
    if records.refusal is None:
        sections += [[f"Summary: {counts_line(records)}."], best_lines(records), trial_lines(records),
                     rung_lines(records) if records.is_async else bracket_lines(records),
                     promotion_lines(records), incumbent_lines(records)]
    sections.append(diagnostics_lines(records.diagnostics))
    notes = [w for w in records.warnings if records.halt is None or records.halt.splitlines()[0] not in w]
    if notes:   # the halt is already at the top
        sections.append(["Notes:"] + [f"  {w}" for w in notes])
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


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
        "halt": records.halt,
        "header": records.header,
        "exec_mode": "async" if records.is_async else ((records.header or {}).get("class_args") or {}).get(
            "exec_mode"),
        "class_args_changed": {k: {"value": v, "default": d} for k, (v, d) in class_args_changed(records).items()},
        "full_budget": records.full_budget,
        "best_at_full_budget": None if best is None else asdict(best),
        "counts": records.counts,
        "trials": [asdict(t) for t in records.trials],
        "rungs": [asdict(r) for r in records.rungs] if records.is_async else [],
        "brackets": records.brackets,
        "moves": [m.as_dict() for m in records.moves],
        "promotions": records.promotions,
        "no_jump": records.of_kind("no_jump"),
        "incumbents": records.incumbents,
        "workload_diagnostics": records.diagnostics,
        "warnings": records.warnings,
    }


MOVE_COLUMNS = ("time", "kind", "rule", "bracket", "stage", "to_stage", "from_budget", "to_budget", "kept",
                "discarded", "rear", "skipped_budgets", "rejected_rear", "threshold", "finishes_bracket")


def moves_csv(records: Records) -> str:
    """One row per promotion, jump and stop (lists as JSON)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MOVE_COLUMNS)
    for m in records.moves:
        row = m.as_dict()
        writer.writerow([json.dumps(row[c]) if isinstance(row[c], list) else ("" if row[c] is None else row[c])
                         for c in MOVE_COLUMNS])
    return out.getvalue()


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
