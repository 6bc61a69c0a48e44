"""A hypothesis state machine that plays NNI 3.0's manager against HyperJump, with faults.

The machine holds a fake NNI manager: it keeps the trials the advisor issued (NewTrialJob
payloads), starts each as a trial job with an id, and its rules decide what happens next
(successes, failures, cancels, kill acknowledgements, duplicate and late FINALs, NNI issue 5726
swaps, web-UI customized trials, odd metrics, malformed payloads, search-space updates, IMPORT_DATA,
a failing disk, ``nnictl resume`` at any step, and a power cut that takes the journal's last lines
before one). Every command goes through
``HyperJump.process_command`` as NNI's dispatcher thread would call it. Like NNI 3.0's manager it never
sends a Ping (``tuner_command_channel.js`` drops them); time passes through the advisor's own clock:
the ``clock_tick`` rule advances the fake clock and processes the TICK the clock thread would enqueue.

Invariants (design notes, section 4; issue "Nothing a trial, a user, NNI or the disk does may end,
stall or corrupt an experiment"). Each violation has a *kind* (the campaign counts them):

1. ``exception``: a handler raised out of ``process_command`` (NNI's dispatcher would die and the
   experiment turn ERROR or hang). Also ``reported_error``: the advisor sent an Error command.
2. ``stall``: the manager has outstanding requests (credit), no job is alive and the advisor issued
   nothing, even after ``STALL_NUDGES`` ticks of the advisor's clock with the fake clock advanced
   ``NUDGE_SECONDS`` each, or longer when runs were long: the stall guard waits ``LOST_FACTOR`` times the
   longest run it expects at a budget (the manager sends nothing then: it asks only when trials end).
   ``orphaned_wait``: at such an idle moment (every job ended, so the advisor *can* know no job
   runs anything), a stage of an open bracket (async: a rung) still holds a RUNNING slot, after the nudges.
   Time: the fake clock replaces the ``time`` module (``time()``, ``monotonic()``,
   ``perf_counter()``) in every ``hyperjump_advisor.*`` module that imported it as ``time``, and
   functions of those names imported from ``time``; a grace period the advisor bases on them
   expires during the nudges. Nothing else in the machine depends on time.
3. ``final_misused``: a FINAL carrying parameter id p changed another parameter's record
   (``final_seen``, observations) or was observed twice. ``end_misattributed``: a TrialEnd closed a
   parameter its job did not run although the advisor could know (the job reported metrics, or
   NNI's hyper_params named no parameter of the advisor: a web-UI customized trial, or no 5726
   swap happened in the sequence). Guesses about silent jobs after a 5726 swap are counted as
   ``ambiguous_attribution`` (information only, not a failure).
4. ``bad_promotion``: in a bracket that never jumped, stage k+1 holds other configurations than
   the best n_{k+1} DONE ones of stage k (synchronous modes; ``exec_mode`` async has no brackets, and its
   promotions are checked against hand-computed ones in test_async_schedule.py).
5. ``restart_changed_brackets``: after ``nnictl resume`` the brackets and stages (async: the rungs)
   differ from those before (checked when the last state write succeeded and no power cut took journal lines);
   ``parameter_id_reused``: a NewTrialJob reuses a parameter id sent before (in any advisor
   lifetime, power cuts included).
6. ``bad_kill``: a KillTrialJob names a job the advisor never issued (web-UI trial, unknown id),
   or one that has ended.
Also ``issued_without_request``: more NewTrialJobs than the manager asked for.

Strict mode (``ProtocolMachine.STRICT = True``, the pytest profile) fails at the first violation,
so hypothesis shrinks and prints a minimal sequence. Soft mode (the campaign) records each kind
once per sequence in ``self.violations`` and goes on; an exception ends the sequence (NNI's
dispatcher thread would be dead).
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import sys
import tempfile
import time as _real_time
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Optional
from unittest import mock

import nni
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor import id_block, journal
from hyperjump_advisor.clock import TICK
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.schedule import Slot, SlotStatus

EXEC_MODES = ["serial", "parallelism", "async"]   # drawn per sequence (fuzz_protocol.py --exec-modes narrows it)
STALL_NUDGES = 3        # ticks of the advisor's own clock before a stall is declared (NNI sends nothing)
NUDGE_SECONDS = 3600.0  # fake clock advance before each of those ticks

SPACES = {
    2: {"x": {"_type": "uniform", "_value": [0.0, 1.0]},
        "opt": {"_type": "choice", "_value": ["sgd", "adam"]}},
    3: {"x": {"_type": "uniform", "_value": [0.0, 1.0]},
        "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
        "n": {"_type": "randint", "_value": [1, 5]}},
}
SPACE_UPDATES = {
    "same": None,  # the current space again
    "wider": {"x": {"_type": "uniform", "_value": [0.0, 2.0]}},
    "extra": {"y": {"_type": "choice", "_value": [1, 2, 3]}},
    "invalid_low_gt_high": {"x": {"_type": "uniform", "_value": [1.0, 0.0]}},
}
WEIRD_METRICS = {
    "1e200": 1e200, "1e308": 1e308, "-1e308": -1e308, "int_10_400": 10 ** 400, "nan_str": "nan",
    "nan": float("nan"), "inf": float("inf"), "string": "accuracy", "dict_no_default": {"loss": 1},
    "dict_default_str": {"default": "x"}, "dict_ok": {"default": 0.5, "loss": 3}, "list": [0.5],
    "none": None, "bool": True,
}
MALFORMED = {
    "request_none": (C.RequestTrialJobs, None),
    "request_abc": (C.RequestTrialJobs, "abc"),
    "request_negative": (C.RequestTrialJobs, -2),
    "metric_list": (C.ReportMetricData, [1, 2]),
    "metric_str": (C.ReportMetricData, "FINAL"),
    "metric_none": (C.ReportMetricData, None),
    "metric_list_job": (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": ["a"], "type": "FINAL",
                                             "sequence": 0, "value": "0.5"}),
    "metric_dict_job": (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": {"a": 1}, "type": "PERIODICAL",
                                             "sequence": 0, "value": "0.5"}),
    "metric_no_keys": (C.ReportMetricData, {}),
    "metric_bad_type": (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": "zz", "type": 7, "value": "1"}),
    "metric_value_not_json": (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": "zz", "type": "FINAL",
                                                   "sequence": 0, "value": "{oops"}),
    "end_list": (C.TrialEnd, ["job", "FAILED"]),
    "end_str": (C.TrialEnd, "FAILED"),
    "end_none": (C.TrialEnd, None),
    "end_list_job": (C.TrialEnd, {"trial_job_id": ["x"], "event": "FAILED", "hyper_params": "{}"}),
    "end_dict_job": (C.TrialEnd, {"trial_job_id": {"x": 1}, "event": "FAILED", "hyper_params": "{}"}),
    "end_bad_hyper_params": (C.TrialEnd, {"trial_job_id": "ghost", "event": "FAILED", "hyper_params": "{oops"}),
    "customized_not_json": (C.AddCustomizedTrialJob, "{not json"),
    "customized_list_not_json": (C.AddCustomizedTrialJob, ["{not json", 3]),
    "customized_int": (C.AddCustomizedTrialJob, 42),
    "import_not_list": (C.ImportData, "rows"),
    "import_none": (C.ImportData, None),
    "update_space_none": (C.UpdateSearchSpace, None),
    "update_space_list": (C.UpdateSearchSpace, [1, 2]),
}
IMPORT_ROWS = {
    "valid": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": 1}, "value": "0.7"},
    "budget_R": lambda R: {"parameter": {"x": 0.6, "opt": "adam", "TRIAL_BUDGET": R}, "value": 0.9},
    "budget_negative": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": -3}, "value": "0.7"},
    "budget_above_R": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": 10 * R}, "value": "0.7"},
    "budget_inf": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": float("inf")}, "value": "0.7"},
    "budget_nan": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": float("nan")}, "value": "0.7"},
    "value_inf": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": 1}, "value": float("inf")},
    "value_huge_int": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": 1}, "value": 10 ** 400},
    "missing_value": lambda R: {"parameter": {"x": 0.3, "opt": "sgd", "TRIAL_BUDGET": 1}},
    "missing_parameter": lambda R: {"value": "0.7"},
    "missing_budget": lambda R: {"parameter": {"x": 0.3, "opt": "sgd"}, "value": "0.7"},
    "not_in_space": lambda R: {"parameter": {"x": 7.0, "zzz": 1, "TRIAL_BUDGET": 1}, "value": "0.7"},
    "not_a_dict": lambda R: "row",
}
_FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
EVENTS_NOT_OK = ["FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"]


class Violation(AssertionError):
    def __init__(self, kind: str, message: str):
        super().__init__(f"[{kind}] {message}")
        self.kind = kind


class SequenceOver(Exception):
    """Soft mode: the advisor raised, NNI's dispatcher would be dead; nothing more to play."""


