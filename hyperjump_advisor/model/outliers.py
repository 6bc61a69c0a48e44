"""Diverged losses tamed before the GP sees them.

A diverged training run can report a finite but absurd loss (1e200): standardising with it squares
it past the largest float, and even a survivable 1e100 squashes every other target to the same
value. Losses more than ``SPREADS`` robust spreads from the median (orders of magnitude away) are
clipped to that bound: the
model still learns that the configuration is much worse than the others, order is kept (ties at the
bound aside), and ordinary learning curves, whose losses lie well inside, are untouched. The spread
is the median absolute deviation (scaled to a normal's std; half the losses can be absurd before it
moves), floored at 1% of the median's magnitude (and 1e-9) so that many identical losses (runs stuck
at chance level) do not make the good ones outliers: with that floor nothing between 0 and twice the
median is ever clipped.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SPREADS = 100.0
_MAD_TO_STD = 1.4826
# median - 100 x (1% of the median) rounds to about 1e-16, not 0: the bound keeps this much slack so that
# "nothing between 0 and twice the median is clipped" holds in floating point (a loss of exactly 0 stays 0)
_ROUNDING = 1e-9


def tame_outliers(losses: NDArray[np.float64]) -> NDArray[np.float64]:
    if losses.size < 3:
        return losses
    median = float(np.median(losses))
    deviation = float(np.median(np.abs(losses - median)))
    spread = max(_MAD_TO_STD * deviation, 0.01 * abs(median), 1e-9)
    reach = SPREADS * spread * (1 + _ROUNDING)
    return np.clip(losses, median - reach, median + reach)
