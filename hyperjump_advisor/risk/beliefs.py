"""What the risk engine believes about a stage (StageBelief) and what it decides (JumpDecision)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .. import ties

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IndexArray = NDArray[np.intp]


@dataclass(frozen=True)
class StageBelief:
    """Beliefs about the losses of the n configs of one stage at that stage's budget.

    mean:   (n,) measured loss for tested configs, predicted (GP posterior) mean loss otherwise
    std:    (n,) predictive std (ignored for tested configs unless noise_std > 0)
    tested: (n,) bool
    Inputs are coerced to float / bool 1-D arrays (lists are accepted). The predictions (mean and std of the
    untested configs) are rounded by the tie rule (``ties.coarse``), so risks and decisions are the same on
    every BLAS kernel; measured losses stay exact.
    """
    mean: FloatArray
    std: FloatArray
    tested: BoolArray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=float)
        std = np.asarray(self.std, dtype=float)
        tested = np.asarray(self.tested, dtype=bool)
        if mean.ndim != 1 or std.shape != mean.shape or tested.shape != mean.shape:
            raise ValueError(f"StageBelief: mean, std, tested must be 1-D of equal length, got "
                             f"{mean.shape}, {std.shape}, {tested.shape}")
        if not np.all(np.isfinite(mean)):
            raise ValueError("StageBelief: mean must be finite")
        if np.any(~np.isfinite(std) & ~tested) or np.any(std[~tested] < 0):
            raise ValueError("StageBelief: std of untested configs must be finite and >= 0")
        object.__setattr__(self, "mean", np.where(tested, mean, ties.coarse(mean)))
        object.__setattr__(self, "std", np.where(tested, std, ties.coarse(std)))
        object.__setattr__(self, "tested", tested)

    @classmethod
    def _trusted(cls, mean: FloatArray, std: FloatArray, tested: BoolArray) -> "StageBelief":
        """Construct without validation from arrays derived from a validated belief (hot path)."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "mean", mean)
        object.__setattr__(obj, "std", std)
        object.__setattr__(obj, "tested", tested)
        return obj

    @property
    def n(self) -> int:
        return int(self.mean.shape[0])

    def subset(self, idx: IndexArray) -> "StageBelief":
        """Belief restricted to the configs ``idx`` (new positions 0..len(idx)-1)."""
        return StageBelief._trusted(self.mean[idx], self.std[idx], self.tested[idx])

    def with_tested(self, c: int) -> "StageBelief":
        """Pretend config c was tested and measured at its current mean (paper Sec. 3.2)."""
        tested = self.tested.copy()
        tested[c] = True
        std = self.std.copy()
        std[c] = 0.0
        return StageBelief._trusted(self.mean, std, tested)

    def with_std(self, std: FloatArray) -> "StageBelief":
        """Same means and tested flags, new (n,) std (e.g. after a rank-one variance update)."""
        std = np.asarray(std, dtype=float)
        return StageBelief._trusted(self.mean, np.where(self.tested, std, ties.coarse(std)), self.tested)


@dataclass(frozen=True)
class JumpDecision:
    """Outcome of EVALUATE_JUMP_RISK.

    hops:             0 = no jump; h = go to stage current+h.  When finishes_bracket, hops = len(beliefs)
                      (one past the last stage), so "longer jump" always means "larger hops".
    finishes_bracket: every remaining stage (incl. the last) is skipped -> start a new bracket.
    keep:             (k,) sorted indices (into the current stage) to run at the target stage;
                      empty when hops == 0 or finishes_bracket.
    rear_per_hop:     rEAR of each accepted hop, then of the first rejected one (if any).
    """
    hops: int
    finishes_bracket: bool
    keep: IndexArray
    rear_per_hop: list[float]

    @property
    def accumulated_rear(self) -> float:
        """Sum of rear_per_hop (accepted hops plus the rejected one): the tie-break of next_config_to_test."""
        return float(sum(self.rear_per_hop))
