"""Optuna (family ``modern``): ``TPESampler`` with ``HyperbandPruner``, through ask-and-tell.

As a user would write it: ``study.ask`` with one ``CategoricalDistribution`` per
hyperparameter (the table's choices), every trial trains towards R (TRIAL_BUDGET = R, no
checkpoint resume: Optuna's pruners stop trials, they never pause them), ``trial.report(loss,
step=budget)`` at each Hyperband level it passes, ``trial.should_prune()`` after each report
(True: the trial is killed and told PRUNED), ``study.tell(trial, loss)`` with the FINAL metric,
``study.tell(trial, state=FAIL)`` when it fails or is cancelled by someone else. The pruner's
rungs: ``min_resource`` = the smallest TRIAL_BUDGET, ``max_resource`` = R,
``reduction_factor`` = eta, so its brackets' rungs are the Hyperband budgets.
"""
from __future__ import annotations

from typing import Optional

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from .adapter import CONTINUE, STOP, Job, PeerAdvisor, Suggestion


class OptunaHyperbandAdvisor(PeerAdvisor):
    resumes = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.options.get("quiet", True):
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study: Optional[optuna.Study] = None
        self.distributions: dict = {}

    def start(self, search_space: dict) -> None:
        self.distributions = {name: CategoricalDistribution(list(spec["_value"]))
                              for name, spec in search_space.items()}
        self.study = optuna.create_study(  # named: HyperbandPruner hashes the name to pick brackets
            study_name=f"replay-seed-{self.seed}", direction="minimize", sampler=optuna.samplers.TPESampler(seed=self.seed),
            pruner=optuna.pruners.HyperbandPruner(min_resource=self.budgets[0], max_resource=self.R,
                                                  reduction_factor=self.eta))

    def suggest(self) -> Optional[Suggestion]:
        assert self.study is not None  # built by start(), on Initialize
        trial = self.study.ask(self.distributions)
        return Suggestion(dict(trial.params), self.R, key=trial)

    def result(self, job: Job, budget: int, loss: float, final: bool) -> str:
        assert self.study is not None  # built by start(), on Initialize
        trial = job.key
        if final:
            self.study.tell(trial, loss)
            return CONTINUE
        trial.report(loss, step=budget)
        if trial.should_prune():
            self.study.tell(trial, state=TrialState.PRUNED)
            return STOP
        return CONTINUE

    def ended(self, job: Job, event: str) -> None:
        # Told already: FINAL (complete) or pruned. Otherwise it failed, was cancelled by someone
        # else, or its FINAL never came: FAIL, as an Optuna objective that raised.
        if not job.killed:
            assert self.study is not None  # built by start(), on Initialize
            self.study.tell(job.key, state=TrialState.FAIL, skip_if_finished=True)


def build(name: str, **kwargs) -> OptunaHyperbandAdvisor:
    return OptunaHyperbandAdvisor(**kwargs)
