"""``exec_mode: async``: ASHA's rungs at Hyperband's budgets, with HyperJump's risk deciding jumps.

No NNI here. The engine drives :class:`AsyncScheduler` through the same three calls as the
synchronous :class:`~hyperjump_advisor.schedule.Scheduler` (``next_slot``, ``finish``, ``revise``)
and installs HyperJump's :class:`~hyperjump_advisor.jumping.RiskPolicy` as ``policy``; the scheduler
reads only the policy's posterior, encodings, incumbent and options (its sync ``choose`` and
``decide_jump`` are not used).

Rungs and brackets (asynchronous Hyperband; Li et al., MLSys 2020)
------------------------------------------------------------------
Rung k runs at Hyperband's budget ``b_k = floor(r0 eta^k)`` of its most aggressive bracket
s_max (``bracket_plan(s_max, R, eta)``: for R=81, eta=3 the budgets 1, 3, 9, 27, 81). Every
configuration starts in one of Hyperband's brackets s = 0..s_max, i.e. at rung ``top - s``: the
bracket whose starts have been charged the least budget so far, each start charged Hyperband's budget
per configuration of its bracket (``bracket_start_costs``; ties go to s = 0). So every bracket gets
the same budget, as in Hyperband, and the very first configuration runs at R: the first incumbent
comes as early as random search's, and configurations whose low-budget results mislead (late
bloomers) are still judged at larger budgets. The rungs are shared: a configuration started at rung j
is ranked with every other result of rung j. ``several_brackets=False`` starts every configuration at
rung 0 (ASHA's one bracket; measured slower, see the README).

``next_slot`` is ASHA's ``get_job``: from the top rung down, the best configuration of rung k that
ranks in the top ``floor(n_k / eta)`` of the n_k results rung k has seen (a failed trial counts as
the worst result) and has not moved on is promoted; when nothing can be promoted a new
configuration starts. One addition (``challengers``): when ASHA's rule gives nothing at rung k, a
result that is the best rung k has seen and beats the incumbent (the best loss at R; any result,
before there is one) moves up at once. ASHA needs eta results at a rung before anything leaves it,
so a configuration that is already better at a small budget than anything measured at R waited for
eta - 1 others there; it is the likeliest next incumbent, and records are rare (about ln n of n
results), so the extra promotions cost little. Measured in the replay (6 seeds): time to 10% regret
on cnn at 8 workers 128 s -> 93 s, mnist at 1 worker 542 s -> 391 s; to 1% on cnn_time3 at 1 worker
1,976 s -> 1,634 s. New configurations come from the searcher in batches of
:data:`NEW_CONFIG_BATCH` (so ``random_fraction`` splits a batch as it splits a bracket), the
model-chosen ones first, never one that has run before.

HyperJump's risk, asynchronously (everything is a loss; rEAR = EAR / l*, l* as in RiskPolicy)
-----------------------------------------------------------------------------------------
1. *Jump past rungs.* A configuration c promoted out of rung k goes to rung t > k+1 when skipping
   rungs k+1..t-1 is safe. At rung j, ASHA would keep c only if c beat the rung's promotion bar
   q_j, the loss of the m-th best result with m = max(1, floor((n_j + 1) / eta)) (c joining as the
   (n_j+1)-th result). Skipping rung j keeps c unmeasured instead of the configuration at the bar:
   the paper's EAR with S = {c} (untested, GP belief N(mu_c(b_j), sd_c(b_j)^2)) and D = {the bar}
   (tested, a point mass at q_j):

       EAR_j = E[(L_c(b_j) - q_j)^+] = E[(A_D - A_S)^+]   (risk.expected_loss_reduction)

   the accuracy by which c may fall short of what rung j would have kept. As in Alg. 3 the jump
   is extended rung by rung while sum_j rEAR_j <= lambda. An empty rung j has no measured bar: it is
   predicted from the highest lower rung i with results, the m-th best GP mean at b_j of its
   configurations (other than c) with m = max(1, floor((n_i + 1) / eta^(j-i))), since ASHA keeps
   1/eta per rung.
2. *The last promotion stops.* Once there is an incumbent, the remaining candidates D of the rung
   below the top (its promotable configurations and those still running there) are checked as the
   paper's final hop: EAR(keep {incumbent}, discard D) at the full budget R, with the GP's beliefs
   of D at R (``risk.evaluate_jump_risk`` with one stage and no keep sizes). Only there, one rung
   below R: lower rungs would need the GP to extrapolate a configuration seen at a small budget
   several rungs up, which it does badly and over-confidently (measured on the cnn table:
   configurations 0.4-3% from the optimum predicted at 0.4-0.85 loss +- 0.05 from their rung-0
   results; stopping lower rungs on such beliefs doubled the time to 1% regret at one worker), and
   ASHA's own top-1/eta rule already prunes them. And only candidates whose belief explains their
   own evidence: the GP's mean at the largest budget c completed must lie within
   :data:`EXPLAIN_Z` standard deviations of what c measured there; else the model is not trusted
   on c and c stays ASHA's (on cnn the fitted budget kernel can collapse, linear variance ~1e-4,
   and the GP then predicts one loss at every budget: 0.30 +- 0.09 for a configuration measured at
   0.036). At rEAR <= lambda none of D is likely to
   hold the best: they are never promoted, and the running ones are dropped (the engine
   kills them, as a synchronous jump kills the running trials of a skipped stage). Later arrivals
   at rung k are new candidates. Asynchronously this check runs after every result, on a few
   candidates at a time, and small pieces would each pass where the whole would not (the EAR of
   discarding a set exceeds that of any of its pieces). So, as Alg. 3 accumulates rEAR over the hops
   of one jump, rung k accumulates the rEAR of its stops over a *virtual stage*: each block of n_k
   results, n_k the size of stage k of Hyperband's bracket s_max; a stop is taken only while
   accumulated + rEAR <= lambda, and the budget is fresh with the next block.

A configuration drawn with probability ``p_no_jump`` (``no_jump``) runs plain ASHA: it never jumps
and no risk rule drops it. With the threshold at 0, or before the model is ready, it is ASHA.

Protocol guarantees: every slot resolves (DONE, FAILED, or SKIPPED by our kill); a result counts
once; a final metric that comes after the slot was counted failed revises it (``revise``).
State: :meth:`AsyncScheduler.to_dict` / :meth:`AsyncScheduler.load_dict` (JSON-ready).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import numpy as np

from . import risk
from .schedule import StagePlan, Slot, SlotStatus, bracket_plan, max_bracket_index

EXPLAIN_Z = 2.0         # rule 2 trusts the GP on a candidate only within this many std of its own measurement
NEW_CONFIG_BATCH = 10   # new configurations proposed at once: random_fraction 0.3 -> 3 random, 7 by EI
ASYNC_BRACKET = 0       # every async slot has bracket_id 0 (the ledger keys slots by bracket, stage, config)

EventSink = Callable[[dict[str, Any]], None]


# ---- pure rung arithmetic ---------------------------------------------------------------------------------
def rung_plan(R: int, eta: int) -> list[StagePlan]:
    """The rungs: Hyperband's most aggressive bracket (n is Hyperband's, nominal here)."""
    return bracket_plan(max_bracket_index(R, eta), R, eta)


def bracket_start_costs(R: int, eta: int) -> list[float]:
    """Bracket s -> the budget Hyperband spends per configuration it starts in bracket s (all its stages)."""
    costs = []
    for s in range(max_bracket_index(R, eta) + 1):
        plan = bracket_plan(s, R, eta)
        costs.append(sum(st.n * st.budget for st in plan) / max(1, plan[0].n))
    return costs


def least_allocated_bracket(allocated: list[float]) -> int:
    """The bracket whose starts have been charged the least budget; ties go to the least aggressive one
    (s = 0, the full budget), so the very first configuration runs at R."""
    return min(range(len(allocated)), key=lambda s: (allocated[s], s))


def _queues(stored: list[Any]) -> list[list[int]]:
    """The per-rung queues of a stored state; a one-bracket version stored one flat queue (rung 0's)."""
    if all(not isinstance(q, list) for q in stored):
        return [[int(c) for c in stored]] if stored else []
    return [[int(c) for c in q] for q in stored]


def rank_key(loss: Optional[float]) -> float:
    """A failed result (None) ranks as the worst."""
    return math.inf if loss is None else loss


def asha_promotable(results: list[tuple[int, Optional[float]]], eta: int, moved_on: set[int]) -> list[int]:
    """ASHA's candidates of one rung, best first: the top floor(n / eta) of its n results (in arrival
    order, None = failed, ties: earlier first) that have not moved on; failed ones never move on."""
    ranked = sorted(results, key=lambda r: rank_key(r[1]))   # stable: ties keep arrival order
    top = ranked[:len(results) // eta]
    return [c for c, loss in top if loss is not None and c not in moved_on]


def challengers(results: list[tuple[int, Optional[float]]], moved_on: set[int],
                incumbent: Optional[float]) -> list[int]:
    """The best result of a rung (ties: earlier first) when it has not moved on and beats the incumbent (or
    there is none yet): before ASHA's top 1/eta holds it, it is likely to be the next incumbent."""
    done = [(c, loss) for c, loss in results if loss is not None]
    if not done:
        return []
    c, loss = min(done, key=lambda r: r[1])
    if c in moved_on or (incumbent is not None and loss >= incumbent):
        return []
    return [c]


def promotion_bar(losses: list[float], divisor: int) -> Optional[float]:
    """The loss a newcomer must beat to rank in the top max(1, floor((n + 1) / divisor)) of n + 1."""
    if not losses:
        return None
    m = max(1, (len(losses) + 1) // divisor)
    return sorted(losses)[min(m, len(losses)) - 1]


# ---- the state ------------------------------------------------------------------------------------------
@dataclass
class Rungs:
    """Mutable state of the rungs, in one serialisable place."""
    plan: list[StagePlan]
    slots: list[dict[int, Slot]] = field(default_factory=list)   # rung -> config -> slot (arrival order)
    results: list[list[int]] = field(default_factory=list)       # rung -> configs in the order results came
    moved_on: list[set[int]] = field(default_factory=list)       # rung -> promoted out of it, or dropped there
    no_jump: set[int] = field(default_factory=set)
    queue: list[list[int]] = field(default_factory=list)         # rung -> proposed configurations not started yet
    stop_rear: list[list[float]] = field(default_factory=list)   # rung -> [virtual stage, rEAR its stops spent]
    allocated: list[float] = field(default_factory=list)         # bracket s -> budget its starts were charged

    def __post_init__(self) -> None:
        for attr, make in (("slots", dict), ("results", list), ("moved_on", set), ("stop_rear", lambda: [0, 0.0]),
                           ("allocated", float), ("queue", list)):
            rows = getattr(self, attr)
            while len(rows) < len(self.plan):
                rows.append(make())

    @property
    def top(self) -> int:
        return len(self.plan) - 1

    def slot(self, stage: int, config_id: int) -> Slot:
        return self.slots[stage][config_id]

    def result_pairs(self, k: int) -> list[tuple[int, Optional[float]]]:
        return [(c, self.slots[k][c].loss) for c in self.results[k]]

    def running(self, k: int) -> list[Slot]:
        return [x for x in self.slots[k].values() if x.status is SlotStatus.RUNNING]

    def add(self, k: int, config_id: int) -> Slot:
        slot = Slot(ASYNC_BRACKET, k, config_id, self.plan[k].budget, SlotStatus.RUNNING)
        self.slots[k][config_id] = slot
        return slot

    # ---- JSON ----
    def to_dict(self) -> dict[str, Any]:
        return {"plan": [[p.n, p.budget] for p in self.plan],
                "slots": [[[x.config_id, x.status.value, x.loss] for x in rung.values()] for rung in self.slots],
                "results": [list(r) for r in self.results],
                "moved_on": [sorted(m) for m in self.moved_on],
                "no_jump": sorted(self.no_jump), "queue": [list(q) for q in self.queue],
                "stop_rear": [[int(v), float(r)] for v, r in self.stop_rear],
                "allocated": [float(a) for a in self.allocated]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Rungs":
        plan = [StagePlan(int(n), int(b)) for n, b in d["plan"]]
        slots = [{int(c): Slot(ASYNC_BRACKET, k, int(c), plan[k].budget, SlotStatus(status),
                               None if loss is None else float(loss)) for c, status, loss in rung}
                 for k, rung in enumerate(d["slots"])]
        rungs = cls(plan, slots, [[int(c) for c in r] for r in d["results"]],
                    [set(int(c) for c in m) for m in d["moved_on"]], set(int(c) for c in d["no_jump"]),
                    _queues(d["queue"]), [[int(v), float(r)] for v, r in d["stop_rear"]],
                    [float(a) for a in d.get("allocated", [])])   # absent in states of one-bracket versions
        rungs.check()
        return rungs

    def check(self) -> None:
        """What a corrupt state could hold that parses (ValueError)."""
        if not (len(self.slots) == len(self.results) == len(self.moved_on) == len(self.stop_rear)
                == len(self.allocated) == len(self.queue) == len(self.plan)):
            raise ValueError("the rungs do not match the plan")
        for k, rung in enumerate(self.slots):
            for x in rung.values():
                if (x.status is SlotStatus.DONE) != (x.loss is not None and math.isfinite(x.loss)):
                    raise ValueError(f"rung {k} has a slot {x.status.value} with loss {x.loss!r}")
                if x.status is SlotStatus.PENDING:
                    raise ValueError(f"rung {k} has a pending slot")
            done = {c for c, x in rung.items() if x.status in (SlotStatus.DONE, SlotStatus.FAILED)}
            if set(self.results[k]) != done or len(self.results[k]) != len(done):
                raise ValueError(f"rung {k}'s results do not match its slots")
        if not all(math.isfinite(a) and a >= 0 for a in self.allocated):
            raise ValueError("a bracket's allocated budget is not a finite number >= 0")


# ---- the scheduler ----------------------------------------------------------------------------------------
class AsyncScheduler:
    """ASHA with HyperJump's risk (module docstring). ``new_configs(n, budget)`` returns n new config ids to
    start at ``budget`` (none that ran at that budget or above);
    ``draw_no_jump()`` says whether a new configuration runs plain ASHA (probability p_no_jump)."""

    def __init__(self, R: int, eta: int, new_configs: Callable[[int, int], list[int]],
                 draw_no_jump: Callable[[], bool] = lambda: False, on_event: Optional[EventSink] = None,
                 several_brackets: bool = True, promote_challengers: bool = True):
        self.R, self.eta = R, eta
        self.new_configs = new_configs
        self.draw_no_jump = draw_no_jump
        self.on_event: EventSink = on_event or (lambda record: None)
        self.rungs = Rungs(rung_plan(R, eta))
        self.iteration_plans = [self.rungs.plan]   # what the engine reads for the schedule's budgets
        self.several_brackets = several_brackets   # False: every configuration starts at rung 0 (ASHA's one bracket)
        self.start_costs = bracket_start_costs(R, eta)
        self.promote_challengers = promote_challengers  # a rung's best result that beats the incumbent moves up at once
        self.explain_jumps = True                  # rule 1 only for configurations the model explains (EXPLAIN_Z)
        self.policy: Any = None                     # the engine installs a RiskPolicy when jumping is on

    @property
    def brackets(self) -> list:
        """The synchronous schedule's brackets: none here (the state is ``rungs``)."""
        return []

    def all_slots(self) -> Iterator[Slot]:
        """Every slot of every rung (what ran, runs or was dropped)."""
        for rung in self.rungs.slots:
            yield from rung.values()

    # ---- the two events ----------------------------------------------------------------------------
    def next_slot(self) -> Optional[Slot]:
        """ASHA's get_job: the best promotable configuration from the top rung down, else a new one."""
        r = self.rungs
        incumbent = self._incumbent() if self.promote_challengers else None
        for k in range(r.top - 1, -1, -1):
            candidates = asha_promotable(r.result_pairs(k), self.eta, r.moved_on[k])
            kind = "asha"
            if not candidates and self.promote_challengers:
                candidates, kind = challengers(r.result_pairs(k), r.moved_on[k], incumbent), "challenger"
            if candidates:
                c = candidates[0]
                target = self._jump_target(c, k)
                r.moved_on[k].add(c)
                self.on_event({"event": "promotion", "kind": kind if target == k + 1 else "async_jump",
                               "rule": kind, "bracket": ASYNC_BRACKET, "stage": k, "to_stage": target,
                               "from_budget": r.plan[k].budget, "to_budget": r.plan[target].budget,
                               "kept_config_ids": [c], "discarded_config_ids": []})
                return r.add(target, c)
        j = self._start_rung()
        if not r.queue[j]:
            ids = list(self.new_configs(NEW_CONFIG_BATCH, r.plan[j].budget))
            flags = [bool(self.draw_no_jump()) for _ in ids]
            r.no_jump.update(c for c, flag in zip(ids, flags) if flag)
            r.queue[j] = ids[::-1]   # the searcher lists random ones first: model-chosen ones start first
        return r.add(j, r.queue[j].pop(0))

    def _start_rung(self) -> int:
        """Async Hyperband's brackets: the bracket charged the least budget so far starts the configuration,
        at its first budget (bracket s starts at rung top - s); each start is charged Hyperband's budget per
        configuration of that bracket, so in the long run every bracket gets the same budget, as in Hyperband."""
        r = self.rungs
        if not self.several_brackets:
            return 0
        s = least_allocated_bracket(r.allocated)
        r.allocated[s] += self.start_costs[s]
        return r.top - s

    def finish(self, slot: Slot, loss: Optional[float]) -> list[Slot]:
        """Record a result (None or non-finite: failed). Returns running slots the risk dropped (to kill)."""
        if slot.finished:
            return []
        slot.record(loss)
        self.rungs.results[slot.stage].append(slot.config_id)
        return self._stop_rungs()

    def revise(self, slot: Slot, loss: float) -> None:
        """A final metric after the slot was counted failed: the rung ranks it from now on (used once)."""
        if slot.status is SlotStatus.FAILED and math.isfinite(loss):
            slot.status, slot.loss = SlotStatus.DONE, float(loss)

    def _incumbent(self) -> Optional[float]:
        """The best loss measured at the top rung (R), None before any."""
        losses = [x.loss for x in self.rungs.slots[self.rungs.top].values()
                  if x.status is SlotStatus.DONE and x.loss is not None]
        return min(losses) if losses else None

    # ---- HyperJump's risk ----------------------------------------------------------------------------
    def _risk_ready(self) -> bool:
        p = self.policy
        return p is not None and p.options.threshold > 0 and p.posterior.ready

    def _scale(self) -> float:
        """rEAR's normaliser l* (as RiskPolicy._scale, without its warning)."""
        incumbent = self.policy.incumbent_loss()
        if incumbent is None:
            return 1.0
        scale = incumbent - self.policy.options.best_loss
        return scale if scale > 0 else 1.0

    def _predict(self, configs: list[int], budget: int) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.policy.posterior.predict(self.policy.encode(configs), budget / self.R)
        return np.asarray(mean, float), np.asarray(std, float)

    def _bar(self, j: int, c: int) -> Optional[float]:
        """Rung j's promotion bar for c, measured, or predicted from the highest lower rung with results."""
        r = self.rungs
        for i in range(j, -1, -1):
            others = [x for x, _ in r.result_pairs(i) if x != c]
            if not others:
                continue
            if i == j:
                return promotion_bar([rank_key(r.slots[j][x].loss) for x in others], self.eta)
            done = [x for x in others if r.slots[i][x].status is SlotStatus.DONE]
            if not done:
                return None
            mean, _ = self._predict(done, r.plan[j].budget)
            return promotion_bar(list(mean), self.eta ** (j - i))
        return None

    def _explained(self, c: int) -> bool:
        """Does the GP's belief about c explain c's own largest-budget result (within EXPLAIN_Z std)?"""
        r = self.rungs
        for k in range(r.top, -1, -1):
            x = r.slots[k].get(c)
            if x is not None and x.status is SlotStatus.DONE and x.loss is not None:
                mean, std = self._predict([c], x.budget)
                return abs(float(mean[0]) - x.loss) <= EXPLAIN_Z * max(float(std[0]), 1e-12)
        return False

    def _jump_target(self, c: int, k: int) -> int:
        """k + 1, or further while the accumulated rEAR of skipping rungs stays <= lambda (rule 1)."""
        r = self.rungs
        if k + 1 >= r.top or c in r.no_jump or not self._risk_ready():
            return k + 1
        if self.explain_jumps and not self._explained(c):
            return k + 1                            # the model does not explain c's own result: no jump
        threshold, scale = self.policy.options.threshold, self._scale()
        target, accumulated, rears = k + 1, 0.0, []
        bars: list[Optional[float]] = []            # audit: rung j's bar (None: a failed result), measured or not
        measured: list[bool] = []
        for j in range(k + 1, r.top):               # skipping rung j sends c to rung j + 1
            bar = self._bar(j, c)
            if bar is None:
                break
            bars.append(None if math.isinf(bar) else float(bar))
            measured.append(any(x != c for x in r.results[j]))
            mean, std = self._predict([c], r.plan[j].budget)
            if math.isinf(bar):
                rear = 0.0                          # the bar is a failed result: c beats it surely
            else:
                belief = risk.StageBelief(np.array([mean[0], bar]), np.array([std[0], 0.0]), np.array([False, True]))
                rear = float(risk.expected_loss_reduction(belief, [True, False])[0]) / scale
            rears.append(rear)
            if accumulated + rear > threshold:
                break
            accumulated += rear
            target = j + 1
        if target > k + 1:
            self.on_event({"event": "async_jump_risk", "config_id": c, "stage": k, "to_stage": target,
                           "rear_per_rung": rears, "threshold": threshold, "scale": scale,
                           "incumbent_loss": self.policy.incumbent_loss(),
                           "rung_budgets": [r.plan[j].budget for j in range(k + 1, k + 1 + len(rears))],
                           "bars": bars, "bar_measured": measured})
        return target

    def _stop_rungs(self) -> list[Slot]:
        """Rule 2: the last promotion stops when its remaining candidates are unlikely to hold the best."""
        if not self._risk_ready() or self.policy.incumbent_loss() is None:
            return []
        r, dropped = self.rungs, []
        threshold, scale, incumbent = self.policy.options.threshold, self._scale(), self.policy.incumbent_loss()
        for k in range(max(r.top - 1, 0), r.top):  # the rung below the top (module docstring)
            promotable = [c for c in asha_promotable(r.result_pairs(k), self.eta, r.moved_on[k])
                          if c not in r.no_jump]
            if not promotable:
                continue
            stage = len(r.results[k]) // max(1, r.plan[k].n)      # the virtual stage of rung k
            if r.stop_rear[k][0] != stage:
                r.stop_rear[k] = [stage, 0.0]
            budget = threshold - r.stop_rear[k][1]
            if budget <= 0:
                continue
            running = [x for x in r.running(k) if x.config_id not in r.no_jump and self._explained(x.config_id)]
            promotable = [c for c in promotable if self._explained(c)]
            if not promotable:
                continue
            candidates = promotable + [x.config_id for x in running]
            mean, std = self._predict(candidates, self.R)
            belief = risk.StageBelief(mean, std, np.zeros(len(candidates), bool))
            decision = risk.evaluate_jump_risk([belief], [], self.eta, budget, scale, incumbent)
            if not decision.finishes_bracket:
                continue
            r.stop_rear[k][1] += float(decision.rear_per_hop[-1])
            r.moved_on[k].update(candidates)
            for x in running:
                x.status = SlotStatus.SKIPPED
            dropped.extend(running)
            self.on_event({"event": "promotion", "kind": "rung_stop", "bracket": ASYNC_BRACKET, "stage": k,
                           "to_stage": None, "rear_per_hop": [float(v) for v in decision.rear_per_hop],
                           "threshold": threshold, "risk_budget": budget, "scale": scale,
                           "incumbent_loss": incumbent, "kept_config_ids": [],
                           "discarded_config_ids": candidates})
        return dropped

    # ---- state ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.rungs.to_dict()

    def load_dict(self, d: dict[str, Any]) -> Rungs:
        """Parse and check a stored state (ValueError/KeyError/TypeError when unusable); ``install`` uses it."""
        rungs = Rungs.from_dict(d)
        if rungs.plan != self.rungs.plan:
            raise ValueError("the stored rungs follow another R or eta")
        return rungs

    def install(self, rungs: Rungs) -> None:
        self.rungs = rungs


def build_async_scheduler(settings: Any, searcher: Any, evidence: Any, on_event: EventSink) -> AsyncScheduler:
    """The engine's async scheduler: new configurations from ``searcher.propose`` with the evidence's model."""
    def new_configs(n: int, budget: int) -> list[int]:
        assert evidence.model is not None, "the model is installed with the search space"
        ids, _ = searcher.propose(n, evidence.model, evidence.incumbent_loss, budget)
        return ids

    def draw_no_jump() -> bool:
        return settings.jumping and bool(searcher.rng.random() < settings.p_no_jump)

    return AsyncScheduler(settings.R, settings.eta, new_configs, draw_no_jump, on_event)
