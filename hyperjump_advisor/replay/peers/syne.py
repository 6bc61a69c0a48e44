"""Syne Tune 0.13 schedulers (family ``syne13``) behind the NNI protocol.

Each peer is a class of ``syne_tune.optimizer.baselines`` built as its docs advise for
pause-and-resume: the resource cap is a constant of the configuration space
(``max_resource_attr``), so a scheduler that promotes a paused trial sets that entry to the next
rung and the adapter sends it as TRIAL_BUDGET with the resume key (the trial continues from its
checkpoint). Rungs: ``grace_period`` = the smallest TRIAL_BUDGET, ``reduction_factor`` = eta,
``max_t`` = R, so the rung levels are exactly the Hyperband budgets 1, eta, ..., R.

The adapter makes the calls Syne Tune's own ``Tuner`` makes (``syne_tune/tuner.py``):
``suggest(trial_id)`` per free worker, ``on_trial_add`` for a new trial, ``on_trial_result`` per
reported result, ``on_trial_remove`` after a STOP or PAUSE decision, ``on_trial_complete`` when a
trial ends without one, ``on_trial_error`` when it fails or is cancelled by someone else, and
stops when ``suggest`` returns None.
"""
from __future__ import annotations

import datetime
import logging
from typing import Any, Optional

from syne_tune.backend.trial_status import Trial
from syne_tune.config_space import choice
from syne_tune.optimizer import baselines
from syne_tune.optimizer.scheduler import SchedulerDecision

from ..tables import BUDGET_KEY
from .adapter import CONTINUE, STOP, Job, PeerAdvisor, Suggestion

METRIC, RESOURCE = "loss", "budget"

# Syne Tune's own documented knobs that bound the cost of its GP searchers (``search_options`` of MOBSTER and
# Hyper-Tune; docstrings of GPFIFOSearcher / GPMultiFidelitySearcher in syne_tune 0.13, and its tutorial on
# Bayesian optimization: refitting the GP's hyperparameters is the most expensive part of a decision and "can be
# thinned out or even stopped when the dataset gets large" with opt_skip_init_length and opt_skip_period).
# Defaults: a refit at every new observation (opt_skip_period 1; opt_skip_init_length 150 is then moot) from 2
# random restarts (opt_nstarts), on up to 500 observations (max_size_data_for_model). Measured with the defaults:
# minutes of CPU per seed (README, Benchmarks). Here: a full refit at each new observation up to 20, then at every
# 20th; one restart; the GP fitted and conditioned on at most 100 observations (Syne Tune subsamples, dropping
# low-rung observations of trials that never reached a higher rung first). Between refits the GP keeps its
# hyperparameters and is still conditioned on the new data.
GP_COST_BOUNDS = {"opt_skip_init_length": 20, "opt_skip_period": 20, "opt_nstarts": 1,
                  "max_size_data_for_model": 100}
# Hyper-Tune without the subsampling: its independent GP per rung needs data at every rung, and Syne Tune 0.13's
# subsampling drops low-rung observations first, so with max_size_data_for_model (100, and likewise its default
# 500 once reached) a rung can end up empty and the searcher fails (KeyError on the rung's posterior state,
# hypertune/posterior_state.py; measured: every seed on mnist_epochs at 8 workers). None = no subsampling.
HYPERTUNE_COST_BOUNDS = {**GP_COST_BOUNDS, "max_size_data_for_model": None}

# peer name -> (baselines class, extra constructor arguments, whether the trials pause and resume)
METHODS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "syne-asha": ("ASHA", {"type": "promotion"}, True),
    "syne-asha-stop": ("ASHA", {"type": "stopping"}, False),
    "syne-hyperband": ("SyncHyperband", {}, True),
    "syne-bohb": ("BOHB", {"type": "promotion"}, True),
    "syne-mobster": ("MOBSTER", {"type": "promotion", "search_options": GP_COST_BOUNDS}, True),
    "syne-hypertune": ("HyperTune", {"type": "promotion", "brackets": "all",
                                     "search_options": HYPERTUNE_COST_BOUNDS}, True),
}


