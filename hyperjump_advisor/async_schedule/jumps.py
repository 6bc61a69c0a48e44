"""Rule 1, jumps past rungs (everything is a loss; rEAR = EAR / l*, l* as in RiskPolicy).

A configuration c promoted out of rung k goes to rung t > k+1 when skipping rungs k+1..t-1 is safe.
At rung j, ASHA would keep c only if c beat the rung's promotion bar q_j, the loss of the m-th best
result with m = max(1, floor((n_j + 1) / eta)) (c joining as the (n_j+1)-th result). Skipping rung j
keeps c unmeasured instead of the configuration at the bar: the paper's EAR with S = {c} (untested,
GP belief N(mu_c(b_j), sd_c(b_j)^2)) and D = {the bar} (tested, a point mass at q_j):

    EAR_j = E[(L_c(b_j) - q_j)^+] = E[(A_D - A_S)^+]   (risk.expected_loss_reduction)

the accuracy by which c may fall short of what rung j would have kept. As in Alg. 3 the jump is
extended rung by rung while sum_j rEAR_j <= lambda. An empty rung j has no measured bar: it is
predicted from the highest lower rung i with results, the m-th best GP mean at b_j of its
configurations (other than c) with m = max(1, floor((n_i + 1) / eta^(j-i))), since ASHA keeps 1/eta
per rung. A jump is taken only for a configuration whose own largest-budget result the GP explains
(``RungBeliefs.explains``; ``explain=False`` drops that condition, an ablation).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import risk, ties
from ..schedule import SlotStatus
from .beliefs import RungBeliefs
from .rungs import promotion_bar, rank_key
from .state import EventSink, Rungs


def rung_bar(r: Rungs, j: int, c: int, eta: int, beliefs: RungBeliefs) -> Optional[float]:
    """Rung j's promotion bar for c, measured, or predicted from the highest lower rung with results."""
    for i in range(j, -1, -1):
        others = [x for x, _ in r.result_pairs(i) if x != c]
        if not others:
            continue
        if i == j:
            return promotion_bar([rank_key(r.slots[j][x].loss) for x in others], eta)
        done = [x for x in others if r.slots[i][x].status is SlotStatus.DONE]
        if not done:
            return None
        mean, _ = beliefs.predict(done, r.plan[j].budget)
        return promotion_bar(list(mean), eta ** (j - i))
    return None


def jump_target(r: Rungs, c: int, k: int, eta: int, beliefs: RungBeliefs, explain: bool,
                on_event: EventSink) -> int:
    """k + 1, or further while the accumulated rEAR of skipping rungs stays <= lambda (rule 1)."""
    if k + 1 >= r.top or c in r.no_jump or not beliefs.ready:
        return k + 1
    if explain and not beliefs.explains(r, c):
        return k + 1                            # the model does not explain c's own result: no jump
    threshold, scale = beliefs.policy.options.threshold, beliefs.scale()
    target, accumulated, rears = k + 1, 0.0, []
    bars: list[Optional[float]] = []            # audit: rung j's bar (None: a failed result), measured or not
    measured: list[bool] = []
    for j in range(k + 1, r.top):               # skipping rung j sends c to rung j + 1
        bar = rung_bar(r, j, c, eta, beliefs)
        if bar is None:
            break
        bars.append(None if math.isinf(bar) else float(bar))
        measured.append(any(x != c for x in r.results[j]))
        mean, std = beliefs.predict([c], r.plan[j].budget)
        if math.isinf(bar):
            rear = 0.0                          # the bar is a failed result: c beats it surely
        else:
            belief = risk.StageBelief(np.array([mean[0], bar]), np.array([std[0], 0.0]), np.array([False, True]))
            rear = float(risk.expected_loss_reduction(belief, [True, False])[0]) / scale
        rears.append(rear)
        if not ties.at_most(accumulated + rear, threshold):
            break
        accumulated += rear
        target = j + 1
    if target > k + 1:
        on_event({"event": "async_jump_risk", "config_id": c, "stage": k, "to_stage": target,
                  "rear_per_rung": rears, "threshold": threshold, "scale": scale,
                  "incumbent_loss": beliefs.policy.incumbent_loss(),
                  "rung_budgets": [r.plan[j].budget for j in range(k + 1, k + 1 + len(rears))],
                  "bars": bars, "bar_measured": measured})
    return target
