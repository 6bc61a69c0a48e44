"""The replay's event loop: plays the NNI manager for one advisor on a simulated clock.

Protocol, as NNI 3.0's manager does it (``nni_node/core/nnimanager.js``):

- ``Initialize(search space)``, then ``RequestTrialJobs(W)`` (trialConcurrency) at time 0;
- every ``NewTrialJob`` goes to a free worker at the current time (a FIFO queue holds it if
  all W are busy: the manager's ``waitingTrials``; counted, it means credit was overdrawn);
- a trial of (config, TRIAL_BUDGET) lasts the table's ``time`` for (config, level). On the
  way it reports PERIODICAL metrics (the table's intermediate losses), each at the time the
  table records for that level of that configuration: ``time(config, j)`` after the start,
  or ``time(config, j) - time(config, resumed level)`` for a resumed trial (clamped to be
  non-decreasing and within the trial's duration where the table's times are not monotone;
  see :func:`.trial_cost.trial_timing`); at its end the FINAL metric, then ``TrialEnd SUCCEEDED``, then
  ``RequestTrialJobs(1)`` (the manager asks for one trial per trial that ended);
- ``KillTrialJob(job)``: the trial stops now, its worker is free at once, it is recorded as
  KILLED (end = now), then ``TrialEnd USER_CANCELED`` and ``RequestTrialJobs(1)``;
- ``NoMoreTrialJobs``: by default only noted, because the real manager only records a
  status and keeps requesting a trial per ended trial (NNI's BOHB sends it whenever it is
  waiting for a stage to finish, and would stall if the requests stopped). With
  ``no_more="stop"`` the replay stops asking that advisor (no further RequestTrialJobs).

Metric payloads are ``{"default": loss, "budget": TRIAL_BUDGET}`` (PERIODICAL: the level's
TRIAL_BUDGET; sequence = that level's index); every advisor runs with optimize_mode
``minimize`` on the table loss.

Stop: when the next event is past ``time_limit`` (trials running then are listed under
``unfinished``, never as results), when the advisor is out of work with no trial running
(``end_reason`` ``no_more_trials`` if it said so, else ``idle``: it held requests it did
not fill, a stall), after ``max_trials`` trials, or when a handler raises (``error``).

Advisor time: every handler call is timed with ``time.perf_counter``; ``advisor_seconds``
is their sum. A *decision* is a handler call after which the advisor sent at least one
NewTrialJob or KillTrialJob; ``decision_ms`` lists their durations (report: median, p95).
With ``charge_advisor_time`` each call's duration is also added to the simulated clock
(the manager waits for the advisor), which makes a run depend on the machine.

Pause-resume: when ``resume_key`` (default ``HYPERJUMP_RESUME_FROM``, which this project's advisor
sends) is set and a NewTrialJob's parameters hold that key with a TRIAL_BUDGET the same
configuration already completed, the trial costs only its extra time, never less than a floor
(:mod:`.trial_cost`; ``resume_floored`` counts the trials the floor raised), and reports
PERIODICAL metrics only above the resumed level. A resume from a level never completed costs
the full time (counted).

Proposals the table lacks (a configuration it does not hold, a (configuration, budget) without
a row, a TRIAL_BUDGET that is no level) FAIL at once at zero cost, and are counted per run:
``missing_config_proposals`` and ``missing_row_proposals``.

Helpers with an idea of their own: :mod:`.sim_types` (``SimConfig``, ``SimTrial``), :mod:`.trial_cost`
(what a trial, fresh or resumed, costs on the clock and when its PERIODICAL metrics arrive),
:mod:`.checkpoint` (the advisor's NNI checkpoint folder for the run), :mod:`.faults` (fault injection);
:mod:`.runs` runs many (advisor, seed) pairs with a progress line.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import time
import traceback
from collections import deque
from typing import Any, Callable, Optional

import numpy as np
from nni.runtime.tuner_command_channel import CommandType

from ..inprocess import metric_message, trial_end_message
from .checkpoint import advisor_checkpoint_folder, folder_listing
from .sim_types import FAILED, KILLED, SUCCEEDED, SimConfig, SimTrial
from .tables import BUDGET_KEY, BudgetMap, Table
from .trial_cost import trial_timing

class Simulator:
    """One run: one advisor object, one table, W workers, one simulated clock."""

    def __init__(self, advisor, table: Table, budget_map: BudgetMap, config: SimConfig,
                 progress: Optional[Callable[[float], None]] = None):
        self.advisor, self.table, self.budget_map, self.cfg = advisor, table, budget_map, config
        self.progress = progress
        self.now = 0.0
        self._heap: list = []
        self._counter = itertools.count()
        self._inbox: deque = deque()
        self._pumping = False
        self.workers: list[Optional[SimTrial]] = [None] * config.workers
        self.waiting: deque = deque()       # NewTrialJob payloads waiting for a worker
        self.trials: list[SimTrial] = []
        self.by_job: dict[str, SimTrial] = {}
        self.incumbent: list[list[float]] = []
        self.best: Optional[float] = None
        self.completed_levels: dict[tuple, int] = {}  # config key -> highest level completed (checkpoints)
        self.fault_rng = np.random.default_rng([config.faults.seed, 0x5EED])
        # measurements
        self.advisor_seconds = 0.0
        self.handler_calls = 0
        self.decision_ms: list[float] = []
        self.queued_trials = 0
        self.kills_ignored = 0
        self.resume_without_checkpoint = 0
        self.resumed_trials = 0
        self.resume_floored = 0
        self.missing_config_proposals = 0
        self.missing_row_proposals = 0
        self.no_more_trials = False
        self.initialized = False
        self.error: Optional[str] = None
        self.advisor_errors: list[str] = []
        self.end_reason: Optional[str] = None
        use_clock = getattr(advisor, "use_trial_clock", None)
        if callable(use_clock):   # this project's advisor measures trial durations on the simulated clock
            use_clock(lambda: self.now)

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> dict:
        with advisor_checkpoint_folder(self.cfg.checkpoint) as folder:
            result = self._run()
            result["checkpoint"] = folder_listing(folder)
        return result

    def _run(self) -> dict:
        self._deliver(CommandType.Initialize, self.table.search_space())
        self._deliver(CommandType.RequestTrialJobs, self.cfg.workers)
        while self.end_reason is None:
            if self.error is not None:
                self.end_reason = "error"
            elif len(self.trials) >= self.cfg.max_trials:
                self.end_reason = "max_trials"
            elif not self._heap:
                self.end_reason = "no_more_trials" if self.no_more_trials else "idle"
            elif self._heap[0][0] > self.cfg.time_limit or self.now > self.cfg.time_limit:
                self.end_reason = "time_limit"
            else:
                at, _, event = heapq.heappop(self._heap)
                self.now = max(self.now, at)
                event()
                if self.progress is not None:
                    self.progress(self.now)
        return self.result()

    def result(self) -> dict:
        finished = [t for t in self.trials if not t.running]
        unfinished = [t for t in self.trials if t.running]
        return {
            "trials": [t.record(self.table) for t in finished],
            "incumbent": self.incumbent,
            "advisor_seconds": self.advisor_seconds,
            "decisions": len(self.decision_ms),
            "decision_ms": [round(x, 4) for x in self.decision_ms],
            "handler_calls": self.handler_calls,
            "end_reason": self.end_reason,
            "end_time": min(self.now, self.cfg.time_limit) if self.end_reason == "time_limit" else self.now,
            "unfinished": [{"config": t.config, "trial_budget": t.trial_budget, "start": t.start,
                            "job_id": t.job_id} for t in unfinished],
            "queued_trials": self.queued_trials,
            "waiting_at_end": len(self.waiting),
            "kills_ignored": self.kills_ignored,
            "resume_without_checkpoint": self.resume_without_checkpoint,
            "resumed_trials": self.resumed_trials,
            "resume_floored": self.resume_floored,
            "missing_config_proposals": self.missing_config_proposals,
            "missing_row_proposals": self.missing_row_proposals,
            "no_more_trials": self.no_more_trials,
            "initialized": self.initialized,
            "advisor_errors": self.advisor_errors,
            "error": self.error,
        }

    # ---- talking to the advisor -------------------------------------------------------------------
    def _deliver(self, command: CommandType, data: Any) -> None:
        """Queue a manager -> advisor command; commands are handled one at a time, in order."""
        self._inbox.append((command, data))
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._inbox and self.error is None:
                self._call(*self._inbox.popleft())
        finally:
            self._pumping = False

    def _call(self, command: CommandType, data: Any) -> None:
        sent = self.advisor.sent
        first = len(sent)
        started = time.perf_counter()
        try:
            self.advisor.process_command(command, data)
        except Exception:
            self.error = f"{command.name} raised:\n{traceback.format_exc()}"
        elapsed = time.perf_counter() - started
        self.advisor_seconds += elapsed
        self.handler_calls += 1
        if self.cfg.charge_advisor_time:
            self.now += elapsed
        new = sent[first:]
        del sent[first:]
        if any(s.name in ("NewTrialJob", "KillTrialJob") for s in new):
            self.decision_ms.append(elapsed * 1000.0)
        for message in new:
            self._on_advisor(message)

    def _on_advisor(self, message) -> None:
        name = message.name
        if name == "NewTrialJob":
            self._new_trial(message.data)
        elif name == "KillTrialJob":
            self._kill(message.data)
        elif name == "NoMoreTrialJobs":
            self.no_more_trials = True
        elif name == "Initialized":
            self.initialized = True
        elif name == "Error":
            self.advisor_errors.append(str(message.data)[:2000])

    def _request_one(self) -> None:
        if self.cfg.no_more == "stop" and self.no_more_trials:
            return
        self._deliver(CommandType.RequestTrialJobs, 1)

    # ---- trials ---------------------------------------------------------------------------------
    def _schedule(self, at: float, event: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (at, next(self._counter), event))

    def _new_trial(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            self.advisor_errors.append(f"NewTrialJob payload is not a JSON object: {payload!r}"[:500])
            return
        free = [i for i, t in enumerate(self.workers) if t is None]
        if not free:
            self.queued_trials += 1
            self.waiting.append(payload)
            return
        self._start(payload, free[0])

    def _start(self, payload: dict, worker: int) -> None:
        parameters = payload.get("parameters") or {}
        parameters = parameters if isinstance(parameters, dict) else {}
        budget = parameters.get(BUDGET_KEY)
        config, key = self.table.resolve({k: _plain(v) for k, v in parameters.items()})
        level = self.budget_map.level(budget)
        row = self.table.rows.get((key, level)) if key is not None and level is not None else None
        trial = SimTrial(index=len(self.trials), job_id=f"T{len(self.trials):05d}",
                         parameter_id=payload.get("parameter_id"), payload=payload, config=config,
                         trial_budget=_plain(budget), level=level, start=self.now, duration=0.0, worker=worker)
        self.trials.append(trial)
        self.by_job[trial.job_id] = trial
        self.workers[worker] = trial
        if row is None:
            if level is None:
                trial.reason = f"TRIAL_BUDGET {budget!r} is not a table level"
            elif key is None:
                trial.reason = "no such configuration in the table"
                self.missing_config_proposals += 1
            else:
                trial.reason = "no table row for this configuration and budget"
                self.missing_row_proposals += 1
            self._schedule(self.now, lambda: self._fault(trial, "FAILED"))
            return
        assert key is not None and level is not None  # a row was found under (key, level)
        trial.loss = row.loss
        resumed = self._resumed_level(trial, parameters)
        trial.resumed_from = resumed
        trial.duration, offsets, floored = trial_timing(self.table, key, level, resumed)
        if floored:
            trial.cost_rule = "resume_floor"
            self.resume_floored += 1
        if resumed is not None:
            self.resumed_trials += 1
        if self.cfg.periodical:
            for j, loss in row.intermediate:
                if resumed is None or j > resumed:
                    self._schedule(self.now + offsets[j], functools.partial(self._periodical, trial, j, loss))
        kind, at = self.cfg.faults.draw(self.fault_rng) if self.cfg.faults.active else (None, 0.0)
        trial.fault = kind
        if kind == "fail":
            self._schedule(self.now + at * trial.duration, lambda: self._fault(trial, "FAILED"))
        elif kind == "cancel":
            self._schedule(self.now + at * trial.duration, lambda: self._fault(trial, "USER_CANCELED"))
        else:
            self._schedule(self.now + trial.duration, lambda: self._finish(trial))

    def _resumed_level(self, trial: SimTrial, parameters: dict) -> Optional[int]:
        """Pause-resume hook: the level this trial continues from, or None (trains from scratch)."""
        key = self.cfg.resume_key
        if key is None or not parameters.get(key):  # absent, or 0: nothing to resume from
            return None
        level = self.budget_map.level(parameters[key])
        done = self.completed_levels.get(self.table.key(trial.config))
        assert trial.level is not None  # _start asks only for a trial with a table row
        if level is None or done is None or done < level or level >= trial.level:
            self.resume_without_checkpoint += 1
            return None
        return level

    def _free(self, trial: SimTrial) -> None:
        self.workers[trial.worker] = None
        if self.waiting:
            self._start(self.waiting.popleft(), trial.worker)

    def _metric(self, trial: SimTrial, loss: float, kind: str, sequence: int, trial_budget: Any) -> None:
        value = {"default": float(loss), "budget": trial_budget}
        self._deliver(CommandType.ReportMetricData,
                      metric_message(trial.parameter_id, trial.job_id, value, kind=kind, sequence=sequence))

    def _periodical(self, trial: SimTrial, level: int, loss: float) -> None:
        if trial.running:
            self._metric(trial, loss, "PERIODICAL", level, self.budget_map.trial_budget(level))

    def _finish(self, trial: SimTrial) -> None:
        if not trial.running:
            return
        # only a trial with a table row (level and loss set) is scheduled to finish (see _start)
        assert trial.level is not None and trial.loss is not None
        trial.status, trial.end = SUCCEEDED, self.now
        key = self.table.key(trial.config)
        self.completed_levels[key] = max(trial.level, self.completed_levels.get(key, -1))
        if trial.level == self.table.top and (self.best is None or trial.loss < self.best):
            self.best = trial.loss
            self.incumbent.append([self.now, trial.loss])
        self._free(trial)
        final = lambda: self._metric(trial, trial.loss, "FINAL", 0, trial.trial_budget)  # noqa: E731
        if trial.fault != "final_after_end":
            final()
        if trial.fault == "duplicate_final":
            final()
        self._deliver(CommandType.TrialEnd, trial_end_message(trial.job_id, SUCCEEDED, trial.payload))
        if trial.fault == "final_after_end":
            final()
        self._request_one()

    def _fault(self, trial: SimTrial, event: str) -> None:
        if not trial.running:
            return
        trial.status = FAILED if event == "FAILED" else KILLED
        if event == "USER_CANCELED":
            trial.killed_by = "user"
        trial.end = self.now
        self._free(trial)
        self._deliver(CommandType.TrialEnd, trial_end_message(trial.job_id, event, trial.payload))
        self._request_one()

    def _kill(self, job: Any) -> None:
        trial = self.by_job.get(job) if isinstance(job, str) else None
        if trial is None or not trial.running:
            self.kills_ignored += 1
            return
        trial.status, trial.end, trial.killed_by = KILLED, self.now, "advisor"
        self._free(trial)
        self._deliver(CommandType.TrialEnd, trial_end_message(trial.job_id, "USER_CANCELED", trial.payload))
        self._request_one()



def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
