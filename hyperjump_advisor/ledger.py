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
from typing import Optional

from .schedule import Bracket, Slot

_logger = logging.getLogger("hyperjump_advisor")

SlotKey = tuple[int, int, int]


def slot_key(slot: Slot) -> SlotKey:
    return (slot.bracket_id, slot.stage, slot.config_id)


@dataclass
class Trial:
    """What the advisor knows of one NNI parameter id."""
    parameter_id: int
    slot: Slot
    trial_job_id: Optional[str] = None
    final_seen: bool = False
    ended: bool = False
    killed_by_us: bool = False


class Ledger:
    def __init__(self) -> None:
        self.trials: dict[int, Trial] = {}
        self.job_to_parameter: dict[str, int] = {}
        self.parameter_of_slot: dict[SlotKey, int] = {}
        self.next_parameter_id = 0

    # ---- issuing -------------------------------------------------------------------------------
    def open_trial(self, slot: Slot) -> Trial:
        """A new parameter id for a slot about to be sent to NNI."""
        trial = Trial(self.next_parameter_id, slot)
        self.next_parameter_id += 1
        self.trials[trial.parameter_id] = trial
        self.parameter_of_slot[slot_key(slot)] = trial.parameter_id
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

    def trial_of_end(self, job: str, named_parameter_id: Optional[int]) -> Optional[Trial]:
        """The trial a TrialEnd closes; None when it matches nothing or ended already."""
        parameter_id = self.job_to_parameter.get(job)
        if parameter_id is None:
            parameter_id = self._guess_silent_job(job, named_parameter_id)
            if parameter_id is None:
                _logger.warning("trial end of %s matches no running parameter; ignored", job)
                return None
            self.trials[parameter_id].trial_job_id = job
            self.job_to_parameter[job] = parameter_id
        trial = self.trials[parameter_id]
        if trial.ended:
            _logger.info("duplicate trial end for %s ignored", job)
            return None
        return trial

    def _guess_silent_job(self, job: str, claimed: Optional[int]) -> Optional[int]:
        """A job that ended without ever reporting a metric: which parameter did it run?

        Its hyper_params are right unless NNI swapped parameters between jobs (issue 5726),
        which shows when another job's metrics already claimed that id. Then it must have
        run one of the parameters no job has spoken for: take the oldest, so the stage never
        waits for a trial that will not come."""
        unclaimed = [t for t in self.trials.values() if t.trial_job_id is None and not t.ended]
        if any(t.parameter_id == claimed for t in unclaimed):
            return claimed
        if not unclaimed:
            return None
        guess = min(unclaimed, key=lambda t: t.parameter_id).parameter_id
        _logger.warning("trial %s ended without metrics and its hyper_params name parameter %r, which another "
                        "job ran (NNI issue 5726); attributing it to parameter %d", job, claimed, guess)
        return guess

    # ---- views -----------------------------------------------------------------------------------
    def parameter_ids_by_config(self) -> dict[int, list[int]]:
        runs: dict[int, list[int]] = {}
        for parameter_id, trial in self.trials.items():
            runs.setdefault(trial.slot.config_id, []).append(parameter_id)
        return runs

    def running(self) -> int:
        return sum(not t.ended for t in self.trials.values())

    # ---- persistence -----------------------------------------------------------------------------
    def to_rows(self) -> list[list[object]]:
        return [[t.parameter_id, t.slot.bracket_id, t.slot.stage, t.slot.config_id, t.trial_job_id,
                 t.final_seen, t.ended, t.killed_by_us] for t in self.trials.values()]

    @classmethod
    def from_rows(cls, rows: list[list[object]], brackets: list[Bracket], next_parameter_id: int) -> "Ledger":
        ledger = cls()
        for pid, bracket_id, stage, config_id, job, final_seen, ended, killed in rows:
            slot = brackets[bracket_id].slot(stage, config_id)  # type: ignore[index,arg-type]
            # a trial that was running is re-run by NNI under a new job: its old job id means nothing now
            trial = Trial(pid, slot, job if ended else None, bool(final_seen), bool(ended),  # type: ignore[arg-type]
                          bool(killed))
            ledger.trials[trial.parameter_id] = trial
            ledger.parameter_of_slot[slot_key(slot)] = trial.parameter_id
            if ended and job is not None:
                ledger.job_to_parameter[job] = trial.parameter_id  # type: ignore[index]
        ledger.next_parameter_id = int(next_parameter_id)
        return ledger
