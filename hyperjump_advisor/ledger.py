"""The ledger: which NNI parameter id runs which slot, under which trial job, and how it ended.

Contract: every slot the scheduler hands out gets exactly one parameter id (ints from 0, never
reused); a trial job is tied to the parameter id its metrics carry (NNI issue 5726: a job can run
another job's parameters, and only its metrics say which); a job that ends without ever reporting
is matched through its ``hyper_params`` unless another job already claimed that id, then to the
oldest parameter no job has spoken for, so that no stage waits for a trial that will not come.
No NNI here: payloads are decoded by the protocol glue.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Optional

from .schedule import Bracket, Slot

_logger = logging.getLogger("hyperjump_advisor")

SlotKey = tuple[int, int, int]


def slot_key(slot: Slot) -> SlotKey:
    return (slot.bracket_id, slot.stage, slot.config_id)


_PERSISTED_FIELDS = frozenset({"trial_job_id", "final_seen", "ended", "killed_by_us", "awaiting_final", "cost"})


@dataclass
class Trial:
    """What the advisor knows of one NNI parameter id. A change to a persisted field marks it for the journal."""
    parameter_id: int
    slot: Slot
    trial_job_id: Optional[str] = None
    final_seen: bool = False
    ended: bool = False
    killed_by_us: bool = False
    awaiting_final: bool = False     # ended SUCCEEDED before its FINAL metric arrived (NNI sends them apart)
    issued_at: float = 0.0           # advisor clock (monotonic seconds): when it was sent / restored
    ended_at: Optional[float] = None
    cost: Optional[tuple[int, int, float]] = None   # (from budget, to budget, seconds) it trained, once measured

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name in _PERSISTED_FIELDS:
            changed = self.__dict__.get("_changed")
            if changed is not None:
                changed.add(self.parameter_id)

    @property
    def resolved(self) -> bool:
        """Its slot has its outcome: a result, a failure, or our kill."""
        return self.ended and not self.awaiting_final


class Ledger:
    def __init__(self) -> None:
        self.trials: dict[int, Trial] = {}
        self.job_to_parameter: dict[str, int] = {}
        self.parameter_of_slot: dict[SlotKey, int] = {}
        self.next_parameter_id = 0
        self.longest_run: dict[int, float] = {}   # budget -> the longest issue-to-end time seen at it
        self._open: set[int] = set()               # parameter ids that may still be unresolved
        self.changed: set[int] = set()             # parameter ids whose row changed since the last save
        self.foreign_jobs: set[str] = set()        # jobs whose metrics named a parameter id that is not ours
        self.ended_jobs: set[str] = set()          # jobs whose TrialEnd arrived: never to be killed
        self._by_config: dict[int, list[int]] = {}  # config_id -> its parameter ids, in issue order

    def _add(self, trial: Trial) -> None:
        self.trials[trial.parameter_id] = trial
        self.parameter_of_slot[slot_key(trial.slot)] = trial.parameter_id
        self._by_config.setdefault(trial.slot.config_id, []).append(trial.parameter_id)
        self._open.add(trial.parameter_id)
        self._watch(trial)

    def _watch(self, trial: Trial) -> None:
        object.__setattr__(trial, "_changed", self.changed)
        self.changed.add(trial.parameter_id)

    def mark_ended(self, trial: Trial, now: float, awaiting_final: bool = False) -> None:
        trial.ended, trial.ended_at, trial.awaiting_final = True, now, awaiting_final
        self.record_run(trial.slot.budget, now - trial.issued_at)

    def record_run(self, budget: int, seconds: float) -> None:
        """A run at ``budget`` took ``seconds`` from issue to end (the stall guard's yardstick)."""
        self.longest_run[budget] = max(self.longest_run.get(budget, 0.0), seconds)

    # ---- issuing -------------------------------------------------------------------------------
    def open_trial(self, slot: Slot, now: float) -> Trial:
        """A new parameter id for a slot about to be sent to NNI."""
        trial = Trial(self.next_parameter_id, slot, issued_at=now)
        self.next_parameter_id += 1
        self._add(trial)
        return trial

    def adopt(self, parameter_id: int, slot: Slot, now: float) -> Trial:
        """A parameter id sent before a power cut took its record: it runs ``slot`` (never handed out again)."""
        trial = Trial(parameter_id, slot, issued_at=now)
        self.reserve_parameter_id(parameter_id)
        self._add(trial)
        return trial

    def trial_of_slot(self, slot: Slot) -> Trial:
        return self.trials[self.parameter_of_slot[slot_key(slot)]]

    def reserve_parameter_id(self, parameter_id: int) -> None:
        """NNI re-runs a parameter id after a resume: never hand it out again."""
        self.next_parameter_id = max(self.next_parameter_id, parameter_id + 1)

    # ---- matching jobs -------------------------------------------------------------------------
    def claim_by_metric(self, parameter_id: object, job: Optional[str]) -> tuple[Optional[Trial], bool]:
        """The trial a metric belongs to, and whether its job became known just now."""
        trial = self.trials.get(parameter_id) if isinstance(parameter_id, int) else None
        if trial is None:
            _logger.warning("metric for unknown parameter id %r (trial %s) ignored", parameter_id, job)
            if job is not None and job not in self.job_to_parameter:
                self.foreign_jobs.add(job)  # it runs something else: its end must not be guessed onto ours
            return None, False
        if job is None:
            return trial, False
        known = self.job_to_parameter.get(job)
        if known is not None and known != trial.parameter_id:
            _logger.warning("trial %s reported parameter %d after %d; using the latest", job, trial.parameter_id,
                            known)
        self.job_to_parameter[job] = trial.parameter_id
        newly_known = trial.trial_job_id is None
        trial.trial_job_id = job
        return trial, newly_known

    def trial_of_end(self, job: str, named_parameter_id: Optional[int]) -> tuple[Optional[Trial], bool]:
        """The trial a TrialEnd closes (None when it matches nothing or ended already), and whether its job
        became known just now (no metric had named it)."""
        self.ended_jobs.add(job)
        parameter_id = self.job_to_parameter.get(job)
        newly_known = parameter_id is None
        if parameter_id is None:
            if job in self.foreign_jobs:
                _logger.warning("trial end of job %s, whose metrics named no parameter of HyperJump's; ignored", job)
                return None, False
            if named_parameter_id not in self.trials:
                _logger.warning("trial end of job %s, which runs no parameter of HyperJump's (hyper_params name %r: "
                                "a customized trial?); ignored", job, named_parameter_id)
                return None, False
            parameter_id = self._guess_silent_job(job, named_parameter_id)
            if parameter_id is None:
                return None, False
            self.trials[parameter_id].trial_job_id = job
            self.job_to_parameter[job] = parameter_id
        trial = self.trials[parameter_id]
        if trial.ended:
            _logger.info("duplicate trial end for %s ignored", job)
            return None, False
        return trial, newly_known

    def _guess_silent_job(self, job: str, claimed: Optional[int]) -> Optional[int]:
        """A job that ended without ever reporting a metric: which parameter did it run?

        Its hyper_params are right unless NNI swapped parameters between jobs (issue 5726),
        which shows when another job's metrics already claimed that id. Then it must have
        run one of the parameters no job has spoken for: take the oldest, so the stage never
        waits for a trial that will not come."""
        unclaimed = [t for t in self.trials.values() if t.trial_job_id is None and not t.ended]
        if any(t.parameter_id == claimed for t in unclaimed):
            return claimed
        if len(unclaimed) == 1:
            guess = unclaimed[0].parameter_id
            _logger.warning("trial %s ended without metrics and its hyper_params name parameter %r, which another "
                            "job ran (NNI issue 5726); the only parameter no job has spoken for is %d: it ran that",
                            job, claimed, guess)
            return guess
        _logger.warning("trial %s ended without metrics and its hyper_params name parameter %r, which another job "
                        "ran (NNI issue 5726); %d parameters are unaccounted for, so it cannot be told which one "
                        "it ran: none is charged, the stall guard resolves the one that never reports",
                        job, claimed, len(unclaimed))
        return None

    # ---- views -----------------------------------------------------------------------------------
    def parameter_ids_of(self, config_id: int) -> list[int]:
        """The parameter ids that ran (or run) a configuration, in issue order."""
        return list(self._by_config.get(config_id, []))

    def running(self) -> int:
        return sum(not t.ended for t in self.trials.values())

    def unresolved(self) -> list[Trial]:
        """Trials whose slot still waits for an outcome (not killed by us); O(open trials)."""
        done = [i for i in self._open if self.trials[i].resolved or self.trials[i].killed_by_us]
        self._open.difference_update(done)
        return [self.trials[i] for i in sorted(self._open)]

    # ---- persistence -----------------------------------------------------------------------------
    def to_rows(self, parameter_ids: Optional[Iterable[int]] = None) -> list[list[object]]:
        trials = self.trials.values() if parameter_ids is None else (self.trials[i] for i in sorted(parameter_ids))
        return [[t.parameter_id, t.slot.bracket_id, t.slot.stage, t.slot.config_id, t.trial_job_id,
                 t.final_seen, t.ended, t.killed_by_us, t.awaiting_final]
                + ([list(t.cost)] if t.cost is not None else []) for t in trials]

    @classmethod
    def from_rows(cls, rows: list[list[object]], brackets: list[Bracket], next_parameter_id: int,
                  now: float) -> "Ledger":
        ledger = cls()
        for row in rows:
            pid, bracket_id, stage, config_id, job, final_seen, ended, killed = row[:8]
            awaiting = bool(row[8]) if len(row) > 8 else False
            cost = _cost(row[9]) if len(row) > 9 else None
            if job is not None and not isinstance(job, str):
                raise TypeError(f"trial job id {job!r} is not a string")
            slot = brackets[_int(bracket_id)].slot(_int(stage), _int(config_id))
            # a trial that was running is re-run by NNI under a new job: its old job id means nothing now
            trial = Trial(_int(pid), slot, job if ended else None, bool(final_seen), bool(ended),
                          bool(killed), awaiting, issued_at=now, ended_at=now if ended else None, cost=cost)
            ledger._add(trial)
            if ended and job is not None:
                ledger.job_to_parameter[job] = trial.parameter_id
        ledger.next_parameter_id = int(next_parameter_id)
        return ledger


def _cost(value: object) -> tuple[int, int, float]:
    """A row's measured cost: [from budget, to budget, seconds]."""
    if not isinstance(value, list) or len(value) != 3 or isinstance(value[2], bool) \
            or not isinstance(value[2], (int, float)):
        raise TypeError(f"trial cost {value!r} is not [from budget, to budget, seconds]")
    return _int(value[0]), _int(value[1]), float(value[2])


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value
