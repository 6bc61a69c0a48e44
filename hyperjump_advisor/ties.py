"""Decisions on computed floats that do not depend on their last bits (one rule, used everywhere).

The model's outputs (GP hyperparameters, predictions, Expected Improvement, EAR and rEAR) differ in
their last bits from one BLAS kernel to another (CPU, ``OPENBLAS_CORETYPE``, thread count). A decision
that compares them (the argmax of EI, the ranking by predicted mean, rEAR against lambda, which of two
fits is better) must give the same answer on every machine. The rule:

    compare ``coarse(x)``: x rounded to ``SIGNIFICANT_BITS`` = 24 significant bits (a relative
    precision of 2^-24 ~ 6e-8, single precision's); equal coarse values are a tie, and a tie goes to
    the lowest index (the earliest candidate, the first start), i.e. a stable order.

Rounding keeps a total order (unlike "equal within a tolerance", which is not transitive), so sorting,
argmax and threshold tests all follow the same rule. A value whose last bits change only rounds
differently when a rounding boundary falls between its two versions: for a difference of 1e-12
relative that happens with probability ~1e-12 / 6e-8 ~ 2e-5, and it changes a decision only when that
value was within 6e-8 of its competitor. Exactly computed values (measured losses, budgets) are
compared exactly elsewhere.

Where the rule is applied at the source instead of at each comparison:

- the GP fit, where last bits grow: L-BFGS feeds them back along its path (measured between OpenBLAS
  kernels: fitted hyperparameters up to 5e-5 apart, and on a flat likelihood ridge another optimum).
  The optimiser evaluates the likelihood at ``coarse(x)`` and sees ``coarse`` of the objective and
  ``on_grid`` of the gradient (a gradient cancels towards 0 near the optimum, so its noise is absolute,
  not relative; the grid, 6e-8, is far below L-BFGS-B's pgtol of 1e-5); the fitted hyperparameters are
  rounded by ``coarse`` (``model.fitting``);
- the risk engine's beliefs (``risk.StageBelief``): EAR's quadrature places its knots by comparing means
  and stds, so it sees them rounded by ``coarse``.

What it cannot remove: scipy's L-BFGS-B does its own arithmetic with BLAS, and its iterates drift apart
between kernels (measured on the golden cases, SkylakeX against Katmai/Prescott: median 7e-14, 99th
percentile 4e-9 relative), so a rounding boundary can fall between them: 1 of 60 fits ended elsewhere
(by 6%), without changing that trace's decisions. An optimiser without BLAS would close this gap.
"""
from __future__ import annotations

from typing import Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

SIGNIFICANT_BITS = 24  # 2^-24 ~ 6e-8 relative: far above the 1e-14..1e-10 kernels leave in a value
GRID_STEP = 2.0 ** -24  # on_grid's absolute step

FloatArray = NDArray[np.float64]


@overload
def coarse(x: float, bits: int = SIGNIFICANT_BITS) -> float: ...
@overload
def coarse(x: ArrayLike, bits: int = SIGNIFICANT_BITS) -> FloatArray: ...
def coarse(x: Union[float, ArrayLike], bits: int = SIGNIFICANT_BITS) -> Union[float, FloatArray]:
    """x rounded to ``bits`` significant bits (mantissa rounded half to even); 0, inf and nan unchanged."""
    values = np.asarray(x, dtype=float)
    mantissa, exponent = np.frexp(values)
    with np.errstate(invalid="ignore"):
        out = np.ldexp(np.round(np.ldexp(mantissa, bits)), exponent - bits)
    out = np.where(np.isfinite(values), out, values)
    return float(out) if np.ndim(x) == 0 and not isinstance(x, np.ndarray) else out


def on_grid(x: ArrayLike, step: float = GRID_STEP) -> FloatArray:
    """x rounded to the nearest multiple of ``step`` (for values whose noise is absolute: a gradient)."""
    values = np.asarray(x, dtype=float)
    return np.where(np.isfinite(values), np.round(values / step) * step, values)


def argmin(values: ArrayLike) -> int:
    """The index of the smallest value by the rule (ties: the lowest index)."""
    return int(np.argmin(coarse(np.asarray(values, dtype=float))))


def argmax(values: ArrayLike) -> int:
    """The index of the largest value by the rule (ties: the lowest index)."""
    return int(np.argmax(coarse(np.asarray(values, dtype=float))))


def ascending(values: ArrayLike) -> NDArray[np.intp]:
    """Indices that sort the values from small to large by the rule (ties: lower index first)."""
    return np.argsort(coarse(np.asarray(values, dtype=float)), kind="stable")


def descending(values: ArrayLike) -> NDArray[np.intp]:
    """Indices that sort the values from large to small by the rule (ties: lower index first)."""
    return np.argsort(-coarse(np.asarray(values, dtype=float)), kind="stable")


def less(a: float, b: float) -> bool:
    """a < b by the rule: False when a and b round to the same value."""
    return coarse(float(a)) < coarse(float(b))


def at_most(a: float, b: float) -> bool:
    """a <= b by the rule (a threshold test: rEAR <= lambda): True when they round to the same value."""
    return coarse(float(a)) <= coarse(float(b))
