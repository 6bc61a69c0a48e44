"""Finding and reading the advisor's own records (``hyperjump-trials.csv``, ``hyperjump-audit.jsonl``).

Both files may be partly written (a running experiment): a truncated last line is ignored and said so;
the last row of a parameter id wins (a late result may revise it).
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..records import AUDIT_FILE, TRIAL_COLUMNS, TRIALS_FILE
from .failures import dispatcher_refusal
from .moves import Move, Rung, move_counts, moves_of, rungs_of

AUDIT_EVENTS = ("header", "bracket", "promotion", "no_jump", "incumbent", "resume", "restart", "halted",
                "async_jump_risk", "workload_diagnostics")


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
    late_kill: bool = False   # killed by the advisor, but it finished first: its result is real (DONE)

    @property
    def fate(self) -> str:
        """What the advisor did to it, if anything (synchronous wording; see report.trial_fate)."""
        if self.late_kill:
            return "completed after a late kill"
        return "killed by a jump" if self.killed else "jumped over" if self.jumped else ""


@dataclass
class Records:
    folder: Path
    trials: list[TrialRecord] = field(default_factory=list)
    header: Optional[dict] = None
    events: list[dict] = field(default_factory=list)   # every audit line but the header, in order
    warnings: list[str] = field(default_factory=list)
    refusal: Optional[str] = None   # the advisor refused to start (dispatcher.log): no records at all
    moves: list[Move] = field(default_factory=list)       # every promotion, jump and stop (moves.py)

    def of_kind(self, event: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == event]

    @property
    def brackets(self) -> list[dict]:
        return self.of_kind("bracket")

    @property
    def promotions(self) -> list[dict]:
        return self.of_kind("promotion")

    @property
    def jumps(self) -> list[Move]:
        return [m for m in self.moves if m.kind == "jump"]

    @property
    def stops(self) -> list[Move]:
        return [m for m in self.moves if m.kind == "stop"]

    @property
    def counts(self) -> dict[str, int]:
        return move_counts(self.moves)

    @property
    def is_async(self) -> bool:
        class_args = (self.header or {}).get("class_args") or {}
        if "exec_mode" in class_args:
            return class_args["exec_mode"] == "async"
        return any(m.rule in ("asha", "challenger", "rung_stop") for m in self.moves) or not self.brackets

    @property
    def rung_budgets(self) -> list:
        """The async rungs' budgets: the header's one plan (async), or the budgets trials ran at."""
        plan = (self.header or {}).get("plan") or []
        if len(plan) == 1:
            return [stage[1] for stage in plan[0]]
        return sorted({t.budget for t in self.trials})

    @property
    def rungs(self) -> list[Rung]:
        return rungs_of(self.rung_budgets, self.trials, self.moves)

    @property
    def halt(self) -> Optional[str]:
        """Why the experiment stopped in error: the advisor's halt, or its refusal to start."""
        halted = self.of_kind("halted")
        if halted:
            return str(halted[-1].get("reason") or "the advisor halted the experiment (no reason recorded)")
        return self.refusal

    @property
    def diagnostics(self) -> Optional[dict]:
        """The last workload diagnostics event, if the engine wrote any."""
        found = self.of_kind("workload_diagnostics")
        return found[-1] if found else None

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
    metric, killed = _optional_float(row["metric"]), _flag(row["killed"])
    late_kill = killed and metric is not None   # our kill came after its end: the trial ran to completion
    return TrialRecord(
        parameter_id=int(row["parameter_id"]), trial_job_id=row["trial_job_id"] or "",
        config_id=int(row["config_id"]), bracket=int(row["bracket"]), stage=int(row["stage"]),
        budget=float(row["budget"]), status="DONE" if late_kill else row["status"].strip().upper(),
        metric=metric, loss=_optional_float(row["loss"]),
        jumped=_flag(row["jumped"]) and not late_kill, killed=killed, time=float(row["time"]),
        parameters=parameters, late_kill=late_kill)


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
        records.refusal = dispatcher_refusal(_read_text(folder / "dispatcher.log") or "")
        if records.refusal is not None:
            records.warnings.append(f"the advisor did not start: {records.refusal}")
            return records
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
    records.moves, notes = moves_of(records.events, plan_budgets(records))
    records.warnings += notes
    if records.halt is not None:
        records.warnings.insert(0, f"the experiment ended in error: {records.halt.splitlines()[0]}")
    return records


def plan_budgets(records: Records) -> dict:
    """Bracket id -> its stages' budgets (synchronous modes), from the header's plan and the bracket events."""
    plan = (records.header or {}).get("plan") or []
    budgets = {}
    for b in records.brackets:
        s = b.get("s")
        if isinstance(s, int) and 0 <= len(plan) - 1 - s < len(plan):
            budgets[b.get("bracket")] = [stage[1] for stage in plan[len(plan) - 1 - s]]
    return budgets
