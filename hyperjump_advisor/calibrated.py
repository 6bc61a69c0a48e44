"""The model's beliefs widened by its measured calibration (``calibrated_risk: true``).

No NNI here. :class:`CalibratedPosterior` wraps the GP for the risk engine (jumps and stops): each
std is multiplied by the factor that would have put 90% of the results the model predicted before
seeing them inside its 90% interval (:meth:`WorkloadDiagnostics.std_inflation`, over the last
:data:`WINDOW` predictions, once there are :data:`MIN_PREDICTIONS`), covariances by its square. A model
that is over-confident on this workload (the replay measured coverage 78% on cnn at half an iteration)
so risks more rEAR per jump and jumps less; a calibrated one (factor 1) decides as before. Past
:data:`MAX_INFLATION` the model is not used for risk at all (``ready`` is False): its 90% interval
would have to be that many times wider, its beliefs say little.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np

from .diagnostics import Z90, WorkloadDiagnostics
from .posterior import Array

MIN_PREDICTIONS = 10
WINDOW = 200
MAX_INFLATION = 4.0


def inflation_of(state: WorkloadDiagnostics) -> float:
    """The std factor the measured calibration asks for (1 until MIN_PREDICTIONS predictions were scored)."""
    z = state.z_scores[-WINDOW:]
    if len(z) < MIN_PREDICTIONS:
        return 1.0
    return max(1.0, float(np.quantile(np.abs(z), 0.9)) / Z90)


class CalibratedPosterior:
    def __init__(self, model: Any, inflation: Callable[[], float]):
        self.model, self.inflation = model, inflation

    @property
    def ready(self) -> bool:
        return bool(self.model.ready) and self.inflation() <= MAX_INFLATION

    def predict(self, X: Array, budget: Union[float, Array]) -> tuple[Array, Array]:
        mean, std = self.model.predict(X, budget)
        return mean, std * self.inflation()

    def predict_budgets(self, X: Array, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        means, stds = self.model.predict_budgets(X, budgets)
        f = self.inflation()
        return means, [s * f for s in stds]

    def predict_joint(self, X: Array, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        means, cross = self.model.predict_joint(X, budgets)
        f2 = self.inflation() ** 2
        return means, [c * f2 for c in cross]
