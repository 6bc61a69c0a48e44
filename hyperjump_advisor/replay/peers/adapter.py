"""The NNI side of a peer: an advisor (``MsgDispatcherBase``) that turns the manager's commands
into calls of a library's public scheduler API and the library's answers into NNI commands.

What every peer shares (this module); what differs (``start``/``result``/``ended``) is in the
family's adapter:

- ``Initialize(search space)`` builds the library object (:meth:`PeerAdvisor.start`) from the
  table's search space (choices), R and eta, seeded;
- the manager's ``RequestTrialJobs(n)`` adds n *credits* (free workers); the adapter asks the
  library for a trial per credit (:meth:`PeerAdvisor.suggest`) and sends a ``NewTrialJob`` with
  the configuration, ``TRIAL_BUDGET`` (always one of the Hyperband levels 1, eta, ..., R), and,
  when the library resumes a paused trial from its checkpoint, the resume key naming the
  TRIAL_BUDGET it continues from (the replay then charges only the extra time). If the library
  has nothing to run now, the credit waits and is offered again after each later event; if it
  says it is done, ``NoMoreTrialJobs``;
- metrics: PERIODICAL (the table's losses at the smaller levels) and FINAL (at TRIAL_BUDGET)
  go to :meth:`PeerAdvisor.result` with the level's budget as resource; a ``"stop"`` answer on a
  PERIODICAL metric sends ``KillTrialJob`` (stopping-type schedulers and pruners);
- ``TrialEnd`` goes to :meth:`PeerAdvisor.ended` (SUCCEEDED, FAILED, USER_CANCELED, and whether
  the adapter itself had killed the trial).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import nni
import numpy as np
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from ..tables import BUDGET_KEY

CONTINUE, STOP = "continue", "stop"


@dataclass
class Suggestion:
    config: dict                       # hyperparameter -> value (table names)
    budget: int                        # TRIAL_BUDGET, one of the Hyperband levels
    key: Any = None                    # the library's handle (trial id, job info, ...)
    resume_from: Optional[int] = None  # TRIAL_BUDGET this trial's checkpoint holds, when resumed


@dataclass
class Job:
    parameter_id: int
    suggestion: Suggestion
    job_id: Optional[str] = None
    killed: bool = False               # the adapter sent KillTrialJob
    results: list = field(default_factory=list)  # (budget, loss) delivered so far

    @property
    def key(self) -> Any:
        return self.suggestion.key


class PeerAdvisor(MsgDispatcherBase):
    """Base of every peer adapter. Subclasses set ``resumes`` and implement ``start``,
    ``suggest``, ``result`` and ``ended``."""

    resumes = False

    def __init__(self, R: int, eta: int, seed: int, budgets: list[int],
                 resume_key: Optional[str] = "HYPERJUMP_RESUME_FROM", options: Optional[dict] = None):
        super().__init__()
        self.R, self.eta, self.seed = int(R), int(eta), int(seed)
        self.budgets = sorted(int(b) for b in budgets)   # the Hyperband TRIAL_BUDGETs, 1 .. R
        self.resume_key = resume_key
        self.options = dict(options or {})
        self.search_space: dict = {}
        self.credits = 0
        self.done = False
        self.next_parameter_id = 0
        self.jobs: dict[int, Job] = {}
        self.resumed_trials = 0

    # ---- the library's side, per family ---------------------------------------------------
    def start(self, search_space: dict) -> None:
        raise NotImplementedError

    def suggest(self) -> Optional[Suggestion]:
        """The next trial, or None when nothing can run now (set ``self.done`` if never again)."""
        raise NotImplementedError

    def result(self, job: Job, budget: int, loss: float, final: bool) -> str:
        """A metric of a running trial; returns CONTINUE or STOP."""
        raise NotImplementedError

    def ended(self, job: Job, event: str) -> None:
        """The trial ended: ``event`` is SUCCEEDED, FAILED or USER_CANCELED (``job.killed`` says
        whether this adapter had asked for it)."""
        raise NotImplementedError

    def extras(self) -> dict:
        """Fields added to the run record."""
        return {}

    # ---- helpers for the adapters ---------------------------------------------------------
    def level_budget(self, value: float) -> int:
        """The Hyperband TRIAL_BUDGET a library's (float) fidelity stands for (it must be one)."""
        best = min(self.budgets, key=lambda b: abs(b - float(value)))
        if not math.isclose(best, float(value), rel_tol=1e-6):
            raise ValueError(f"fidelity {value!r} is not one of the budget levels {self.budgets}")
        return best

    # ---- NNI handlers ---------------------------------------------------------------------
    def handle_initialize(self, data):
        self.search_space = data
        self.start(data)
        self.send(CommandType.Initialized, "")

    def handle_update_search_space(self, data):
        self.search_space = data

    def handle_request_trial_jobs(self, data):
        self.credits += int(data)
        self._fill()

    def handle_report_metric_data(self, data):
        job = self.jobs.get(data.get("parameter_id"))
        if job is None or data.get("type") not in ("PERIODICAL", "FINAL"):
            return
        job.job_id = data.get("trial_job_id", job.job_id)
        value = nni.load(data["value"]) if isinstance(data.get("value"), str) else data.get("value")
        loss = float(value["default"] if isinstance(value, dict) else value)
        final = data["type"] == "FINAL"
        budget = job.suggestion.budget if final else _int_or_none(value.get("budget") if isinstance(value, dict) else None)
        if budget not in self.budgets or job.killed or any(b == budget for b, _ in job.results):
            return  # not a Hyperband level (a table level between them), after a kill, or a duplicate
        job.results.append((budget, loss))
        decision = self.result(job, budget, loss, final)
        if decision == STOP and not final:
            job.killed = True
            self.send(CommandType.KillTrialJob, nni.dump(job.job_id))
        self._fill()

    def handle_trial_end(self, data):
        payload = nni.load(data["hyper_params"]) if isinstance(data.get("hyper_params"), str) else {}
        job = self.jobs.pop(payload.get("parameter_id"), None)
        if job is not None:
            job.job_id = data.get("trial_job_id", job.job_id)
            self.ended(job, data.get("event", ""))
        self._fill()

    def handle_import_data(self, data):
        pass

    def handle_add_customized_trial(self, data):
        pass

    # ---- trials -----------------------------------------------------------------------------
    def _fill(self) -> None:
        while self.credits > 0 and not self.done:
            suggestion = self.suggest()
            if suggestion is None:
                if self.done:
                    self.send(CommandType.NoMoreTrialJobs, "")
                return
            self.credits -= 1
            self._send_trial(suggestion)

    def _send_trial(self, suggestion: Suggestion) -> None:
        parameter_id = self.next_parameter_id
        self.next_parameter_id += 1
        self.jobs[parameter_id] = Job(parameter_id, suggestion)
        parameters = {**{k: _plain(v) for k, v in suggestion.config.items()}, BUDGET_KEY: int(suggestion.budget)}
        if suggestion.resume_from is not None:
            self.resumed_trials += 1
            if self.resume_key:
                parameters[self.resume_key] = int(suggestion.resume_from)
        self.send(CommandType.NewTrialJob, nni.dump({
            "parameter_id": parameter_id, "parameter_source": "algorithm", "parameters": parameters,
            "parameter_index": 0}))


def _int_or_none(value: Any) -> Optional[int]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
