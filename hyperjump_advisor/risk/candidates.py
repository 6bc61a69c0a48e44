"""Alg. 2 (GET_CANDIDATES_FOR_S): the few candidate sets S of a hop that the jump search compares."""
from __future__ import annotations

import numpy as np

from .. import ties
from .beliefs import IndexArray, StageBelief

Z90 = 1.2815515655446004  # one-sided 90% normal quantile: LCB/UCB = mean -/+ Z90 * std


def _floor_log(x: int, base: int) -> int:
    """floor(log_base x) in exact integer arithmetic (x >= 1, base >= 2)."""
    k, p = 0, base
    while p <= x:
        k, p = k + 1, p * base
    return k


def _swapped(k_by_badness: IndexArray, e_by_goodness: IndexArray, r: int) -> IndexArray:
    """K minus its r worst, plus the r best of E (r capped at |E|); both inputs are ranked arrays of indices."""
    r = min(r, e_by_goodness.size)
    if r == 0:
        return np.sort(k_by_badness)
    return np.sort(np.concatenate([k_by_badness[r:], e_by_goodness[:r]]))


def candidate_sets(belief: StageBelief, n_keep: int, eta: int, z: float = Z90) -> list[IndexArray]:
    """Alg. 2 (GET_CANDIDATES_FOR_S): 1 + 2*floor(log_eta n_keep) candidate sets S of size n_keep.

    K = the n_keep lowest means (ties: lower index first), E = C \\ K.  For i = 1..floor(log_eta n_keep), with
    r_i = floor(n_keep / eta**i): swap the r_i worst of K by mean for the r_i best of E by mean; then the same with K
    ranked by the pessimistic bound mean + z*std (largest = worst) and E by the optimistic bound mean - z*std
    (smallest = best).  Tested configs have std 0 here.  r_i is capped at |E| (only matters when n_keep > n - r_i).
    Returns sorted index arrays, K first, then the mean swaps (i = 1, 2, ...), then the bound swaps.
    Duplicates are returned as they arise (e.g. when no config is uncertain the bound swaps equal the mean swaps).
    n_keep >= n -> [arange(n)].
    """
    n, n_keep, eta = belief.n, int(n_keep), int(eta)
    if n_keep < 1 or eta < 2:
        raise ValueError(f"candidate_sets needs n_keep >= 1 and eta >= 2, got n_keep={n_keep}, eta={eta}")
    if n_keep >= n:
        return [np.arange(n)]
    mean = belief.mean
    std = np.where(belief.tested, 0.0, belief.std)
    by_mean = ties.ascending(mean)
    k_set, e_set = by_mean[:n_keep], by_mean[n_keep:]
    k_worst_first_mean = k_set[::-1]                                    # by_mean is ascending loss
    # pessimistic bound, largest first; ties -> worse mean first (so with std 0 this equals the mean ranking)
    k_worst_first_ucb = k_worst_first_mean[ties.descending((mean + z * std)[k_worst_first_mean])]
    e_best_first_lcb = e_set[ties.ascending(mean[e_set] - z * std[e_set])]
    levels = range(1, _floor_log(n_keep, eta) + 1)
    out = [np.sort(k_set)]
    out += [_swapped(k_worst_first_mean, e_set, n_keep // eta ** i) for i in levels]
    out += [_swapped(k_worst_first_ucb, e_best_first_lcb, n_keep // eta ** i) for i in levels]
    return out
