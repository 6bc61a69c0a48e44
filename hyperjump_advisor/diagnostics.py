"""Workload diagnostics, online: what the experiment shows about its own budgets and model.

No NNI here. The engine feeds :class:`WorkloadDiagnostics` as results arrive and writes
``summary()`` to the audit trail (event ``"workload_diagnostics"``) at a geometric rate.

- *Rank correlation* between two budgets b_lo < b_hi: Spearman's rho of the losses at b_lo against
  those at b_hi over the configurations measured at both (a final or an intermediate result), with a
  95% interval from Fisher's z with Fieller, Hartley and Pearson's variance for Spearman's rho,
  1.06 / (n - 3) (Biometrika 44, 1957), for n >= 4. The configurations that reach b_hi are those
  the schedule promoted, the best at b_lo: rho is measured on that truncated set, which is what a
  promotion decides on (how well b_lo orders the configurations it is asked to order).
- *Cost per budget*: the median seconds of the trials that trained a configuration from scratch to
  that budget, from the time the advisor sent the trial to its final metric (NNI's TRIAL_END and
  metric payloads carry no timestamps, so this is the advisor's clock: wall time live, the
  simulated clock in the replay). A resumed trial's seconds are kept apart, per (from, to) budget.
- *Calibration*: before a configuration's result at budget b is given to the model, the model as
  it stands (its last posterior, conditioned on the configuration's lower-budget results) predicts
  it; the 90% predictive interval (latent std and noise) either covers the result or not.
  ``coverage_90`` is the covered fraction (0.9 for a calibrated model); ``std_inflation`` is the
  factor by which the predictive std would have to grow for 90% of the |z| seen to fall inside
  1.645 std (>= 1; used to gate or widen the model's beliefs).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from scipy import stats

Z90 = 1.6448536269514722      # the standard normal's 95% quantile: a central 90% interval is mean +- Z90 std
Z95 = 1.959963984540054       # two-sided 95% interval of Fisher's z
FIELLER_VARIANCE = 1.06       # var(atanh(rho_s)) ~ 1.06 / (n - 3) for Spearman's rho (Fieller et al., 1957)
FIRST_SUMMARY = 10            # results before the first summary
SUMMARY_GROWTH = 1.25         # then each time the count of results has grown by this factor


def spearman_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(rho, low, high): Spearman's rho of paired samples and its 95% Fisher-z interval (n >= 4)."""
    n = len(x)
    if n < 4:
        raise ValueError(f"Spearman's interval needs at least 4 pairs, got {n}")
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    sx, sy = float(np.std(rx)), float(np.std(ry))
    if sx == 0 or sy == 0:
        return math.nan, -1.0, 1.0   # one side is constant: no order to compare
    rho = float(np.clip(np.mean((rx - rx.mean()) * (ry - ry.mean())) / (sx * sy), -1.0, 1.0))
    half = Z95 * math.sqrt(FIELLER_VARIANCE / (n - 3))
    z = math.atanh(float(np.clip(rho, -1 + 1e-12, 1 - 1e-12)))
    return rho, min(rho, math.tanh(z - half)), max(rho, math.tanh(z + half))   # |rho| = 1 stays inside


def next_summary_count(count: int) -> int:
    """The result count of the next summary after one written at ``count`` (geometric, at least +1)."""
    return max(count + 1, math.ceil(count * SUMMARY_GROWTH))


