"""Reading an experiment's outcome robustly; the ``hyperjump-results`` command.

NNI's trial list can show a trial job with another job's parameters (NNI issue
5726), but every metric carries the parameter id it was produced with. So the
best result is found from the FINAL metrics and joined to the parameters by
parameter id, never by trial job (:func:`experiment_best`).

``hyperjump-results EXPERIMENT_ID`` (or ``python -m hyperjump_advisor.results``)
goes further and reads the advisor's own records in the experiment's log folder
(beside ``dispatcher.log``), so issue 5726 cannot mislead it:

* ``hyperjump-trials.csv``: one row per trial that reached a final state
  (the last row of a parameter id wins: a late result may revise it);
* ``hyperjump-audit.jsonl``: a header (classArgs, R, eta, the plan), then one
  JSON object per bracket, promotion, jump, sampled non-jump and new incumbent.

It prints every trial, the best configuration at the full budget R, the brackets,
and every promotion and jump; ``--csv``/``--json`` for machines, ``--html FILE``
for a page with plots. Both files may be partly written (a running experiment):
a truncated last line is ignored. ``--plan R ETA`` prints one Hyperband
iteration's brackets and trial count (to size ``maxTrialNumber``).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from .metrics import metric_value
from .records import AUDIT_FILE, TRIAL_COLUMNS, TRIALS_FILE

AUDIT_EVENTS = ("header", "bracket", "promotion", "no_jump", "incumbent", "resume", "restart")


# ---------------------------------------------------------------------------
# From NNI's REST data (used by the demo): join metrics to parameters by parameter id
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    parameter_id: int
    trial_job_id: str
    metric: float
    parameters: dict


def _parameter_id(value: Any) -> Optional[int]:
    """NNI's REST API gives metric parameter ids as strings ('7'), trial-job ones as ints."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parameters_by_id(trial_jobs: Iterable[Any]) -> dict[int, dict]:
    """parameter_id -> parameters, from ``Experiment.list_trial_jobs()``."""
    table: dict[int, dict] = {}
    for job in trial_jobs:
        for hp in job.hyperParameters or []:
            parameter_id = _parameter_id(hp.parameter_id)
            if parameter_id is not None:
                table[parameter_id] = hp.parameters
    return table


def final_results(metrics_by_job: dict[str, list], trial_jobs: Iterable[Any]) -> list[Result]:
    """Every usable FINAL metric with the parameters that produced it."""
    params = parameters_by_id(trial_jobs)
    results = []
    for job_id, metrics in metrics_by_job.items():
        for m in metrics:
            value = metric_value(m.data) if m.type == "FINAL" else None
            parameter_id = _parameter_id(m.parameterId)
            if value is not None and parameter_id in params:
                results.append(Result(parameter_id, job_id, value, params[parameter_id]))
    return results


def best_result(results: list[Result], maximize: bool) -> Optional[Result]:
    """The best result at the largest budget any result reached (a short-budget score is not comparable)."""
    if not results:
        return None
    top_budget = max(r.parameters.get("TRIAL_BUDGET", 0) for r in results)
    at_top = [r for r in results if r.parameters.get("TRIAL_BUDGET", 0) == top_budget]
    return (max if maximize else min)(at_top, key=lambda r: r.metric)


def experiment_best(experiment, maximize: bool) -> Optional[Result]:
    """Best result of a running or finished ``nni.experiment.Experiment``."""
    return best_result(final_results(experiment.get_job_metrics(), experiment.list_trial_jobs()), maximize)


# ---------------------------------------------------------------------------
# Finding the advisor's records
# ---------------------------------------------------------------------------

class RecordsError(Exception):
    """The command cannot show anything; the message says why and what to do."""


def default_experiment_roots() -> list[Path]:
    """Folders that may hold ``<experiment id>/log``: NNI's experiment list first, then ``~/nni-experiments``."""
    home = Path.home() / "nni-experiments"
    roots = []
    manifest = home / ".experiment"
    try:
        experiments = json.loads(manifest.read_text(encoding="utf-8"))
        roots += [Path(e["logDir"]).expanduser() for e in experiments.values() if e.get("logDir")]
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    roots.append(home)
    unique = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def _looks_like_log_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (TRIALS_FILE, AUDIT_FILE, "dispatcher.log"))


def log_folder_of(path: Path) -> Optional[Path]:
    """``path`` if it is a log folder, ``path/log`` if it is an experiment folder, else None."""
    if _looks_like_log_folder(path):
        return path
    if _looks_like_log_folder(path / "log"):
        return path / "log"
    return None


