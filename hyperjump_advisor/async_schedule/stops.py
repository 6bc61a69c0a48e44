"""Rule 2, the last promotion stops (everything is a loss; rEAR = EAR / l*, l* as in RiskPolicy).

Once there is an incumbent, the remaining candidates D of the rung below the top (its promotable
configurations and those still running there) are checked as the paper's final hop: EAR(keep
{incumbent}, discard D) at the full budget R, with the GP's beliefs of D at R
(``risk.evaluate_jump_risk`` with one stage and no keep sizes). Only there, one rung below R: lower
rungs would need the GP to extrapolate a configuration seen at a small budget several rungs up, which
it does badly and over-confidently (measured on the cnn table: configurations 0.4-3% from the optimum
predicted at 0.4-0.85 loss +- 0.05 from their rung-0 results; stopping lower rungs on such beliefs
doubled the time to 1% regret at one worker), and ASHA's own top-1/eta rule already prunes them. And
only candidates whose belief explains their own evidence: the GP's mean at the largest budget c
completed must lie within :data:`~.beliefs.EXPLAIN_Z` standard deviations of what c measured there;
else the model is not trusted on c and c stays ASHA's (on cnn the fitted budget kernel can collapse,
linear variance ~1e-4, and the GP then predicts one loss at every budget: 0.30 +- 0.09 for a
configuration measured at 0.036). At rEAR <= lambda none of D is likely to hold the best: they are
never promoted, and the running ones are dropped (the engine kills them, as a synchronous jump kills
the running trials of a skipped stage). Later arrivals at rung k are new candidates.

Asynchronously this check runs after every result, on a few candidates at a time, and small pieces
would each pass where the whole would not (the EAR of discarding a set exceeds that of any of its
pieces). So, as Alg. 3 accumulates rEAR over the hops of one jump, rung k accumulates the rEAR of its
stops over a *virtual stage*: each block of n_k results, n_k the size of stage k of Hyperband's
bracket s_max; a stop is taken only while accumulated + rEAR <= lambda, and the budget is fresh with
the next block.
"""
from __future__ import annotations

import numpy as np

from .. import risk, ties
from ..schedule import Slot, SlotStatus
from .beliefs import RungBeliefs
from .rungs import asha_promotable
from .state import ASYNC_BRACKET, EventSink, Rungs


def stop_rungs(r: Rungs, eta: int, beliefs: RungBeliefs, on_event: EventSink) -> list[Slot]:
    """Rule 2: the last promotion stops when its remaining candidates are unlikely to hold the best.
    Returns the running slots it dropped (marked SKIPPED; the engine kills them)."""
    if not beliefs.ready or beliefs.policy.incumbent_loss() is None:
        return []
    dropped: list[Slot] = []
    threshold, scale, incumbent = beliefs.policy.options.threshold, beliefs.scale(), beliefs.policy.incumbent_loss()
    for k in range(max(r.top - 1, 0), r.top):  # the rung below the top (module docstring)
        promotable = [c for c in asha_promotable(r.result_pairs(k), eta, r.moved_on[k])
                      if c not in r.no_jump]
        if not promotable:
            continue
        stage = len(r.results[k]) // max(1, r.plan[k].n)      # the virtual stage of rung k
        if r.stop_rear[k][0] != stage:
            r.stop_rear[k] = [stage, 0.0]
        budget = threshold - r.stop_rear[k][1]
        if ties.at_most(threshold, r.stop_rear[k][1]):   # the rung's risk budget is spent (ties.py's rule)
            continue
        running = [x for x in r.running(k) if x.config_id not in r.no_jump and beliefs.explains(r, x.config_id)]
        promotable = [c for c in promotable if beliefs.explains(r, c)]
        if not promotable:
            continue
        candidates = promotable + [x.config_id for x in running]
        mean, std = beliefs.predict(candidates, beliefs.R)   # at the full budget
        belief = risk.StageBelief(mean, std, np.zeros(len(candidates), bool))
        decision = risk.evaluate_jump_risk([belief], [], eta, budget, scale, incumbent)
        if not decision.finishes_bracket:
            continue
        r.stop_rear[k][1] += float(decision.rear_per_hop[-1])
        r.moved_on[k].update(candidates)
        for x in running:
            x.status = SlotStatus.SKIPPED
        dropped.extend(running)
        on_event({"event": "promotion", "kind": "rung_stop", "bracket": ASYNC_BRACKET, "stage": k,
                  "to_stage": None, "rear_per_hop": [float(v) for v in decision.rear_per_hop],
                  "threshold": threshold, "risk_budget": budget, "scale": scale,
                  "incumbent_loss": incumbent, "kept_config_ids": [],
                  "discarded_config_ids": candidates})
    return dropped
