"""Replay-only probe of the "anytime" idea (issue "First at every scale", direction 5): an early
full-budget evaluation of the model's best guess, so the first incumbent comes about as early as
random search's. Not part of the advisor: it swaps the class of a built advisor's scheduler.

As soon as the model is ready and before any full-budget result, one extra evaluation of the
searcher's top-EI configuration at R is dispatched ahead of every bracket. The extra evaluation is a
one-stage bracket that never jumps; Hyperband's bracket cycle is unchanged. Measured and NOT adopted
(see the commit message of its introduction); kept so that the ablation can be re-run.
"""
from __future__ import annotations

from typing import Any, Optional

from ..schedule import Bracket, Scheduler, Slot, StagePlan


class AnytimeScheduler(Scheduler):
    engine: Any
    extra_ids: set

    def _open_bracket(self) -> Bracket:
        k = len(self.brackets) - len(self.extra_ids)
        per_iteration = len(self.iteration_plans)
        plan = self.iteration_plans[k % per_iteration]
        bracket = Bracket(bracket_id=len(self.brackets), iteration=k // per_iteration, s=len(plan) - 1, plan=plan)
        bracket.fill_stage(0, self.new_configs(bracket, plan[0].n))
        self.brackets.append(bracket)
        return bracket

    def _extra(self) -> Optional[Bracket]:
        engine = self.engine
        config_id = engine.searcher.best_guess(engine.evidence.model, engine.evidence.incumbent_loss, self.R)
        if config_id is None:
            return None
        bracket = Bracket(bracket_id=len(self.brackets), iteration=-1, s=0, plan=[StagePlan(1, self.R)],
                          no_jump=True)
        bracket.fill_stage(0, [config_id])
        self.brackets.append(bracket)
        self.extra_ids.add(bracket.bracket_id)
        return bracket

    def next_slot(self) -> Optional[Slot]:
        if not self.extra_ids and self.engine.evidence.incumbent is None \
                and self.engine.evidence.model is not None and self.engine.evidence.model.ready:
            self._extra()
        for i in sorted(self.extra_ids):
            pending = self.brackets[i].pending()
            if pending:
                return self._dispatch(self.brackets[i], pending)
        return super().next_slot()


def install(engine: Any) -> None:
    engine.scheduler.__class__ = AnytimeScheduler
    engine.scheduler.engine = engine
    engine.scheduler.extra_ids = set()
