"""What the experiment has measured: the observations the model learns from, and the incumbent.

Contract: every usable result (a final metric, or an intermediate one at a smaller budget of the
schedule) is recorded once as ``(config_id, budget, loss)`` and fed to the model: a configuration's
first result at a budget is its measurement there, and later reports of the same (configuration,
budget) pair (a promoted trial passing a budget again, a re-run) are not new evidence; the incumbent is
the lowest loss measured at the full budget R. The model is rebuilt from the recorded
observations whenever the search space changes (its encoding changes with it).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import numpy as np

from .model import MultiFidelityGP

_logger = logging.getLogger("hyperjump_advisor")

Observation = tuple[int, int, float]
Encoding = Callable[[int], Optional[np.ndarray]]


class Evidence:
    def __init__(self, R: int, encoding: Encoding):
        self.R = R
        self.encoding = encoding                          # config_id -> its encoding (None: not modelled)
        self.observations: list[Observation] = []
        self._measured: set[tuple[int, int]] = set()        # (config_id, budget) pairs in observations
        self.incumbent: Optional[tuple[float, int]] = None  # (loss at R, config_id)
        self.completed_budget: dict[int, int] = {}          # config_id -> largest budget with a final result
        self.model: Optional[MultiFidelityGP] = None
        self.on_new: Callable[[int, int, float], None] = lambda config_id, budget, loss: None  # before the model learns it

    @property
    def incumbent_loss(self) -> Optional[float]:
        return None if self.incumbent is None else self.incumbent[0]

    def install_model(self, n_dims: int, min_observations: int, seed: int,
                      refuse_collapsed_fits: bool = False) -> MultiFidelityGP:
        """A fresh GP fed with every observation so far."""
        self.model = MultiFidelityGP(n_dims, min_observations, seed=seed,
                                     refuse_collapsed_fits=refuse_collapsed_fits)
        for config_id, budget, loss in self.observations:
            self._feed(config_id, budget, loss)
        return self.model

    def add(self, config_id: int, budget: float, loss: float) -> bool:
        """One observation for the model (an intermediate or a final result); False if already measured."""
        key = (config_id, int(budget))
        if key in self._measured:
            return False
        self._measured.add(key)
        self.on_new(config_id, int(budget), float(loss))
        self.observations.append((config_id, int(budget), float(loss)))
        self._feed(config_id, budget, loss)
        return True

    def restore(self, observations: list[Observation], incumbent: Optional[tuple[float, int]]) -> None:
        """A resumed experiment's evidence; the model learns it when it is installed (INITIALIZE)."""
        self.observations, self._measured, self.incumbent = [], set(), incumbent
        for config_id, budget, loss in observations:
            if (config_id, budget) not in self._measured:
                self._measured.add((config_id, budget))
                self.observations.append((config_id, budget, loss))

    def add_final(self, config_id: int, budget: int, loss: float) -> bool:
        """A final result: an observation, the configuration's completed budget and maybe a new incumbent.

        Returns True when it is the new incumbent."""
        self.add(config_id, budget, loss)
        self.completed_budget[config_id] = max(budget, self.completed_budget.get(config_id, 0))
        if budget >= self.R and (self.incumbent is None or loss < self.incumbent[0]):
            self.incumbent = (loss, config_id)
            return True
        return False

    def predict_as_it_stands(self, config_id: int, budget: int) -> Optional[tuple[float, float]]:
        """The model's predictive (mean, std) of a configuration at a budget, changing no state (None: cannot)."""
        x = self.encoding(config_id)
        if x is None or self.model is None:
            return None
        out = self.model.predict_as_it_stands(x[None, :], budget / self.R)
        return None if out is None else (float(out[0][0]), float(out[1][0]))

    def _feed(self, config_id: int, budget: float, loss: float) -> None:
        x = self.encoding(config_id)
        if x is not None and self.model is not None:
            self.model.add_observations(x[None, :], np.array([budget / self.R]), np.array([loss]))
