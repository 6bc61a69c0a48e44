"""EAR (expected accuracy reduction, as losses) of keeping S and discarding D, on a quadrature grid."""
from __future__ import annotations

from typing import Optional, Protocol

import numpy as np
from numpy.typing import ArrayLike

from .beliefs import BoolArray, FloatArray, StageBelief
from .marginals import Marginals, log_survival_matrix, step_log_survival
from .quadrature import quadrature_grid


class EarQuery(Protocol):
    """What the jump search asks of a stage: EAR of keeping each row of ``keep`` and discarding ``discard``."""

    def ear(self, keep: BoolArray, discard: BoolArray, pretend: Optional[tuple[int, float]] = None,
            keep_point: Optional[float] = None) -> FloatArray: ...


class StageRisk:
    """EAR queries for one stage: a quadrature grid and its (n, G) log-survival matrix, shared by all queries.

    The grid covers [min lower, max upper] of all configs (or the given lo/hi), plus extra step knots, so the same
    object answers every candidate set of every hop (rows outside the remaining set C are simply masked out) and
    every "pretend c was tested at value v" override whose v is among the extra knots.
    """

    def __init__(self, marg: Marginals, extra_knots: ArrayLike = (),
                 lo: Optional[float] = None, hi: Optional[float] = None) -> None:
        extra = np.asarray(extra_knots, dtype=float)
        self.marg = marg
        self.lo = float(min(marg.lower.min(), extra.min(initial=np.inf))) if lo is None else float(lo)
        self.hi = float(max(marg.upper.max(), extra.max(initial=-np.inf))) if hi is None else float(hi)
        self.nodes, self.weights = quadrature_grid(marg, self.lo, self.hi, extra)
        self.logsurv = log_survival_matrix(marg, self.nodes)

    def ear(self, keep: BoolArray, discard: BoolArray, pretend: Optional[tuple[int, float]] = None,
            keep_point: Optional[float] = None) -> FloatArray:
        """(m,) EAR = integral (1 - exp(sum_D l)) * exp(sum_S l) dt for boolean rows keep (S) / discard (D), (m, n).

        pretend=(c, v): config c is a point mass at v (v must be a knot of the grid).
        keep_point=v:   an extra point mass at v is in every S (the incumbent; v must be a knot).
        """
        m = keep.shape[0]
        lower, upper = self.marg.lower, self.marg.upper
        if pretend is not None:
            lower, upper = lower.copy(), upper.copy()
            lower[pretend[0]] = upper[pretend[0]] = pretend[1]
        lo, hi = _integration_bounds(keep, discard, lower, upper, keep_point)
        if not hi > lo:
            return np.zeros(m)
        i0, i1 = np.searchsorted(self.nodes, [lo, hi])
        nodes, weights, logsurv = self.nodes[i0:i1], self.weights[i0:i1], self.logsurv[:, i0:i1]
        masks = np.concatenate([keep, discard]).astype(float)          # (2m, n): rows S then rows D
        sums = masks @ logsurv                                         # (2m, G'): sum_S l, sum_D l
        if pretend is not None:
            c, v = pretend
            sums += masks[:, c:c + 1] * (step_log_survival(v, nodes) - logsurv[c])[None, :]
        if keep_point is not None:
            sums[:m] += step_log_survival(keep_point, nodes)[None, :]
        integrand = -np.expm1(sums[m:]) * np.exp(sums[:m])              # F_X(t) * (1 - F_Y(t))
        ears: FloatArray = np.maximum(integrand @ weights, 0.0)
        return ears


def _integration_bounds(keep: BoolArray, discard: BoolArray, lower: FloatArray, upper: FloatArray,
                        keep_point: Optional[float]) -> tuple[float, float]:
    """Integrand is < 1e-16 below min_rows min_D lower and above max_rows min_S upper (rows with D != {})."""
    rows = discard.any(axis=1)
    if not rows.any():
        return 0.0, 0.0
    lo = np.where(discard[rows], lower[None, :], np.inf).min()
    min_s_upper = np.where(keep[rows], upper[None, :], np.inf).min(axis=1)
    if keep_point is not None:
        min_s_upper = np.minimum(min_s_upper, keep_point)
    return float(lo), float(min_s_upper.max())


class QueryRisk:
    """Same ``ear`` interface as StageRisk, but builds a grid per query: restricted to the configs the query uses
    and trimmed to the query's integration bounds.  Cheapest for one-off queries (no pretend override)."""

    def __init__(self, marg: Marginals) -> None:
        self.marg = marg

    def ear(self, keep: BoolArray, discard: BoolArray, pretend: Optional[tuple[int, float]] = None,
            keep_point: Optional[float] = None) -> FloatArray:
        if pretend is not None:
            raise ValueError("QueryRisk takes the pretend evaluation in its beliefs, not as an override")
        used = np.flatnonzero(keep.any(axis=0) | discard.any(axis=0))
        marg, keep, discard = self.marg.subset(used), keep[:, used], discard[:, used]
        lo, hi = _integration_bounds(keep, discard, marg.lower, marg.upper, keep_point)
        if not hi > lo:
            return np.zeros(keep.shape[0])
        extra = () if keep_point is None else (keep_point,)
        return StageRisk(marg, extra_knots=extra, lo=lo, hi=hi).ear(keep, discard, keep_point=keep_point)


def _check_masks(keep_masks: ArrayLike, n: int) -> BoolArray:
    keep = np.asarray(keep_masks, dtype=bool)
    if keep.ndim == 1:
        keep = keep[None, :]
    if keep.ndim != 2 or keep.shape[1] != n:
        raise ValueError(f"keep_masks must have shape (m, {n}), got {np.shape(keep_masks)}")
    if not keep.any(axis=1).all():
        raise ValueError("EAR is undefined for an empty S (a keep_masks row with no True)")
    return keep


def expected_loss_reduction(belief: StageBelief, keep_masks: ArrayLike, noise_std: float = 0.0) -> FloatArray:
    """EAR for each row of keep_masks (m, n) bool: keep the True configs (S), discard the rest (D). Returns (m,) >= 0.

    EAR(D, S) = E[(min_S loss - min_D loss)^+] = integral_t F_X(t) (1 - F_Y(t)) dt  (X = min_D, Y = min_S).
    Empty D -> 0; empty S -> ValueError.  A 1-D mask is treated as one row.
    """
    keep = _check_masks(keep_masks, belief.n)
    return QueryRisk(Marginals.from_belief(belief, noise_std)).ear(keep, ~keep)