def find_log_folder(experiment_id: Optional[str] = None, directory: Optional[str] = None,
                    roots: Optional[Sequence[Path]] = None) -> Path:
    """The log folder of an experiment, from ``--dir`` or its id; RecordsError lists where it looked."""
    if directory is not None:
        path = Path(directory).expanduser()
        folder = log_folder_of(path)
        if folder is None:
            raise RecordsError(f"{path} is neither an NNI experiment folder nor its log folder "
                               f"(no {TRIALS_FILE}, {AUDIT_FILE} or dispatcher.log in it or in its log/).")
        return folder
    if not experiment_id:
        raise RecordsError("Give an experiment id (as shown by `nnictl experiment list`) or --dir PATH.")
    candidates = [root / experiment_id for root in (roots if roots is not None else default_experiment_roots())]
    for candidate in candidates:
        folder = log_folder_of(candidate)
        if folder is not None:
            return folder
    looked = "\n".join(f"  {c / 'log'}" for c in candidates)
    raise RecordsError(f"Unknown experiment '{experiment_id}': no log folder found. Looked in:\n{looked}\n"
                       "If the experiment set experimentWorkingDirectory, pass "
                       "--dir <experimentWorkingDirectory>/<id>.")


# ---------------------------------------------------------------------------
# Reading the records (tolerant of a file being written right now)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TrialRecord:
    parameter_id: int
    trial_job_id: str
    config_id: int
    bracket: int
    stage: int
    budget: float
    status: str
    metric: Optional[float]
    loss: Optional[float]
    jumped: bool
    killed: bool
    time: float
    parameters: dict

    @property
    def fate(self) -> str:
        """What the advisor did to it, if anything."""
        return "killed by a jump" if self.killed else "jumped over" if self.jumped else ""


@dataclass
class Records:
    folder: Path
    trials: list[TrialRecord] = field(default_factory=list)
    header: Optional[dict] = None
    events: list[dict] = field(default_factory=list)   # every audit line but the header, in order
    warnings: list[str] = field(default_factory=list)

    def of_kind(self, event: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == event]

    @property
    def brackets(self) -> list[dict]:
        return self.of_kind("bracket")

    @property
    def promotions(self) -> list[dict]:
        return self.of_kind("promotion")

    @property
    def jumps(self) -> list[dict]:
        return [p for p in self.promotions if p.get("kind") == "jump"]

    @property
    def incumbents(self) -> list[dict]:
        return self.of_kind("incumbent")

    @property
    def full_budget(self) -> Optional[float]:
        """R from the header; without a header, the largest budget of a trial (may be less than R)."""
        if self.header and self.header.get("R") is not None:
            return float(self.header["R"])
        return max((t.budget for t in self.trials), default=None)

    @property
    def start_time(self) -> Optional[float]:
        times = [self.header.get("time")] if self.header else []
        times += [e.get("time") for e in self.events] + [t.time for t in self.trials]
        return min((t for t in times if isinstance(t, (int, float))), default=None)


def complete_lines(text: str) -> tuple[list[str], bool]:
    """The lines of ``text`` that were written completely, and whether a partial last line was dropped."""
    lines = text.split("\n")
    partial = lines.pop()          # "" when the text ends with a newline
    return [line for line in lines if line.strip()], bool(partial.strip())


