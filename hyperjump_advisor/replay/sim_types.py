"""What one replay run is configured with (``SimConfig``) and what it records of each trial (``SimTrial``);
the event loop that uses them is :mod:`.simulator`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from .faults import Faults
from .tables import Table

SUCCEEDED, KILLED, FAILED = "SUCCEEDED", "KILLED", "FAILED"


@dataclass
class SimConfig:
    workers: int = 1
    time_limit: float = math.inf
    charge_advisor_time: bool = False
    periodical: bool = True
    faults: Faults = field(default_factory=Faults)
    no_more: str = "manager"           # "manager" (keep asking, as NNI does) or "stop"
    resume_key: Optional[str] = "HYPERJUMP_RESUME_FROM"  # the parameter naming the budget a trial resumes from
    max_trials: int = 100_000
    checkpoint: bool = True            # the advisor saves its state to a temporary NNI checkpoint folder

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.no_more not in ("manager", "stop"):
            raise ValueError(f"no_more must be 'manager' or 'stop', got {self.no_more!r}")


@dataclass
class SimTrial:
    index: int
    job_id: str
    parameter_id: Any
    payload: dict              # the NewTrialJob payload (decoded)
    config: dict
    trial_budget: Any
    level: Optional[int]
    start: float
    duration: float
    worker: int
    loss: Optional[float] = None         # the table's loss at (config, level), None if missing
    end: Optional[float] = None
    status: Optional[str] = None         # None while running
    killed_by: Optional[str] = None
    fault: Optional[str] = None
    reason: Optional[str] = None
    resumed_from: Optional[int] = None
    cost_rule: Optional[str] = None      # "resume_floor" when the resumed cost was raised to its floor

    @property
    def running(self) -> bool:
        return self.status is None

    def record(self, table: Table) -> dict:
        out = {"config": self.config,
               "budget": table.levels[self.level] if self.level is not None else None,
               "trial_budget": self.trial_budget, "start": self.start, "end": self.end,
               "loss": self.loss if self.status == SUCCEEDED else None, "status": self.status,
               "parameter_id": self.parameter_id, "job_id": self.job_id, "worker": self.worker}
        for key in ("killed_by", "fault", "reason", "resumed_from", "cost_rule"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out
