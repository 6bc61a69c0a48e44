"""NEXT_CONF_TO_TEST (paper Sec. 3.2): test first the config whose pretend evaluation enables the longest safe jump."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import ties
from .beliefs import BoolArray, FloatArray, IndexArray, JumpDecision, StageBelief
from .candidates import Z90
from .ear import EarQuery, QueryRisk, StageRisk
from .jumps import HopMemo, PerQueryStageRisks, StageRisks, check_jump_inputs, jump_search
from .marginals import Marginals


class PretendStageRisks:
    """risks[0] -> one StageRisk of the current stage over all configs, built once and shared by the pretend
    evaluations of next_config_to_test (the pretend config is a row override; its mean and the incumbent are grid
    knots).  risks[h >= 1] -> QueryRisk (those queries involve only the small remaining set C)."""

    def __init__(self, beliefs: Sequence[StageBelief], noise_std: float, incumbent_loss: Optional[float],
                 pretend_values: FloatArray) -> None:
        self.beliefs, self.noise_std = beliefs, noise_std
        extra = list(pretend_values)
        if incumbent_loss is not None and len(beliefs) == 1:
            extra.append(float(incumbent_loss))
        self._stage0 = StageRisk(Marginals.from_belief(beliefs[0], noise_std), extra_knots=extra)

    def __getitem__(self, h: int) -> EarQuery:
        if h == 0:
            return self._stage0
        return QueryRisk(Marginals.from_belief(self.beliefs[h], self.noise_std))


def rank_one_variances(beliefs: Sequence[StageBelief], cross_cov: Sequence[FloatArray], c: int) -> list[FloatArray]:
    """Variances after observing config c at the current budget (value irrelevant for Gaussian conditioning):

        var_h'[i] = max(var_h[i] - cross_cov[h][i, c]**2 / cross_cov[0][c, c], 0),   var_h = beliefs[h].std**2.
    Returns the list of new std arrays (one (n,) per stage).  No change if cross_cov[0][c, c] <= 0.
    """
    prior = float(cross_cov[0][c, c])
    out: list[FloatArray] = []
    for b, cc in zip(beliefs, cross_cov):
        var = b.std ** 2
        if prior > 0:
            var = np.maximum(var - np.asarray(cc)[:, c] ** 2 / prior, 0.0)
        out.append(np.sqrt(var))
    return out


def _pretend_beliefs(beliefs: Sequence[StageBelief], c: int,
                     cross_cov: Optional[Sequence[FloatArray]]) -> list[StageBelief]:
    if cross_cov is None:
        return [beliefs[0].with_tested(c)] + list(beliefs[1:])
    stds = rank_one_variances(beliefs, cross_cov, c)
    new = [b.with_std(s) for b, s in zip(beliefs, stds)]
    new[0] = new[0].with_tested(c)
    return new


def _pretend_candidates(b0: StageBelief, untested: IndexArray, z: float, max_candidates: Optional[int]) -> IndexArray:
    """All untested configs, or the max_candidates with the lowest optimistic bound mean - z*std."""
    if max_candidates is None or max_candidates >= untested.size:
        return untested
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be >= 1 or None, got {max_candidates}")
    optimistic = b0.mean[untested] - z * b0.std[untested]
    return np.sort(untested[ties.ascending(optimistic)[:max_candidates]])


def _order_key(decision: JumpDecision, mean: float, c: int) -> tuple[int, float, float, int]:
    """Longest jump first (finishes_bracket has the largest hops), then lowest accumulated rEAR, mean (both by the
    tie rule), index."""
    return (-decision.hops, ties.coarse(decision.accumulated_rear), ties.coarse(mean), c)


def next_config_to_test(beliefs: list[StageBelief], keep_sizes: list[int], eta: int, threshold: float,
                        scale: float, incumbent_loss: Optional[float], z: float = Z90, noise_std: float = 0.0,
                        cross_cov: Optional[list[FloatArray]] = None, max_candidates: Optional[int] = None,
                        choosable: Optional[BoolArray] = None) -> int:
    """NEXT_CONF_TO_TEST (paper Sec. 3.2, supplement Alg. 1): the untested config whose pretend evaluation (tested at
    its predicted mean, GP not retrained) enables the longest jump (evaluate_jump_risk rules; finishing the bracket
    is the longest); ties -> lowest accumulated rEAR (accepted hops + the rejected one) -> lowest mean -> lowest index.

    cross_cov (optional, len(beliefs) arrays (n, n)): cross_cov[h][i, c] = cov(loss_i at stage s+h, loss_c now);
    then the pretend evaluation also shrinks variances by the rank-one update of ``rank_one_variances``.
    Shortcuts: a single untested config is returned directly; threshold <= 0 -> lowest mean untested.
    Raises ValueError when no config is untested.

    max_candidates (optional knob, default None = exact paper behaviour): pretend-evaluate only the max_candidates
    untested configs with the lowest optimistic bound mean - z*std (the ones most able to change the risk).

    choosable (optional (n,) bool): only these untested configs may be returned (the others are untested but
    already running in parallel: they stay uncertain in every pretend evaluation).

    Cost: without cross_cov the current stage's grid is built once and shared by all pretend evaluations (the pretend
    config is a row override) and hops h >= 1 are memoised per remaining set C; with cross_cov every pretend
    evaluation rebuilds its grids.  Timings in the module docstring.
    """
    check_jump_inputs(beliefs, keep_sizes, scale, cross_cov)
    b0 = beliefs[0]
    open_ = ~b0.tested if choosable is None else ~b0.tested & np.asarray(choosable, dtype=bool)
    untested = np.flatnonzero(open_)
    if untested.size == 0:
        raise ValueError("next_config_to_test: no untested (choosable) config in the current stage")
    if untested.size == 1:
        return int(untested[0])
    if threshold <= 0:
        return int(untested[ties.argmin(b0.mean[untested])])
    candidates = _pretend_candidates(b0, untested, z, max_candidates)
    memo = HopMemo() if cross_cov is None else None   # beliefs[h >= 1] are the same for every pretend evaluation
    shared: Optional[PretendStageRisks] = None
    if cross_cov is None and noise_std <= 0:          # the pretend config is an exact point mass: row override
        shared = PretendStageRisks(beliefs, noise_std, incumbent_loss, pretend_values=b0.mean[candidates])
    best_key: Optional[tuple[int, float, float, int]] = None
    best_c = int(untested[0])
    for c in map(int, candidates):
        pretend_beliefs = _pretend_beliefs(beliefs, c, cross_cov)
        risks: StageRisks
        pretend: Optional[tuple[int, float]]
        if shared is None:
            risks, pretend = PerQueryStageRisks(pretend_beliefs, noise_std), None
        else:
            risks, pretend = shared, (c, float(b0.mean[c]))
        decision = jump_search(pretend_beliefs, risks, keep_sizes, eta, threshold, scale, incumbent_loss, z,
                               pretend=pretend, memo=memo)
        key = _order_key(decision, float(b0.mean[c]), c)
        if best_key is None or key < best_key:
            best_key, best_c = key, c
    return best_c
