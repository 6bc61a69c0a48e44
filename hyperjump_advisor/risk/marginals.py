"""Per-config loss distributions (point masses or Gaussians) and their log-survival functions l_c(t) = log G_c(t)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from .beliefs import BoolArray, FloatArray, IndexArray, StageBelief

_TAIL = 8.5                  # a Gaussian lives on mean +- _TAIL*std (Phi(-8.5) ~ 1e-17)
_LOG_ZERO = -1.0e3           # stands for log(0): exp(-1000) == 0.0 in float64, but stays finite in sums
_MIN_STD = 1e-12             # an untested config with std below this is treated as a point mass


@dataclass(frozen=True)
class Marginals:
    """Per-config loss distributions: point mass at loc (point=True) or N(loc, scale^2)."""
    loc: FloatArray
    scale: FloatArray
    point: BoolArray

    @classmethod
    def from_belief(cls, belief: StageBelief, noise_std: float = 0.0) -> "Marginals":
        scale = np.where(belief.tested, float(noise_std), belief.std)
        scale = np.where(np.isfinite(scale), scale, 0.0)
        point = scale <= _MIN_STD
        return cls(belief.mean, np.where(point, 0.0, scale), point)

    def subset(self, idx: IndexArray) -> "Marginals":
        return Marginals(self.loc[idx], self.scale[idx], self.point[idx])

    @property
    def lower(self) -> FloatArray:
        """(n,) below this a config's CDF is < 1e-17 (exactly 0 for a point mass)."""
        return self.loc - _TAIL * self.scale

    @property
    def upper(self) -> FloatArray:
        """(n,) above this a config's survival is < 1e-17 (exactly 0 for a point mass)."""
        return self.loc + _TAIL * self.scale


def step_log_survival(m: float, nodes: FloatArray) -> FloatArray:
    """log 1{t < m} at the nodes, with _LOG_ZERO for log 0."""
    return np.where(nodes < m, 0.0, _LOG_ZERO)


def log_survival_matrix(marg: Marginals, nodes: FloatArray) -> FloatArray:
    """(n, G) matrix l_c(t_g) = log P(loss_c > t_g), clipped below at _LOG_ZERO."""
    out = np.empty((marg.loc.shape[0], nodes.shape[0]))
    if nodes.size == 0:
        return out
    above = marg.lower > nodes[-1]                  # surely above every node: log survival 0
    below = marg.upper < nodes[0]                   # surely below every node: log survival "-inf"
    out[above], out[below & ~above] = 0.0, _LOG_ZERO
    gauss = ~marg.point & ~above & ~below
    if np.any(gauss):
        z = (marg.loc[gauss, None] - nodes[None, :]) / marg.scale[gauss, None]
        out[gauss] = log_ndtr(z)
    point = marg.point & ~above & ~below
    if np.any(point):
        out[point] = np.where(nodes[None, :] < marg.loc[point, None], 0.0, _LOG_ZERO)
    np.maximum(out, _LOG_ZERO, out=out)
    return out
