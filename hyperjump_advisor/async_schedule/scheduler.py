"""``AsyncScheduler``: the engine's three calls (``next_slot``, ``finish``, ``revise``) over the rungs.

``next_slot`` promotes (:mod:`.rungs`), possibly past several rungs (:mod:`.jumps`), or starts a new
configuration in the bracket charged the least so far; ``finish`` records a result and applies the rung
stops (:mod:`.stops`). New configurations come from the searcher in batches of :data:`NEW_CONFIG_BATCH`
(so ``random_fraction`` splits a batch as it splits a bracket), the model-chosen ones first, never one
that has run before.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Optional

from ..schedule import Slot, SlotStatus
from .beliefs import RungBeliefs
from .jumps import jump_target
from .ranking import RungRanking
from .rungs import bracket_start_costs, least_allocated_bracket, rung_plan
from .state import ASYNC_BRACKET, EventSink, Rungs
from .stops import stop_rungs

NEW_CONFIG_BATCH = 10   # new configurations proposed at once: random_fraction 0.3 -> 3 random, 7 by EI


class AsyncScheduler:
    """ASHA with HyperJump's risk (the package docstring). ``new_configs(n, budget)`` returns n new config
    ids to start at ``budget`` (none that ran at that budget or above); ``draw_no_jump()`` says
    whether a new configuration runs plain ASHA (probability p_no_jump)."""

    def __init__(self, R: int, eta: int, new_configs: Callable[[int, int], list[int]],
                 draw_no_jump: Callable[[], bool] = lambda: False, on_event: Optional[EventSink] = None,
                 several_brackets: bool = True, promote_challengers: bool = True):
        self.R, self.eta = R, eta
        self.new_configs = new_configs
        self.draw_no_jump = draw_no_jump
        self.on_event: EventSink = on_event or (lambda record: None)
        self.rungs = Rungs(rung_plan(R, eta))
        self._ranking = RungRanking(self.rungs)    # each rung's results in rank order (ranking.py)
        self.iteration_plans = [self.rungs.plan]   # what the engine reads for the schedule's budgets
        self.several_brackets = several_brackets   # False: every configuration starts at rung 0 (ASHA's one bracket)
        self.start_costs = bracket_start_costs(R, eta)
        self.promote_challengers = promote_challengers  # a rung's best result that beats the incumbent moves up at once
        self.choose_bracket: Optional[Callable[[list[int]], int]] = None  # learned_brackets: counts -> bracket
        self.config_batch = NEW_CONFIG_BATCH        # new configurations proposed at once per start rung
        self.explain_jumps = True                  # rule 1 only for configurations the model explains (EXPLAIN_Z)
        self.policy: Any = None                     # the engine installs a RiskPolicy when jumping is on

    @property
    def brackets(self) -> list[Any]:
        """The synchronous schedule's brackets: none here (the state is ``rungs``)."""
        return []

    def all_slots(self) -> Iterator[Slot]:
        """Every slot of every rung (what ran, runs or was dropped)."""
        for rung in self.rungs.slots:
            yield from rung.values()

    # ---- the two events ----------------------------------------------------------------------------
    def next_slot(self) -> Optional[Slot]:
        """ASHA's get_job: the best promotable configuration from the top rung down, else a new one."""
        r, ranking = self.rungs, self._ranked()
        incumbent = self._incumbent() if self.promote_challengers else None
        for k in range(r.top - 1, -1, -1):
            # asha_promotable(...)[0] and challengers(...) of rungs.py, from the rungs' ranking
            found, kind = ranking.asha_first(k, self.eta), "asha"
            if found is None and self.promote_challengers:
                found, kind = ranking.challenger(k, incumbent), "challenger"
            if found is not None:
                c = found
                target = jump_target(r, c, k, self.eta, self._beliefs(), self.explain_jumps, self.on_event)
                r.moved_on[k].add(c)
                self.on_event({"event": "promotion", "kind": kind if target == k + 1 else "async_jump",
                               "rule": kind, "bracket": ASYNC_BRACKET, "stage": k, "to_stage": target,
                               "from_budget": r.plan[k].budget, "to_budget": r.plan[target].budget,
                               "kept_config_ids": [c], "discarded_config_ids": []})
                return r.add(target, c)
        j = self._start_rung()
        if not r.queue[j]:
            ids = list(self.new_configs(self.config_batch, r.plan[j].budget))
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
        if self.choose_bracket is None:
            s = least_allocated_bracket(r.allocated)
        else:   # learned from the workload (bracket_allocation.py); allocated still counts the starts
            s = self.choose_bracket([round(a / c) for a, c in zip(r.allocated, self.start_costs)])
        r.allocated[s] += self.start_costs[s]
        return r.top - s

    def finish(self, slot: Slot, loss: Optional[float]) -> list[Slot]:
        """Record a result (None or non-finite: failed). Returns running slots the risk dropped (to kill)."""
        if slot.finished:
            return []
        slot.record(loss)
        self.rungs.results[slot.stage].append(slot.config_id)
        return stop_rungs(self.rungs, self.eta, self._beliefs(), self.on_event)

    def revise(self, slot: Slot, loss: float) -> None:
        """A final metric after the slot was counted failed: the rung ranks it from now on (used once)."""
        if slot.status is SlotStatus.FAILED and math.isfinite(loss):
            slot.status, slot.loss = SlotStatus.DONE, float(loss)
            self._ranked().revised(slot.stage)

    def _incumbent(self) -> Optional[float]:
        """The best loss measured at the top rung (R), None before any."""
        return self._ranked().best_loss(self.rungs.top)

    def _ranked(self) -> RungRanking:
        """The ranking of the rungs installed now, up to date with their results."""
        if self._ranking.rungs is not self.rungs:
            self._ranking = RungRanking(self.rungs)
        self._ranking.sync()
        return self._ranking

    def _beliefs(self) -> RungBeliefs:
        """The risk rules' view of the policy installed now (the engine sets ``policy`` after construction)."""
        return RungBeliefs(self.policy, self.R)

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
        ids: list[int]
        ids, _ = searcher.propose(n, evidence.model, evidence.incumbent_loss, budget, running_share=True)
        return ids

    def draw_no_jump() -> bool:
        return settings.jumping and bool(searcher.rng.random() < settings.p_no_jump)

    return AsyncScheduler(settings.R, settings.eta, new_configs, draw_no_jump, on_event)