def _optional_float(text: str) -> Optional[float]:
    if text is None or str(text).strip() == "":
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _flag(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes")


def trial_from_row(row: dict) -> TrialRecord:
    """One CSV row as a TrialRecord (ValueError if a field is malformed)."""
    parameters = json.loads(row["parameters"]) if (row.get("parameters") or "").strip() else {}
    if not isinstance(parameters, dict):
        raise ValueError("parameters is not a JSON object")
    return TrialRecord(
        parameter_id=int(row["parameter_id"]), trial_job_id=row["trial_job_id"] or "",
        config_id=int(row["config_id"]), bracket=int(row["bracket"]), stage=int(row["stage"]),
        budget=float(row["budget"]), status=row["status"].strip().upper(),
        metric=_optional_float(row["metric"]), loss=_optional_float(row["loss"]),
        jumped=_flag(row["jumped"]), killed=_flag(row["killed"]), time=float(row["time"]),
        parameters=parameters)


def last_row_per_parameter_id(trials: Iterable[TrialRecord]) -> list[TrialRecord]:
    """A late result may revise a trial: the last row of each parameter id wins (order of first appearance)."""
    latest: dict[int, TrialRecord] = {}
    for trial in trials:
        latest.pop(trial.parameter_id, None)   # re-insert so that the order is that of the final rows
        latest[trial.parameter_id] = trial
    return sorted(latest.values(), key=lambda t: (t.time, t.parameter_id))


def parse_trials_csv(text: str) -> tuple[list[TrialRecord], list[str]]:
    """Trial records from the CSV text (last row per parameter id wins), and warnings."""
    lines, truncated = complete_lines(text)
    warnings = ["the last line of the trials file is incomplete (being written?): ignored"] if truncated else []
    if not lines:
        return [], warnings
    reader = csv.DictReader(io.StringIO("\n".join(lines) + "\n"))
    missing = [c for c in TRIAL_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], warnings + [f"the trials file lacks the columns {', '.join(missing)}: not read"]
    trials = []
    for number, row in enumerate(reader, start=2):
        try:
            trials.append(trial_from_row(row))
        except (KeyError, TypeError, ValueError) as error:
            warnings.append(f"trials file line {number} skipped: {error}")
    return last_row_per_parameter_id(trials), warnings


def parse_audit_jsonl(text: str) -> tuple[Optional[dict], list[dict], list[str]]:
    """(header, other events in order, warnings) from the audit text."""
    lines, truncated = complete_lines(text)
    warnings = ["the last line of the audit file is incomplete (being written?): ignored"] if truncated else []
    header, events = None, []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            warnings.append(f"audit line {number} is not JSON: skipped")
            continue
        if not isinstance(record, dict):
            warnings.append(f"audit line {number} is not a JSON object: skipped")
        elif record.get("event") == "header":
            header = header or record
        else:
            events.append(record)
    return header, events, warnings


def _read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def load_records(folder: Path) -> Records:
    """Both record files of a log folder; RecordsError if neither holds HyperJump records."""
    records = Records(folder=folder)
    trials_text = _read_text(folder / TRIALS_FILE)
    audit_text = _read_text(folder / AUDIT_FILE)
    if trials_text is not None:
        records.trials, warnings = parse_trials_csv(trials_text)
        records.warnings += warnings
    if audit_text is not None:
        records.header, records.events, warnings = parse_audit_jsonl(audit_text)
        records.warnings += warnings
    if trials_text is None and records.header is None:
        if audit_text is not None:
            why = (f"{AUDIT_FILE} has no header line and there is no {TRIALS_FILE}: it was written by an older "
                   "version of the HyperJump advisor, which kept no per-trial records")
        else:
            why = (f"neither {TRIALS_FILE} nor {AUDIT_FILE} is there: the experiment did not use the HyperJump "
                   "advisor, used an older version, or has not started yet")
        raise RecordsError(f"No HyperJump records in {folder}: {why}.")
    if trials_text is None:
        records.warnings.append(f"no {TRIALS_FILE} yet: no trial has finished")
    if records.header is None:
        records.warnings.append(f"no header in {AUDIT_FILE}: R is taken as the largest budget of a trial")
    return records


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
    from .schedule import iteration_plan

    plan = iteration_plan(R, eta)
    total = sum(stage.n for bracket in plan for stage in bracket)
    lines = [f"One Hyperband iteration for R={R}, eta={eta}: {total} trials in {len(plan)} brackets"]
    for bracket in plan:
        stages = ", ".join(f"{stage.n} x {stage.budget}" for stage in bracket)
        lines.append(f"  s={len(bracket) - 1}: {stages}   ({sum(stage.n for stage in bracket)} trials)")
    lines.append(f"maxTrialNumber >= {total} lets the whole iteration run; the first bracket alone needs "
                 f"{sum(stage.n for stage in plan[0])} trials before it reaches the full budget.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hyperjump-results",
        description="Show what the HyperJump advisor did in an NNI experiment: every trial with its true "
                    "configuration, the best configuration at the full budget, the brackets, every promotion "
                    "and jump. Reads the advisor's own records (hyperjump-trials.csv, hyperjump-audit.jsonl "
                    "beside dispatcher.log); works while the experiment runs.")
    parser.add_argument("experiment_id", nargs="?", help="NNI experiment id (nnictl experiment list)")
    parser.add_argument("--dir", help="an experiment folder or its log folder (instead of an id)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="the trials as CSV")
    output.add_argument("--json", action="store_true", help="everything as JSON")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with plots")
    parser.add_argument("--plan", nargs=2, type=int, metavar=("R", "ETA"),
                        help="print one Hyperband iteration for (R, eta) and its trial count, then exit")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.plan:
        R, eta = args.plan
        if R < 1 or eta < 2:
            print("hyperjump-results: --plan needs R >= 1 and ETA >= 2", file=sys.stderr)
            return 2
        sys.stdout.write(plan_text(R, eta))
        return 0
    try:
        records = load_records(find_log_folder(args.experiment_id, args.dir))
    except RecordsError as error:
        print(f"hyperjump-results: {error}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.write(trials_csv(records))
    elif args.json:
        sys.stdout.write(json.dumps(records_json(records), indent=2) + "\n")
    else:
        sys.stdout.write(text_report(records))
    if args.html:
        from .results_html import write_html
        write_html(records, Path(args.html))
        print(f"wrote {args.html}", file=sys.stderr if (args.csv or args.json) else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
