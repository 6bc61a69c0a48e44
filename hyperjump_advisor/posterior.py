"""The seam between the model and its users: what the risk engine and the searcher may ask a model.

Everything is a LOSS (lower is better). ``X`` is (m, d) encoded configurations in [0, 1]^d;
budgets are normalised, ``budget / R`` in [0, 1]. Implementations: the multi-fidelity GP
(:mod:`hyperjump_advisor.model`) and, in tests, fakes whose answers are known.
"""
from __future__ import annotations

from typing import Protocol, Sequence, Union

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class Posterior(Protocol):
    """Predictions of the loss of configurations at budgets."""

    @property
    def ready(self) -> bool:
        """True once the model has enough observations to be trusted (the paper: d + 2)."""
        ...

    def predict(self, X: Array, budget: Union[float, Array]) -> tuple[Array, Array]:
        """Mean and std (m,), (m,) of the loss of each row at one budget (or one budget per row)."""
        ...

    def predict_budgets(self, X: Array, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        """Means and stds of the m rows at each of several budgets: ``means[h]``, ``stds[h]`` are (m,)."""
        ...

    def predict_joint(self, X: Array, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        """Means at each budget and covariances with the first budget:
        ``cross_cov[h][i, c] = Cov(loss(x_i, budgets[h]), loss(x_c, budgets[0]))``, (m, m)."""
        ...