# ---- a clock the advisor sees instead of time --------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def module(self) -> types.SimpleNamespace:
        ns = types.SimpleNamespace(**{k: getattr(_real_time, k) for k in dir(_real_time) if not k.startswith("__")})
        ns.time = ns.monotonic = ns.perf_counter = lambda: self.now
        ns.time_ns = ns.monotonic_ns = lambda: int(self.now * 1e9)
        return ns

    def patches(self) -> list:
        fake = self.module()
        patches = []
        for name, mod in list(sys.modules.items()):
            if not name.startswith("hyperjump_advisor") or mod is None:
                continue
            for attr, value in list(vars(mod).items()):
                if value is _real_time:
                    patches.append(mock.patch.object(mod, attr, fake))
                elif any(value is f for f in (_real_time.time, _real_time.monotonic, _real_time.perf_counter)):
                    patches.append(mock.patch.object(mod, attr, getattr(fake, value.__name__)))
        return patches


# ---- the fake NNI manager ------------------------------------------------------------------------------
@dataclass
class Job:
    job_id: str
    announced: dict           # the payload NNI started it with (TrialEnd's hyper_params)
    run_pid: Optional[int]    # the parameter id its metrics carry (None: a web-UI trial)
    issued: bool = True       # started for a NewTrialJob (False: web UI)
    alive: bool = True
    spoke: bool = False       # reported a metric
    finals: list = field(default_factory=list)
    swapped: bool = False     # part of a 5726 swap
    runs: Optional[dict] = None  # the payload whose parameters it trains, when not ``announced`` (a 5726 swap)

    @property
    def budget(self) -> int:
        """The TRIAL_BUDGET it trains (after a 5726 swap, that of the parameters it runs, not of ``announced``)."""
        return int((self.runs or self.announced).get("parameters", {}).get("TRIAL_BUDGET", 1))


