"""What a start in each bracket is worth, in random configurations trained at R, per second.

No NNI here. A configuration started in bracket s competes, in the long run, with eta^s - 1 others for
the one place at R their starts earn (asynchronous Hyperband promotes the top 1/eta of each rung). How
good the one that gets there is depends on how well each rung it passed ranks the configurations as R
does; what it cost is the seconds of those eta^s starts (:func:`bracket_allocation.bracket_seconds`).

The worth is counted in *effective samples*: the number n of configurations drawn at random and trained
at R whose best is as good, in expectation, as the survivor of the bracket. Effective samples add up over
brackets (the best of a + b random draws is the best of the two bests), so the experiment finds the
best configuration soonest by favouring the bracket with the most effective samples per second, the rate
:func:`rates` returns.

The survivor's quality comes from a model of the rungs: a configuration's score at R is a standard normal
z, and its score at a lower rung is a noisier view of its score at the next rung up (a Markov chain of
Gaussian views), so that the view at rung k correlates with z as the measured rank correlation between
that rung's budget and R says (Spearman's rho, turned into Pearson's by ``2 sin(pi rho / 6)``). Successive
halving on those views is simulated with a fixed seed, so the same correlations always give the same worth.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
from scipy import stats

from . import ties

CELLS = 50_000           # configurations simulated per bracket (split into draws of eta^s)
SEED = 20220222          # fixed: the worth is a function of the correlations alone


def pearson_of_spearman(rho: float) -> float:
    """Pearson's correlation of a bivariate normal whose Spearman's rho is ``rho`` (clipped to [0, 1])."""
    return 2.0 * math.sin(math.pi * min(1.0, max(0.0, rho)) / 6.0)


def expected_best_of(n: "float | np.ndarray") -> np.ndarray:
    """E[max of n standard normals], for real n >= 1: the integral of x n phi(x) Phi(x)^(n - 1) (the
    maximum's density) on a fine grid."""
    x = np.linspace(-9.0, 9.0, 1801)
    count = np.atleast_1d(np.asarray(n, dtype=float))[:, None]
    density = count * stats.norm.pdf(x) * np.exp((count - 1.0) * stats.norm.logcdf(x))
    return np.asarray(np.trapezoid(x * density, x, axis=1), dtype=float)


@lru_cache(maxsize=1)
def _best_of_table() -> tuple[np.ndarray, np.ndarray]:
    """(log n, E[max of n]) on a grid of n from 1 to 10^7, for :func:`effective_samples`."""
    log_n = np.linspace(0.0, math.log(1e7), 161)
    return log_n, expected_best_of(np.exp(log_n))


def effective_samples(score: float) -> float:
    """The n whose :func:`expected_best_of` is ``score`` (1 for a score no better than a random draw;
    interpolated in log n, at most 10^7)."""
    log_n, best = _best_of_table()
    return float(math.exp(np.interp(score, best, log_n)))


@lru_cache(maxsize=256)
def survivor_score(correlations: tuple[float, ...], eta: int) -> float:
    """E[z] of the configuration that reaches R out of eta^m started at the lowest of m + 1 rungs.

    ``correlations[i]``: Pearson's correlation of rung i's view with z, lowest rung first, the last one R's
    own (1). Made non-decreasing upwards (a lower rung cannot know more than the one above in this model)."""
    c = [min(1.0, max(0.0, x)) for x in correlations]
    c[-1] = 1.0
    for k in range(len(c) - 2, -1, -1):
        c[k] = min(c[k], c[k + 1])
    m = len(c) - 1
    n = eta ** m
    if m == 0:
        return 0.0
    draws = max(200, CELLS // n)
    rng = np.random.default_rng(SEED)
    views = [rng.standard_normal((draws, n))]         # views[0] is rung m (R): z itself
    for k in range(m - 1, -1, -1):
        a = c[k] / c[k + 1] if c[k + 1] > 0 else 0.0
        views.append(a * views[-1] + math.sqrt(max(0.0, 1.0 - a * a)) * rng.standard_normal((draws, n)))
    views.reverse()                                    # views[k] is rung k
    alive = np.tile(np.arange(n), (draws, 1))
    for k in range(m):
        keep = alive.shape[1] // eta
        seen = np.take_along_axis(views[k], alive, axis=1)
        best = np.argsort(-seen, axis=1, kind="stable")[:, :keep]
        alive = np.take_along_axis(alive, best, axis=1)
    return ties.coarse(float(np.take_along_axis(views[m], alive, axis=1).mean()))


def rates(rho_to_top: Sequence[Optional[float]], seconds: Sequence[float], eta: int) -> list[Optional[float]]:
    """Bracket s -> effective samples per second of a start there (None where a rho is not measured).

    ``rho_to_top[s]``: Spearman's rho between bracket s's starting budget and R (bracket 0 starts at R);
    ``rho_to_top[k]`` for k < s are the rungs its survivors pass later. ``seconds[s]``: expected seconds per
    start in bracket s, promotions included."""
    top = len(rho_to_top) - 1
    out: list[Optional[float]] = []
    for s in range(top + 1):
        path = [rho_to_top[i] for i in range(s, 0, -1)]   # its starting rung up to the rung below R
        if any(r is None for r in path):
            out.append(None)
            continue
        corr = tuple(round(pearson_of_spearman(float(r)) * 40) / 40 for r in path) + (1.0,)   # type: ignore[arg-type]
        worth = effective_samples(survivor_score(corr, eta))
        out.append(ties.coarse(worth / (eta ** s * max(seconds[s], 1e-9))))   # portable: ties.py
    return out