class SyneTuneAdvisor(PeerAdvisor):
    def __init__(self, method: str, **kwargs):
        super().__init__(**kwargs)
        self.method = method
        self.class_name, self.extra, self.resumes = METHODS[method]
        self.scheduler: Optional[Any] = None      # built by start()
        self.hyperparameters: list[str] = []
        self.trials: dict[int, Trial] = {}
        self.reached: dict[int, int] = {}          # trial id -> TRIAL_BUDGET its checkpoint holds
        self.last_result: dict[int, dict] = {}
        self.decided: set[int] = set()             # parameter ids that got STOP/PAUSE
        self.next_trial_id = 0
        if self.options.get("quiet", True):
            logging.getLogger("syne_tune").setLevel(logging.ERROR)

    def start(self, search_space: dict) -> None:
        self.hyperparameters = list(search_space)
        config_space = {name: choice(list(spec["_value"])) for name, spec in search_space.items()}
        config_space[BUDGET_KEY] = self.R       # the constant resource cap (max_resource_attr)
        kwargs = dict(metric=METRIC, mode="min", resource_attr=RESOURCE, max_resource_attr=BUDGET_KEY,
                      grace_period=self.budgets[0], reduction_factor=self.eta, random_seed=self.seed)
        extra: dict[str, Any] = dict(self.extra)
        if extra.get("brackets") == "all":
            extra["brackets"] = len(self.budgets)
        self.scheduler = getattr(baselines, self.class_name)(config_space, **kwargs, **extra)

    def suggest(self) -> Optional[Suggestion]:
        assert self.scheduler is not None  # built by start(), on Initialize
        suggestion = self.scheduler.suggest(trial_id=self.next_trial_id)
        if suggestion is None:
            self.done = True        # the Tuner stops here ("Searcher ran out of candidates")
            return None
        resume_from = None
        if suggestion.spawn_new_trial_id:
            trial_id = self.next_trial_id
            self.next_trial_id += 1
            trial = Trial(trial_id=trial_id, config=dict(suggestion.config), creation_time=datetime.datetime.now())
            self.trials[trial_id] = trial
            self.scheduler.on_trial_add(trial=trial)
            if suggestion.checkpoint_trial_id is not None:
                resume_from = self.reached.get(suggestion.checkpoint_trial_id)
        else:
            trial_id = suggestion.checkpoint_trial_id
            trial = self.trials[trial_id]
            if suggestion.config is not None:
                trial.config = dict(suggestion.config)
            resume_from = self.reached.get(trial_id)
        budget = int(trial.config.get(BUDGET_KEY, self.R))
        config = {name: trial.config[name] for name in self.hyperparameters}
        return Suggestion(config, budget, key=trial_id, resume_from=resume_from)

    def result(self, job: Job, budget: int, loss: float, final: bool) -> str:
        assert self.scheduler is not None  # built by start(), on Initialize
        trial = self.trials[job.key]
        result = {METRIC: loss, RESOURCE: budget}
        self.last_result[job.key] = result
        decision = self.scheduler.on_trial_result(trial=trial, result=result)
        if decision in (SchedulerDecision.STOP, SchedulerDecision.PAUSE):
            self.decided.add(job.parameter_id)
            self.scheduler.on_trial_remove(trial=trial)
            if decision == SchedulerDecision.PAUSE:
                self.reached[job.key] = budget   # a pause before TRIAL_BUDGET: its checkpoint is here
            return STOP
        return CONTINUE

    def ended(self, job: Job, event: str) -> None:
        assert self.scheduler is not None  # built by start(), on Initialize
        trial = self.trials[job.key]
        if event == "SUCCEEDED":
            self.reached[job.key] = job.suggestion.budget
            if job.parameter_id not in self.decided:
                if job.key in self.last_result:
                    self.scheduler.on_trial_complete(trial=trial, result=self.last_result[job.key])
                else:
                    self.scheduler.on_trial_error(trial=trial)
        elif job.parameter_id not in self.decided:   # FAILED, or cancelled by someone else
            self.scheduler.on_trial_error(trial=trial)
        self.decided.discard(job.parameter_id)

    def extras(self) -> dict:
        return {"syne_scheduler": self.class_name, **{k: v for k, v in self.extra.items()}}


def build(name: str, **kwargs) -> SyneTuneAdvisor:
    return SyneTuneAdvisor(name, **kwargs)
