"""DEHB 0.1.1 (family ``modern``) through its ask-and-tell interface.

The search space is a ConfigSpace ``ConfigurationSpace`` with one ``CategoricalHyperparameter``
per hyperparameter (the table's choices), seeded. ``DEHB(min_fidelity = smallest TRIAL_BUDGET,
max_fidelity = R, eta, n_workers=1, seed)``: ``n_workers=1`` because DEHB starts a Dask cluster for
more workers; in ask-and-tell use the caller runs the jobs, and ``ask`` never blocks (it opens a new
bracket when the running ones wait for results), so the replay's W workers are filled all the
same. Each ``ask()`` is a job at one fidelity (DEHB's fidelities are R / eta^k, mapped to their
TRIAL_BUDGET), trained from scratch (DEHB has no checkpoint resume); ``tell(job, {"fitness":
loss, "cost": TRIAL_BUDGET})`` with the FINAL metric (the cost only feeds DEHB's own
bookkeeping). A trial that fails or ends without a FINAL is told fitness +inf, as a
user's objective would report a crash. ``save_freq="end"``: no state files written per result.
"""
from __future__ import annotations

import logging
import math
import tempfile
import warnings
from typing import Optional

import ConfigSpace
from dehb import DEHB

from .adapter import CONTINUE, Job, PeerAdvisor, Suggestion


class DEHBAdvisor(PeerAdvisor):
    resumes = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.quiet = self.options.get("quiet", True)
        if self.quiet:
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            logging.getLogger("distributed").setLevel(logging.ERROR)
        self.workdir = tempfile.TemporaryDirectory(prefix="dehb-replay-")
        self.dehb: Optional[DEHB] = None
        self.told: set[int] = set()

    def start(self, search_space: dict) -> None:
        space = ConfigSpace.ConfigurationSpace(seed=self.seed)
        for name, spec in search_space.items():
            space.add(ConfigSpace.CategoricalHyperparameter(name, list(spec["_value"])))
        self.dehb = DEHB(cs=space, dimensions=len(search_space), min_fidelity=self.budgets[0],
                         max_fidelity=self.R, eta=self.eta, n_workers=1, seed=self.seed,
                         output_path=self.workdir.name, save_freq="end")
        if self.quiet:
            from loguru import logger   # DEHB logs every step at INFO to stdout and a file
            logger.remove()

    def suggest(self) -> Optional[Suggestion]:
        assert self.dehb is not None  # built by start(), on Initialize
        job = self.dehb.ask()
        config = dict(job["config"])
        return Suggestion(config, self.level_budget(job["fidelity"]), key=job)

    def result(self, job: Job, budget: int, loss: float, final: bool) -> str:
        if final:
            self._tell(job, loss)
        return CONTINUE

    def ended(self, job: Job, event: str) -> None:
        self._tell(job, math.inf)   # no-op when its FINAL was told

    def _tell(self, job: Job, fitness: float) -> None:
        if job.parameter_id in self.told:
            return
        self.told.add(job.parameter_id)
        assert self.dehb is not None  # built by start(), on Initialize
        self.dehb.tell(job.key, {"fitness": float(fitness), "cost": float(job.suggestion.budget)})


def build(name: str, **kwargs) -> DEHBAdvisor:
    return DEHBAdvisor(**kwargs)
