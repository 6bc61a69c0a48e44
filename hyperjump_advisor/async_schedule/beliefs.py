"""What the async risk rules read of HyperJump's RiskPolicy (its posterior, encodings, incumbent and
options; not its sync ``choose`` and ``decide_jump``), and when they trust the GP on a configuration."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import ties
from ..schedule import SlotStatus
from .state import Rungs

EXPLAIN_Z = 2.0         # the rules trust the GP on a candidate only within this many std of its own measurement


@dataclass(frozen=True)
class RungBeliefs:
    """The installed policy (None while jumping is off) seen from the rungs; R normalises budgets."""
    policy: Any
    R: int

    @property
    def ready(self) -> bool:
        p = self.policy
        return p is not None and p.options.threshold > 0 and p.posterior.ready

    def scale(self) -> float:
        """rEAR's normaliser l* (as RiskPolicy._scale, without its warning)."""
        incumbent = self.policy.incumbent_loss()
        if incumbent is None:
            return 1.0
        scale = incumbent - self.policy.options.best_loss
        return scale if scale > 0 else 1.0

    def predict(self, configs: list[int], budget: int) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.policy.posterior.predict(self.policy.encode(configs), budget / self.R)
        return np.asarray(mean, float), np.asarray(std, float)

    def explains(self, rungs: Rungs, c: int) -> bool:
        """Does the GP's belief about c explain c's own largest-budget result (within EXPLAIN_Z std)?"""
        for k in range(rungs.top, -1, -1):
            x = rungs.slots[k].get(c)
            if x is not None and x.status is SlotStatus.DONE and x.loss is not None:
                mean, std = self.predict([c], x.budget)
                return ties.at_most(abs(float(mean[0]) - x.loss), EXPLAIN_Z * max(float(std[0]), 1e-12))
        return False