@dataclass
class WorkloadDiagnostics:
    """Online diagnostics of one experiment (module docstring). ``budgets``: the schedule's budgets."""
    budgets: list[int]
    losses: dict[int, dict[int, float]] = field(default_factory=dict)        # config -> budget -> first loss
    seconds: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # (from, to) budget -> durations, sorted
    z_scores: list[float] = field(default_factory=list)                      # calibration: (result - mean) / std
    measured_at: dict[int, list[int]] = field(default_factory=dict)            # budget -> configs with a result there
    results: int = 0
    next_summary: int = FIRST_SUMMARY

    def __post_init__(self) -> None:
        self.budgets = sorted(set(int(b) for b in self.budgets))

    # ---- what arrives ------------------------------------------------------------------------------
    def add_result(self, config_id: int, budget: int, loss: float) -> None:
        """A configuration's first result at a budget of the schedule (others are ignored)."""
        if budget not in self.budgets or not math.isfinite(loss):
            return
        at = self.losses.setdefault(config_id, {})
        if budget in at:
            return
        at[budget] = float(loss)
        self.measured_at.setdefault(budget, []).append(config_id)
        self.results += 1

    def lower_budget_measured(self, config_id: int, budget: int) -> bool:
        """Has the configuration a result below ``budget`` (so a prediction at ``budget`` tests the model)?"""
        return any(b < budget for b in self.losses.get(config_id, {}))

    def add_duration(self, from_budget: int, to_budget: int, seconds: float) -> None:
        """A trial trained a configuration from ``from_budget`` (0: from scratch) to ``to_budget``."""
        if math.isfinite(seconds) and seconds >= 0:
            bisect.insort(self.seconds.setdefault((int(from_budget), int(to_budget)), []), float(seconds))

    def add_prediction(self, loss: float, mean: float, std: float) -> None:
        """The model's predictive mean and std of a result it had not seen, and the result."""
        if std > 0 and math.isfinite(mean) and math.isfinite(loss):
            self.z_scores.append((loss - mean) / std)

    # ---- what it says ------------------------------------------------------------------------------
    def summary_due(self) -> bool:
        """True (and the next one scheduled) when enough results arrived since the last summary."""
        if self.results < self.next_summary:
            return False
        self.next_summary = next_summary_count(self.results)
        return True

    def rank_correlation(self, high_budget: Optional[int] = None) -> list[dict[str, Any]]:
        """A row per pair of budgets (only the pairs with ``high_budget`` when given)."""
        rows = []
        for i, low in enumerate(self.budgets):
            for high in self.budgets[i + 1:]:
                if high_budget is None or high == high_budget:
                    rows.append(self._pair_row(low, high))
        return rows

    def _pair_row(self, low: int, high: int) -> dict[str, Any]:
        # the configurations measured at the higher budget are the fewer: only they are visited
        losses = self.losses
        pairs = [(losses[c][low], losses[c][high]) for c in self.measured_at.get(high, []) if low in losses[c]]
        row: dict[str, Any] = {"low_budget": low, "high_budget": high, "n": len(pairs),
                               "spearman": None, "ci_low": None, "ci_high": None}
        if len(pairs) >= 4:
            rho, lo, hi = spearman_interval(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
            if math.isfinite(rho):
                row.update(spearman=rho, ci_low=lo, ci_high=hi)
        return row

    def cost_per_budget(self) -> list[dict[str, Any]]:
        out = []
        for b in self.budgets:
            durations = self.seconds.get((0, b), [])
            out.append({"budget": b, "n": len(durations),
                        "median_seconds": float(np.median(durations)) if durations else None})
        return out

    def median_seconds(self, from_budget: int, to_budget: int) -> Optional[float]:
        """The median, read from the sorted durations (what numpy's median gives, without a pass over them)."""
        durations = self.seconds.get((from_budget, to_budget), [])
        if not durations:
            return None
        middle = len(durations) // 2
        return durations[middle] if len(durations) % 2 else (durations[middle - 1] + durations[middle]) / 2

    def coverage_90(self) -> Optional[float]:
        if not self.z_scores:
            return None
        return float(np.mean(np.abs(self.z_scores) <= Z90))

    def std_inflation(self) -> float:
        """How much wider the predictive std must be for 90% of the seen |z| to fall inside Z90 (>= 1)."""
        if not self.z_scores:
            return 1.0
        return max(1.0, float(np.quantile(np.abs(self.z_scores), 0.9)) / Z90)

    def summary(self, seconds_since_start: float) -> dict[str, Any]:
        """The audit record (event ``workload_diagnostics``)."""
        return {"event": "workload_diagnostics", "rank_correlation": self.rank_correlation(),
                "cost_per_budget": self.cost_per_budget(),
                "calibration": {"n": len(self.z_scores), "coverage_90": self.coverage_90()},
                "time": float(seconds_since_start)}
