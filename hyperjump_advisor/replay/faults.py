"""Fault injection for the replay: which started trials misbehave, and how.

:class:`Faults` is deterministic under its seed: each started trial draws
one outcome: FAIL at a uniform random point of its run (TrialEnd FAILED, no FINAL),
cancelled by a "user" at a random point (TrialEnd USER_CANCELED, recorded KILLED with
``killed_by: "user"``), FINAL delivered twice, or FINAL delivered after its TrialEnd.
The simulator (:mod:`.simulator`) draws one outcome per started trial with :meth:`Faults.draw`
and plays it out on its clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Faults:
    """Fractions of trials (drawn independently per trial, in start order) that misbehave."""
    fail: float = 0.0             # FAILED at a random time, no FINAL
    cancel: float = 0.0           # USER_CANCELED at a random time (a user's cancel)
    duplicate_final: float = 0.0  # FINAL delivered twice
    final_after_end: float = 0.0  # FINAL delivered after TrialEnd
    seed: int = 0

    def __post_init__(self):
        total = self.fail + self.cancel + self.duplicate_final + self.final_after_end
        if min(self.fail, self.cancel, self.duplicate_final, self.final_after_end) < 0 or total > 1:
            raise ValueError(f"fault fractions must be >= 0 and sum to <= 1, got {self}")

    @property
    def active(self) -> bool:
        return self.fail + self.cancel + self.duplicate_final + self.final_after_end > 0

    def draw(self, rng: np.random.Generator) -> tuple[Optional[str], float]:
        """(fault kind or None, fraction of the run at which it strikes)."""
        u, at = rng.random(), rng.random()
        for kind, p in (("fail", self.fail), ("cancel", self.cancel),
                        ("duplicate_final", self.duplicate_final), ("final_after_end", self.final_after_end)):
            if u < p:
                return kind, at
            u -= p
        return None, at
