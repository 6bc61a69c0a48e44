"""Which bracket starts the next configuration, learned from the workload (``learned_brackets: true``).

No NNI here. Asynchronous Hyperband gives every bracket the same budget: bracket s starts at rung
``top - s`` and each start is charged Hyperband's budget per configuration of s. Two things it
assumes fail on real workloads, and the diagnostics (``diagnostics.py``) measure both:

- *Cost.* A budget unit does not cost the same seconds at every budget (the replay measured, on the
  cnn table, 21 s for budget 1, 110-150 s for budget 2 and about 600 s for budgets 8 and 16). Each
  start is charged the seconds a configuration of bracket s is expected to use: its first rung from
  scratch, then each later rung's increment weighted by the fraction Hyperband promotes there
  (1 / eta per rung), from the measured medians (:func:`bracket_seconds`).
- *Information.* A bracket that starts at a low rung is worth its cheapness only when its rungs rank the
  configurations as the full budget does. As Hyper-Tune's bracket selection (Li et al., VLDB 2022)
  weighs brackets by how consistently their fidelities rank the top one, bracket s gets a share of the
  seconds proportional to its effective samples per second (``bracket_value.py``: how many random
  configurations trained at R the survivor of its eta^s starts is worth, from Spearman's rho between each
  rung it passes and R, per second those starts cost), once each of those rungs has :data:`MIN_PAIRS`
  configurations measured at its budget and at R; until then it is weighed as the mean of the measured
  brackets. Every bracket keeps at least :data:`FLOOR` of an equal share (late bloomers are still judged
  at larger budgets: Hyperband's guarantee).

The next start goes to the bracket with the least seconds charged per unit of its share,
``count_s * seconds_s / share_s``; ties to the least aggressive bracket (s = 0), so the very first
configuration still runs at R. Before any duration is measured, seconds are budget units and the shares
equal: the rule is asynchronous Hyperband's.
"""
from __future__ import annotations

from typing import Optional, Sequence

MIN_PAIRS = 10     # configurations measured at both budgets before rho weighs a bracket
FLOOR = 0.5        # each bracket's share is at least FLOOR / (number of brackets)


def step_seconds(budgets: Sequence[int], fresh: Sequence[Optional[float]],
                 resumed: Sequence[Optional[float]]) -> tuple[list[float], list[float]]:
    """(seconds to train rung k from scratch, seconds to go from rung k - 1 to k by resuming), per rung.

    ``fresh[k]``: the measured median from scratch at budgets[k] (None: not measured); ``resumed[k]``: the
    measured median from budgets[k - 1] to budgets[k] (None: not measured; resumed[0] is unused). A missing
    fresh cost is the nearest measured one scaled by the budget ratio (budget units when none is); a missing
    increment is the difference of the fresh costs (at least 0)."""
    known = [k for k, s in enumerate(fresh) if s is not None]
    scratch: list[float] = []
    for k, b in enumerate(budgets):
        s = fresh[k]
        if s is None:
            if known:
                near = min(known, key=lambda j: (abs(j - k), j))
                s = float(fresh[near]) * b / budgets[near]  # type: ignore[arg-type]
            else:
                s = float(b)
        scratch.append(float(s))
    steps = [scratch[0]]
    for k in range(1, len(budgets)):
        r = resumed[k]
        steps.append(float(r) if r is not None else max(0.0, scratch[k] - scratch[k - 1]))
    return scratch, steps


def bracket_seconds(scratch: Sequence[float], steps: Sequence[float], eta: int, resume: bool) -> list[float]:
    """Bracket s -> expected seconds per configuration it starts: rung top - s from scratch, then each later
    rung with probability eta^-i, by resuming (``resume``) or from scratch."""
    top = len(scratch) - 1
    out = []
    for s in range(top + 1):
        j = top - s
        total = scratch[j]
        for i, k in enumerate(range(j + 1, top + 1), start=1):
            total += (steps[k] if resume else scratch[k]) / eta ** i
        out.append(total)
    return out


def bracket_shares(rates: Sequence[Optional[float]], floor: float = FLOOR) -> list[float]:
    """Bracket s -> its share of the seconds (sum 1), proportional to its effective samples per second
    (``rates[s]``; None: not measured, weighed as the mean of the measured ones; equal shares when none is)."""
    known = [float(r) for r in rates if r is not None and r > 0]
    n = len(rates)
    if not known:
        return [1.0 / n] * n
    mean = sum(known) / len(known)
    weights = [mean if r is None else max(0.0, float(r)) for r in rates]
    total = sum(weights)
    return [floor / n + (1 - floor) * w / total for w in weights]


def choose_bracket(counts: Sequence[int], seconds: Sequence[float], shares: Sequence[float]) -> int:
    """The bracket with the least seconds charged per unit of share; ties: the smallest s."""
    return min(range(len(counts)), key=lambda s: (counts[s] * seconds[s] / shares[s], s))