def reference_metric(value: Any) -> Optional[float]:
    """What a trial's metric is worth (the machine's own reading, independent of the advisor):
    a finite int/float, alone or under "default"; anything else (bool, str, NaN, inf, 10**400) is none."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict):
        value = value.get("default")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _loss_of(advisor, value: Any) -> Optional[float]:
    v = reference_metric(value)
    return None if v is None else (-v if advisor.settings.optimize_mode == "maximize" else v)


def _guard(function):
    """A rule whose command made the advisor raise: soft mode ends the sequence quietly."""
    @functools.wraps(function)
    def wrapper(self, *args, **kwargs):
        try:
            return function(self, *args, **kwargs)
        except SequenceOver:
            return None
    return wrapper


class ProtocolMachine(RuleBasedStateMachine):
    STRICT = True
    CONTINUE_AFTER_EXCEPTION = False  # soft mode: count the exception, treat the command as lost, play on
    stats: Optional[dict] = None  # the campaign sets a dict: counts accumulated over sequences

    def __init__(self) -> None:
        super().__init__()
        self.advisor = None
        self.alive = True
        self.tainted = False       # an exception was tolerated: later violations may follow from it
        self.violations: list[tuple[str, str]] = []
        self.commands = 0
        self.info: dict[str, int] = {}
        self.folder = tempfile.mkdtemp(prefix="hj-fuzz-", dir=_FAST_TMP)  # fsync per command: tmpfs if any
        self.clock = FakeClock()
        self.disk_broken = 0       # commands whose state write fails
        self.cut = ""              # the power cut before the next restart, if any
        self.dirty = False         # the last state write failed
        self._patches = self.clock.patches()
        real_snapshot, real_append = journal.write_atomically, journal.Journal._append

        def snapshot(path, data):
            if self.disk_broken > 0:
                raise OSError(28, "No space left on device (fuzz)", path)
            return real_snapshot(path, data)

        def append(journal_self, engine):
            if self.disk_broken > 0:
                raise OSError(28, "No space left on device (fuzz)", journal_self.journal_path)
            return real_append(journal_self, engine)

        self._patches.append(mock.patch.object(journal, "write_atomically", snapshot))
        self._patches.append(mock.patch.object(id_block, "write_atomically", snapshot))  # id blocks: same disk
        self._patches.append(mock.patch.object(journal.Journal, "_append", append))
        for p in self._patches:
            p.start()
        self.jobs: dict[str, Job] = {}
        self.issued_pids: set[int] = set()
        self.outstanding = 0
        self.killed: list[str] = []
        self.cursor = 0
        self.n_jobs = 0
        self.any_swap = False
        self.log: list[str] = []

    # ---- bookkeeping ----------------------------------------------------------------------------------
    def violation(self, kind: str, message: str) -> None:
        if self.STRICT:
            raise Violation(kind, message + "\nlast commands:\n  " + "\n  ".join(self.log[-12:]))
        if self.tainted and not kind.startswith("exception"):
            kind += " [after an exception]"
        if kind not in {k for k, _ in self.violations}:
            self.violations.append((kind, message))

    def note(self, kind: str) -> None:
        self.info[kind] = self.info.get(kind, 0) + 1

    def teardown(self) -> None:
        for p in reversed(self._patches):
            p.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.stats is not None:
            s = self.stats
            s["sequences"] = s.get("sequences", 0) + 1
            s["commands"] = s.get("commands", 0) + self.commands
            failed = bool(self.violations)
            s["failed_sequences"] = s.get("failed_sequences", 0) + failed
            for kind, message in self.violations:
                s.setdefault("kinds", {}).setdefault(kind, []).append(message)
            for kind, n in self.info.items():
                s.setdefault("info", {})[kind] = s.setdefault("info", {}).get(kind, 0) + n

    def live_jobs(self, *, issued_only: bool = False, silent_only: bool = False) -> list[Job]:
        return [j for j in self.jobs.values() if j.alive and (j.issued or not issued_only)
                and (not j.spoke or not silent_only)]

    def pick(self, jobs: list[Job], i: int) -> Job:
        return jobs[i % len(jobs)]

    @property
    def engine(self):
        return self.advisor.engine

    # ---- one command -----------------------------------------------------------------------------------
    def send(self, command, data, label: str = "") -> None:
        """process_command as NNI's dispatcher thread calls it; checks invariants 1, 3 and 6 around it."""
        if not self.alive:
            raise SequenceOver()
        self.commands += 1
        self.log.append(f"{_name(command)} {label or _short(data)}")
        if self.disk_broken > 0:
            self.log[-1] += "  (disk full)"
        before = self._snapshot()
        raised = None
        try:
            self.advisor.process_command(command, data)
        except Exception:
            raised = traceback.format_exc()
        if self.disk_broken > 0:
            self.disk_broken -= 1
            self.dirty = True  # a tick writes too when the stall guard acted: counted as failed, to be safe
        elif command != TICK:
            self.dirty = False
        self._read_sent(errors_expected=raised is not None)
        if raised is not None:
            kind = f"exception:{_name(command)}:{_last_exception_type(raised)}"
            self.violation(kind, f"process_command({_name(command)}, {_short(data)!s}) raised "
                           f"{raised.strip().splitlines()[-1]}\n{raised}"
                           + "\nlast commands:\n  " + "\n  ".join(self.log[-12:]))
            if not self.CONTINUE_AFTER_EXCEPTION:
                self.alive = False
                raise SequenceOver()
            self.tainted = True
        return before

    def _snapshot(self) -> dict:
        e = self.engine
        return {"trials": {p: (t.final_seen, t.ended) for p, t in e.ledger.trials.items()},
                "n_obs": len(e.evidence.observations)}

    def _read_sent(self, errors_expected: bool = False) -> None:
        sent = self.advisor.sent
        while self.cursor < len(sent):
            s = sent[self.cursor]
            self.cursor += 1
            if s.name == "NewTrialJob":
                self._new_job(s.data)
            elif s.name == "KillTrialJob":
                job = self.jobs.get(s.data) if isinstance(s.data, str) else None
                if job is None or not job.issued:
                    self.violation("bad_kill", f"KillTrialJob {s.data!r} names no job the advisor issued")
                elif not job.alive:
                    self.violation("bad_kill", f"KillTrialJob {s.data!r} names a job that ended")
                else:
                    self.killed.append(job.job_id)
                self.log.append(f"  <- KillTrialJob {s.data}")
            elif s.name == "Error" and self.engine.failures.halted:
                # max_consecutive_failures trials in a row gave no result: the advisor ends the experiment on
                # purpose, naming the first failure (test_reliability.py checks the message); NNI stops it
                self.note("halted_after_failures")
                self.alive = False
            elif s.name == "Error" and not errors_expected:
                self.violation("reported_error", f"the advisor reported an error: {str(s.data)[:2000]}")
            elif s.name == "NoMoreTrialJobs":
                self.note("no_more_trial_jobs")

    def _new_job(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("parameter_id"), int):
            self.violation("bad_payload", f"NewTrialJob payload {payload!r}")
            return
        pid = payload["parameter_id"]
        if pid in self.issued_pids:
            self.violation("parameter_id_reused", f"NewTrialJob reuses parameter id {pid}")
        self.issued_pids.add(pid)
        if self.outstanding <= 0:
            self.violation("issued_without_request", f"NewTrialJob {pid} without an outstanding request")
        self.outstanding = max(0, self.outstanding - 1)
        job_id = f"J{self.n_jobs}"
        self.n_jobs += 1
        self.jobs[job_id] = Job(job_id, payload, pid)
        self.log.append(f"  <- NewTrialJob pid={pid} budget={payload['parameters'].get('TRIAL_BUDGET')} as {job_id}")

    # ---- messages of a job ---------------------------------------------------------------------------
    def metric(self, job: Job, value: Any, kind: str = "FINAL", raw: bool = False) -> None:
        data = metric_message(job.run_pid, job.job_id, value, kind)
        if raw:
            data["value"] = value
        job.spoke = True
        before = self.send(C.ReportMetricData, data, f"{kind} {job.job_id} pid={job.run_pid} {_short(value)}")
        if kind == "FINAL":
            job.finals.append(value)
            self._check_final(job, value, before)

    def end(self, job: Job, event: str, request_after: bool = False) -> None:
        job.alive = False
        before = self.send(C.TrialEnd, trial_end_message(job.job_id, event, job.announced),
                           f"{job.job_id} {event} (hyper_params pid={job.announced.get('parameter_id')})")
        self._check_end(job, before)
        if request_after:
            self.request(1)

    def request(self, n: int) -> None:
        self.outstanding += n
        self.send(C.RequestTrialJobs, n)

    # ---- invariant 3 around one message --------------------------------------------------------------
    def _check_final(self, job: Job, value: Any, before: dict) -> None:
        e = self.engine
        p = job.run_pid
        changed = [q for q, t in e.ledger.trials.items()
                   if t.final_seen and not before["trials"].get(q, (False, False))[0]]
        if any(q != p for q in changed):
            self.violation("final_misused", f"FINAL of pid {p} (job {job.job_id}) set final_seen of {changed}")
        new_obs = e.evidence.observations[before["n_obs"]:]
        trial = e.ledger.trials.get(p) if isinstance(p, int) else None
        if trial is None:
            stray = isinstance(p, int) and p in self.issued_pids and len(new_obs) == 1 and \
                new_obs[0][1] == job.budget  # ours, issued in journal lines a power cut took: a model observation
            if new_obs and not stray:
                self.violation("final_misused", f"FINAL of unknown pid {p!r} added observations {new_obs}")
            elif stray:
                self.note("lost_line_result_observed")
            return
        seen_before = before["trials"].get(p, (False, False))[0]
        if seen_before and new_obs:
            self.violation("final_misused", f"a second FINAL of pid {p} added observations {new_obs}")
        expected = (trial.slot.config_id, trial.slot.budget)
        wrong = [o for o in new_obs if o[:2] != expected]
        if wrong or len(new_obs) > 1:
            self.violation("final_misused", f"FINAL of pid {p} {value!r} added {new_obs}, expected one of {expected}")
        loss = _loss_of(self.advisor, value)
        if new_obs and loss is None:
            self.violation("final_misused", f"FINAL of pid {p} {value!r} is no finite number, observed as {new_obs}")
        elif new_obs and not math.isclose(new_obs[0][2], loss, rel_tol=1e-9, abs_tol=1e-12):
            self.violation("final_misused", f"FINAL of pid {p} {value!r} observed as {new_obs[0][2]} not {loss}")

    def _check_end(self, job: Job, before: dict) -> None:
        e = self.engine
        newly = [q for q, t in e.ledger.trials.items() if t.ended and not before["trials"].get(q, (False, True))[1]]
        wrong = [q for q in newly if q != job.run_pid]
        if not wrong:
            return
        msg = (f"TrialEnd of job {job.job_id} (ran pid {job.run_pid}, hyper_params pid "
               f"{job.announced.get('parameter_id')!r}) ended pid(s) {wrong}")
        if not job.issued:
            self.violation("end_misattributed", "a web-UI trial's end was charged to the advisor's parameter: " + msg)
        elif job.spoke:
            self.violation("end_misattributed", "the job's metrics named its parameter: " + msg)
        elif not self.any_swap:
            self.violation("end_misattributed", "no 5726 swap in this sequence: " + msg)
        else:
            self.note("ambiguous_attribution")

    # ---- rules: setup ----------------------------------------------------------------------------------
    @initialize(R=st.sampled_from([9, 27]), exec_mode=st.deferred(lambda: st.sampled_from(EXEC_MODES)),
                threshold=st.sampled_from([0.1, 0.0]), n_params=st.sampled_from([2, 3]),
                seed=st.integers(0, 3), optimize_mode=st.sampled_from(["maximize", "minimize"]))
    @_guard
    def start(self, R, exec_mode, threshold, n_params, seed, optimize_mode):
        self.class_args = dict(R=R, eta=3, exec_mode=exec_mode, threshold=threshold, seed=seed,
                               optimize_mode=optimize_mode)
        self.space = dict(SPACES[n_params])
        self.log.append(f"build HyperJump({self.class_args}) space={sorted(self.space)}")
        self.advisor = self._build()
        try:
            self.send(C.Initialize, self.space, "space")
        except SequenceOver:
            pass

    def _build(self):
        advisor = build_offline(HyperJump, **self.class_args)
        advisor.get_checkpoint_path = lambda: self.folder
        return advisor

    # ---- rules: requests and trial lifecycles -----------------------------------------------------------
    @precondition(lambda self: self.alive)
    @rule(n=st.integers(1, 8))
    @_guard
    def request_trials(self, n):
        self.request(n)

    @precondition(lambda self: self.alive and self.live_jobs())
    @rule(i=st.integers(0, 99), value=st.floats(0, 1), periodical=st.booleans(), request_after=st.booleans())
    @_guard
    def run_to_success(self, i, value, periodical, request_after):
        job = self.pick(self.live_jobs(), i)
        if periodical:
            for b in sorted(self.engine.stage_budgets):
                if b < job.budget:
                    self.metric(job, {"default": value * b / job.budget, "budget": b}, "PERIODICAL")
        self.metric(job, value)
        self.end(job, "SUCCEEDED", request_after)

    @precondition(lambda self: self.alive and self.live_jobs())
    @rule(values=st.lists(st.floats(0, 1), min_size=1, max_size=4), request_after=st.booleans())
    @_guard
    def complete_every_live_job(self, values, request_after):
        """A wave: every live job succeeds (the manager then asks for as many trials)."""
        jobs = self.live_jobs()
        for k, job in enumerate(jobs):
            self.metric(job, values[k % len(values)])
            self.end(job, "SUCCEEDED")
        if request_after:
            self.request(len(jobs))

    @precondition(lambda self: self.alive and self.live_jobs())
    @rule(i=st.integers(0, 99), event=st.sampled_from(EVENTS_NOT_OK + ["SUCCEEDED"]), periodical=st.booleans(),
          request_after=st.booleans())
    @_guard
    def end_without_final(self, i, event, periodical, request_after):
        """FAILED / cancelled / succeeded without a FINAL (USER_CANCELED is also a user's cancel)."""
        job = self.pick(self.live_jobs(), i)
        if periodical:
            self.metric(job, {"default": 0.99, "budget": 1}, "PERIODICAL")
        self.end(job, event, request_after)

    @precondition(lambda self: self.alive and any(self.jobs[j].alive for j in self.killed))
    @rule(request_after=st.booleans())
    @_guard
    def acknowledge_kills(self, request_after):
        for job_id in list(self.killed):
            job = self.jobs[job_id]
            if job.alive:
                self.end(job, "USER_CANCELED", request_after)

    @precondition(lambda self: self.alive and any(j.finals for j in self.jobs.values()))
    @rule(i=st.integers(0, 99), value=st.floats(0, 2))
    @_guard
    def duplicate_final(self, i, value):
        """A second FINAL from a job that already reported one (alive or ended)."""
        job = self.pick([j for j in self.jobs.values() if j.finals], i)
        self.metric(job, value)

    @precondition(lambda self: self.alive and self.live_jobs())
    @rule(i=st.integers(0, 99), value=st.floats(0, 2))
    @_guard
    def final_after_trial_end(self, i, value):
        job = self.pick(self.live_jobs(), i)
        self.end(job, "SUCCEEDED")
        self.metric(job, value)

    @precondition(lambda self: self.alive and self.live_jobs())
    @rule(i=st.integers(0, 99), which=st.sampled_from(sorted(WEIRD_METRICS)), kind=st.sampled_from(["FINAL", "PERIODICAL"]),
          end=st.booleans())
    @_guard
    def weird_metric(self, i, which, kind, end):
        job = self.pick(self.live_jobs(), i)
        value = WEIRD_METRICS[which]
        if which == "nan_str":
            self.metric(job, "nan", kind, raw=True)
        else:
            self.metric(job, value, kind)
        if end:
            self.end(job, "SUCCEEDED")

    # ---- rules: NNI issue 5726 ---------------------------------------------------------------------------
    @precondition(lambda self: self.alive and len(self.live_jobs(issued_only=True, silent_only=True)) >= 2)
    @rule(i=st.integers(0, 99), j=st.integers(0, 99))
    @_guard
    def swap_parameters(self, i, j):
        """(a) job A runs B's parameters and B runs A's, while both are silent."""
        silent = self.live_jobs(issued_only=True, silent_only=True)
        a = self.pick(silent, i)
        b = self.pick([x for x in silent if x is not a], j)
        a.run_pid, b.run_pid = b.run_pid, a.run_pid
        a.swapped = b.swapped = self.any_swap = True
        self.log.append(f"(5726: {a.job_id} now runs pid {a.run_pid}, {b.job_id} runs pid {b.run_pid})")

    @precondition(lambda self: self.alive and len(self.live_jobs(issued_only=True, silent_only=True)) >= 2)
    @rule(i=st.integers(0, 99), j=st.integers(0, 99))
    @_guard
    def run_same_parameters(self, i, j):
        """(b) two jobs run the same parameters; B's own parameter is never run."""
        silent = self.live_jobs(issued_only=True, silent_only=True)
        a = self.pick(silent, i)
        b = self.pick([x for x in silent if x is not a], j)
        b.run_pid, b.runs = a.run_pid, a.runs or a.announced
        a.swapped = b.swapped = self.any_swap = True
        self.log.append(f"(5726: {b.job_id} runs pid {a.run_pid} like {a.job_id})")

    # ---- rules: the web UI ---------------------------------------------------------------------------------
    @precondition(lambda self: self.alive)
    @rule(value=st.floats(0, 1), report=st.booleans(), event=st.sampled_from(["SUCCEEDED", "FAILED"]),
          announce=st.booleans())
    @_guard
    def web_ui_customized_trial(self, value, report, event, announce):
        """A customized trial: parameter_id null, never issued by the advisor (maybe announced via
        AddCustomizedTrialJob); its metrics and TrialEnd arrive for an unknown job."""
        payload = {"parameter_id": None, "parameter_source": "customized",
                   "parameters": {"x": 0.5, "TRIAL_BUDGET": 1}, "parameter_index": 0}
        job = Job(f"W{self.n_jobs}", payload, None, issued=False)
        self.n_jobs += 1
        self.jobs[job.job_id] = job
        if announce:
            self.send(C.AddCustomizedTrialJob, nni.dump(payload), "web-UI trial")
        if report:
            self.metric(job, {"default": value, "budget": 1}, "PERIODICAL")
            self.metric(job, value)
        self.end(job, event)

    # ---- rules: malformed and odd commands -----------------------------------------------------------------
    @precondition(lambda self: self.alive)
    @rule(which=st.sampled_from(sorted(MALFORMED)))
    @_guard
    def malformed(self, which):
        command, data = MALFORMED[which]
        self.send(command, data, which)

    @precondition(lambda self: self.alive)
    @rule(which=st.sampled_from(sorted(SPACE_UPDATES)))
    @_guard
    def update_search_space(self, which):
        extra = SPACE_UPDATES[which]
        space = dict(self.space, **(extra or {}))
        self.send(C.UpdateSearchSpace, space, which)
        if "invalid" not in which:
            self.space = space

    @precondition(lambda self: self.alive)
    @rule(rows=st.lists(st.sampled_from(sorted(IMPORT_ROWS)), min_size=0, max_size=4))
    @_guard
    def import_data(self, rows):
        self.send(C.ImportData, [IMPORT_ROWS[r](self.class_args["R"]) for r in rows], ",".join(rows))

    @precondition(lambda self: self.alive)
    @rule(seconds=st.sampled_from([0.0, 1.0, 60.0, 3600.0]))
    @_guard
    def clock_tick(self, seconds):
        """Time passes; the advisor's clock thread wakes it (NNI sends nothing)."""
        self.clock.now += seconds
        self.send(TICK, None, f"(clock +{seconds:g} s)")

    # ---- rules: the disk and nnictl resume ------------------------------------------------------------------
    @precondition(lambda self: self.alive)
    @rule(commands=st.integers(1, 4))
    @_guard
    def disk_full(self, commands):
        """The state file cannot be written for the next ``commands`` commands."""
        self.disk_broken = commands
        self.log.append(f"(disk full for {commands} commands)")

    @precondition(lambda self: self.alive)
    @rule()
    @_guard
    def restart(self):
        """nnictl stop + resume: a new advisor, load_checkpoint, Initialize; NNI re-runs the running
        trials (AddCustomizedTrialJob, their parameter ids) and imports the finished ones."""
        before = self._schedule_state()
        dirty, cut, self.cut = self.dirty, self.cut, False
        self.log.append("(nnictl stop; nnictl resume)" + ("  [last state write failed]" if dirty else "")
                        + (f"  [power cut: {cut}]" if cut else ""))
        self.disk_broken = 0
        old_live = [j for j in self.jobs.values() if j.alive]
        for job in old_live:
            job.alive = False  # stopped with the experiment
        self.killed = []
        try:
            self.advisor = self._build()
            self.cursor = 0
            self.advisor.load_checkpoint()
        except Exception:
            self.alive = False
            self.violation("exception:load_checkpoint", traceback.format_exc())
            raise SequenceOver()
        self.send(C.Initialize, self.space, "space (resume)")
        after = self._schedule_state()
        if cut:
            self.note("restart_after_power_cut")
        elif dirty:
            self.note("restart_after_failed_write")
        elif after != before:
            self.violation("restart_changed_brackets", f"before: {_brief(before)}\nafter: {_brief(after)}")
        finished = [{"parameter": j.announced.get("parameters"), "value": nni.dump(j.finals[-1])}
                    for j in self.jobs.values() if not j.alive and j.finals and j not in old_live]
        if finished:
            self.send(C.ImportData, finished, f"{len(finished)} finished trials")
        reruns = []
        for job in old_live:
            new = Job(f"R{self.n_jobs}", dict(job.announced), job.announced.get("parameter_id"), issued=job.issued)
            self.n_jobs += 1
            self.jobs[new.job_id] = new
            reruns.append(dict(job.announced, parameter_source="resumed"))
        if reruns:
            self.send(C.AddCustomizedTrialJob, reruns, f"{len(reruns)} re-runs")
        if self.outstanding > 0:
            n, self.outstanding = self.outstanding, 0
            self.request(n)

    @precondition(lambda self: self.alive)
    @rule(lines=st.integers(0, 12), torn=st.booleans())
    @_guard
    def power_cut(self, lines, torn):
        """The machine loses power: the journal loses its last ``lines`` lines (those a batched fsync had not
        reached), the last one kept maybe torn in half; then nnictl resume. NNI keeps its own records."""
        path = os.path.join(self.folder, journal.JOURNAL_FILE)
        if os.path.exists(path):
            with open(path, "rb") as f:
                kept = f.read().splitlines(keepends=True)
            kept = kept[:max(0, len(kept) - lines)]
            if torn and kept:
                kept[-1] = kept[-1][:len(kept[-1]) // 2]
            with open(path, "wb") as f:
                f.write(b"".join(kept))
        self.cut = f"{lines} journal lines lost" + (", the last kept one torn" if torn else "")
        self.restart()

    @precondition(lambda self: not self.alive)
    @rule()
    def dispatcher_dead(self):
        """Soft mode only: the advisor raised, NNI's dispatcher is gone; the rest of the sequence is idle."""

    # ---- invariants -----------------------------------------------------------------------------------------
    @invariant()
    def no_stall(self):
        if not self.alive or self.advisor is None or self.live_jobs():
            return
        e = self.engine
        waiting = self._orphaned_slots()
        if self.outstanding > 0 or waiting:  # the advisor's clock ticks every few seconds; NNI says nothing
            n_before = len(self.issued_pids)
            nudge = self._nudge_seconds()
            for _ in range(STALL_NUDGES + self.disk_broken):  # a full disk holds new ids until it has space
                self.clock.now += nudge
                try:
                    self.send(TICK, None, f"(idle, clock +{nudge:g} s)")
                except SequenceOver:
                    return
                if len(self.issued_pids) > n_before or not (self._orphaned_slots() or self.outstanding > 0):
                    break
            if self.outstanding > 0 and len(self.issued_pids) == n_before:
                self.violation("stall", f"{self.outstanding} trials requested, no job alive, nothing issued "
                               f"after up to {STALL_NUDGES} ticks; credit={e.credit}; open brackets: "
                               f"{_brief_brackets(getattr(e.scheduler, 'open_brackets', []))}")
        still = [p for p in self._orphaned_slots() if p in waiting]
        if still:
            self.violation("orphaned_wait", f"every job ended but stages wait on pid(s) {still} that no job runs; "
                           f"open brackets: {_brief_brackets(getattr(e.scheduler, 'open_brackets', []))}")

    def _nudge_seconds(self) -> float:
        """How far one idle tick moves the clock: an hour, or the stall guard's wait for the slowest budget
        (LOST_FACTOR times the longest run it expects there) when runs took longer."""
        from hyperjump_advisor import stall_guard
        longest = self.engine.ledger.longest_run
        waits = [stall_guard.expected_run(t.slot.budget, longest) for t in self.engine.ledger.unresolved()]
        return max([NUDGE_SECONDS] + [stall_guard.LOST_FACTOR * w for w in waits if w is not None])

    def _schedule_state(self) -> Any:
        """What a resume must rebuild: the brackets (synchronous modes) or the rungs (exec_mode async)."""
        from hyperjump_advisor.persistence import bracket_to_dict
        scheduler = self.engine.scheduler
        if getattr(scheduler, "rungs", None) is not None:
            return scheduler.to_dict()
        return [bracket_to_dict(b) for b in scheduler.brackets]

    def _slots_waiting(self) -> list[Slot]:
        """Slots the schedule waits on: the current stages of open brackets, or every slot of the rungs."""
        scheduler = self.engine.scheduler
        if getattr(scheduler, "rungs", None) is not None:
            return list(scheduler.all_slots())
        return [slot for b in scheduler.open_brackets for slot in b.current]

    def _orphaned_slots(self) -> list[int]:
        e = self.engine
        running = {j.run_pid for j in self.jobs.values() if j.alive}
        out = []
        for slot in self._slots_waiting():
            if slot.status is SlotStatus.RUNNING:
                try:
                    t = e.ledger.trial_of_slot(slot)
                except KeyError:
                    out.append(("no trial", slot.bracket_id, slot.stage, slot.config_id))
                    continue
                if t.parameter_id not in running:
                    out.append(t.parameter_id)
        return out

    @invariant()
    def promotions_take_the_best(self):
        if self.advisor is None:
            return
        for b in self.engine.scheduler.brackets:
            if b.jumped:
                continue
            for k in range(min(b.stage, len(b.plan) - 1)):
                nxt = b.slots[k + 1]
                if not nxt and b.stage <= k + 1:
                    continue
                done = sorted((x for x in b.slots[k] if x.status is SlotStatus.DONE), key=lambda x: x.loss)
                promoted = {x.config_id for x in nxt}
                n = min(b.plan[k + 1].n, len(done))
                if len(promoted) != n:
                    self.violation("bad_promotion", f"bracket {b.bracket_id} stage {k + 1} has {len(promoted)} configs, "
                                   f"expected {n} of {len(done)} DONE")
                    return
                if n and promoted:
                    worst_in = max(x.loss for x in done if x.config_id in promoted) \
                        if all(c in {x.config_id for x in done} for c in promoted) else math.inf
                    best_out = min((x.loss for x in done if x.config_id not in promoted), default=math.inf)
                    if worst_in > best_out:
                        self.violation("bad_promotion", f"bracket {b.bracket_id}: stage {k + 1} holds {sorted(promoted)}; "
                                       f"stage {k} DONE: {[(x.config_id, x.loss) for x in done]}")
                        return


def _name(command: Any) -> str:
    return getattr(command, "name", str(command))


def _last_exception_type(tb: str) -> str:
    lines = [ln for ln in tb.strip().splitlines() if ln and not ln.startswith(" ")]
    return lines[-1].split(":")[0] if lines else "?"


def _short(data: Any, n: int = 90) -> str:
    text = repr(data)
    return text if len(text) <= n else text[:n] + "..."


def _brief(brackets: list[dict]) -> str:
    return "; ".join(f"b{b['bracket_id']} stage {b['stage']} " +
                     "/".join("".join(s[1][0] for s in stage) for stage in b["slots"]) for b in brackets)


def _brief_brackets(brackets) -> str:
    return "; ".join(f"b{b.bracket_id} stage {b.stage} " + "".join(x.status.value[0] for x in b.current)
                     for b in brackets)
