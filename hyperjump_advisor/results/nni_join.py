"""The best result of an experiment from NNI's own data, robust to NNI issue 5726.

NNI's trial list can show a trial job with another job's parameters, but every metric carries the
parameter id it was produced with. So the best result is found from the FINAL metrics and joined to
the parameters by parameter id, never by trial job (:func:`experiment_best`; the demo uses it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..metrics import metric_value


# ---------------------------------------------------------------------------
# From NNI's REST data (used by the demo): join metrics to parameters by parameter id
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    parameter_id: int
    trial_job_id: str
    metric: float
    parameters: dict


def _parameter_id(value: Any) -> Optional[int]:
    """NNI's REST API gives metric parameter ids as strings ('7'), trial-job ones as ints."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parameters_by_id(trial_jobs: Iterable[Any]) -> dict[int, dict]:
    """parameter_id -> parameters, from ``Experiment.list_trial_jobs()``."""
    table: dict[int, dict] = {}
    for job in trial_jobs:
        for hp in job.hyperParameters or []:
            parameter_id = _parameter_id(hp.parameter_id)
            if parameter_id is not None:
                table[parameter_id] = hp.parameters
    return table


def final_results(metrics_by_job: dict[str, list], trial_jobs: Iterable[Any]) -> list[Result]:
    """Every usable FINAL metric with the parameters that produced it."""
    params = parameters_by_id(trial_jobs)
    results = []
    for job_id, metrics in metrics_by_job.items():
        for m in metrics:
            value = metric_value(m.data) if m.type == "FINAL" else None
            parameter_id = _parameter_id(m.parameterId)
            if value is not None and parameter_id in params:
                results.append(Result(parameter_id, job_id, value, params[parameter_id]))
    return results


def best_result(results: list[Result], maximize: bool) -> Optional[Result]:
    """The best result at the largest budget any result reached (a short-budget score is not comparable)."""
    if not results:
        return None
    top_budget = max(r.parameters.get("TRIAL_BUDGET", 0) for r in results)
    at_top = [r for r in results if r.parameters.get("TRIAL_BUDGET", 0) == top_budget]
    return (max if maximize else min)(at_top, key=lambda r: r.metric)


def experiment_best(experiment, maximize: bool) -> Optional[Result]:
    """Best result of a running or finished ``nni.experiment.Experiment``."""
    return best_result(final_results(experiment.get_job_metrics(), experiment.list_trial_jobs()), maximize)
