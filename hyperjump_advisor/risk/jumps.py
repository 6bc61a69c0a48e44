"""Alg. 3 (EVALUATE_JUMP_RISK): extend a jump hop by hop while the accumulated rEAR stays under lambda."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence, TypeVar

import numpy as np

from .. import ties
from .beliefs import FloatArray, IndexArray, JumpDecision, StageBelief
from .candidates import Z90, candidate_sets
from .ear import EarQuery, QueryRisk
from .marginals import Marginals

K = TypeVar("K")
V = TypeVar("V")


class StageRisks(Protocol):
    """risks[h]: the EAR queries of stage s+h (h = 0 is the current stage)."""

    def __getitem__(self, h: int) -> EarQuery: ...


class PerQueryStageRisks:
    """risks[h] -> QueryRisk of stage h (a grid per query; used for single evaluations and the cross_cov variant)."""

    def __init__(self, beliefs: Sequence[StageBelief], noise_std: float) -> None:
        self.beliefs, self.noise_std = beliefs, noise_std

    def __getitem__(self, h: int) -> QueryRisk:
        return QueryRisk(Marginals.from_belief(self.beliefs[h], self.noise_std))


@dataclass
class HopMemo:
    """Outcomes of hops h >= 1 and of the final hop, keyed by the remaining set C (``C.tobytes()``).

    Valid across calls whose beliefs[h >= 1] are identical (the pretend evaluations without cross_cov)."""
    hops: dict[tuple[int, bytes], tuple[float, IndexArray]] = field(default_factory=dict)
    finishes: dict[bytes, float] = field(default_factory=dict)


def _unique_rows(sets: list[IndexArray]) -> list[IndexArray]:
    """The candidate sets without repeats (Alg. 2 may produce the same set twice), first occurrence kept."""
    seen: set[bytes] = set()
    out: list[IndexArray] = []
    for s in sets:
        key = s.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _best_hop(belief: StageBelief, remaining: IndexArray, n_keep: int, eta: int, z: float, risk: EarQuery,
              pretend: Optional[tuple[int, float]]) -> tuple[float, IndexArray]:
    """One hop: min over candidate sets X of EAR(keep X, discard C \\ X); returns (min EAR, argmin X as indices)."""
    local_sets = _unique_rows(candidate_sets(belief.subset(remaining), n_keep, eta, z))
    n = belief.n
    keep = np.zeros((len(local_sets), n), bool)
    for r, s in enumerate(local_sets):
        keep[r, remaining[s]] = True
    in_c = np.zeros(n, bool)
    in_c[remaining] = True
    ears = risk.ear(keep, in_c[None, :] & ~keep, pretend=pretend)
    best = ties.argmin(ears)
    return float(ears[best]), remaining[local_sets[best]]


def _finish_risk(remaining: IndexArray, belief: StageBelief, risk: EarQuery, incumbent_loss: float,
                 pretend: Optional[tuple[int, float]]) -> float:
    """EAR of ending the bracket: discard the untested of C, keep its tested ones plus the incumbent (point mass)."""
    tested = belief.tested.copy()
    if pretend is not None:
        tested[pretend[0]] = True
    in_c = np.zeros(belief.n, bool)
    in_c[remaining] = True
    keep, discard = in_c & tested, in_c & ~tested
    return float(risk.ear(keep[None, :], discard[None, :], pretend=pretend, keep_point=incumbent_loss)[0])


def jump_search(beliefs: Sequence[StageBelief], risks: StageRisks, keep_sizes: Sequence[int], eta: int,
                threshold: float, scale: float, incumbent_loss: Optional[float], z: float,
                pretend: Optional[tuple[int, float]] = None, memo: Optional[HopMemo] = None) -> JumpDecision:
    """Alg. 3 core (no guards).  beliefs[0] already reflects ``pretend`` for ranking; risks[0] gets it as override.

    memo: optional HopMemo reused across calls whose beliefs[h >= 1] are identical (the pretend evaluations without
    cross_cov): the outcome of a hop h >= 1 depends only on (h, C), so it is computed once per distinct C.
    """
    n_hops = len(beliefs) - 1
    remaining: IndexArray = np.arange(beliefs[0].n)
    accumulated, rears = 0.0, []
    hop_memo = None if memo is None else memo.hops
    finish_memo = None if memo is None else memo.finishes
    for h in range(n_hops):                                            # hop from stage s+h to s+h+1
        ear, chosen = _memoized(hop_memo, (h, remaining.tobytes()) if h > 0 else None, lambda: _best_hop(
            beliefs[h], remaining, keep_sizes[h], eta, z, risks[h], pretend if h == 0 else None))
        rears.append(ear / scale)
        if not ties.at_most(accumulated + rears[-1], threshold):       # paper Alg. 3 line 7
            return JumpDecision(h, False, remaining if h > 0 else np.empty(0, int), rears)
        accumulated += rears[-1]
        remaining = chosen
    if incumbent_loss is not None:                                     # final hop: skip the last stage
        ear = _memoized(finish_memo, remaining.tobytes() if n_hops > 0 else None, lambda: _finish_risk(
            remaining, beliefs[n_hops], risks[n_hops], incumbent_loss, pretend if n_hops == 0 else None))
        rears.append(ear / scale)
        if ties.at_most(accumulated + rears[-1], threshold):
            return JumpDecision(n_hops + 1, True, np.empty(0, int), rears)
    return JumpDecision(n_hops, False, remaining if n_hops > 0 else np.empty(0, int), rears)


def _memoized(memo: Optional[dict[K, V]], key: Optional[K], compute: Callable[[], V]) -> V:
    if memo is None or key is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def check_jump_inputs(beliefs: Sequence[StageBelief], keep_sizes: Sequence[int], scale: float,
                      cross_cov: Optional[Sequence[FloatArray]] = None) -> None:
    if len(beliefs) < 1:
        raise ValueError("beliefs must hold at least the current stage")
    n = beliefs[0].n
    if any(b.n != n for b in beliefs):
        raise ValueError("all beliefs must describe the same n configs")
    if len(keep_sizes) != len(beliefs) - 1:
        raise ValueError(f"keep_sizes needs len(beliefs) - 1 = {len(beliefs) - 1} entries, got {len(keep_sizes)}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if cross_cov is not None:
        if len(cross_cov) != len(beliefs) or any(np.shape(cc) != (n, n) for cc in cross_cov):
            raise ValueError(f"cross_cov must hold len(beliefs) matrices of shape ({n}, {n})")


def evaluate_jump_risk(beliefs: list[StageBelief], keep_sizes: list[int], eta: int, threshold: float,
                       scale: float, incumbent_loss: Optional[float], z: float = Z90,
                       noise_std: float = 0.0) -> JumpDecision:
    """Alg. 3 (EVALUATE_JUMP_RISK), multi-hop.

    beliefs[0]: current stage s; beliefs[h] (h >= 1): the same configs at the budget of stage s+h (GP predictions).
    keep_sizes[h]: size of stage s+h+1, h = 0..len(beliefs)-2.   rEAR = EAR / scale.
    Hop h: C = remaining set; S* = argmin over candidate_sets(beliefs[h] | C, keep_sizes[h]) of
    rEAR(keep S, discard C \\ S) at beliefs[h]; accepted while accumulated + minRisk <= threshold (lambda); C = S*.
    After all hops, with an incumbent: final hop rEAR = EAR(keep incumbent point mass + tested of C,
    discard untested of C) / scale at the last stage's belief; accepted -> finishes_bracket (hops = len(beliefs)).
    (Tested configs of C are kept in the final hop: their loss is known, discarding them risks nothing; beyond the
    current stage all configs are untested, so this only matters when the current stage is the last one.)
    threshold <= 0 or no untested config in the current stage -> hops = 0 with no risk evaluated.
    """
    check_jump_inputs(beliefs, keep_sizes, scale)
    if threshold <= 0 or beliefs[0].tested.all():
        return JumpDecision(0, False, np.empty(0, int), [])
    risks = PerQueryStageRisks(beliefs, noise_std)
    return jump_search(beliefs, risks, keep_sizes, eta, threshold, scale, incumbent_loss, z)
