"""The engine's side of the workload diagnostics: what it measures, when, and where the summary goes.

No NNI here. :class:`DiagnosticsFeed` is told when a trial is sent (``trial_sent``), when its final
metric arrives (``trial_done``; the seconds in between are the trial's cost) and, through
:class:`~hyperjump_advisor.evidence.Evidence`'s ``on_new`` hook, of every new observation before the
model learns it (``observe``: the model's prediction of it, for calibration). It writes
:meth:`WorkloadDiagnostics.summary` to the audit sink at a geometric rate of results.

``clock`` is the advisor's wall clock live (NNI's payloads carry no timestamps) and the simulated
clock in the replay (the simulator installs it, ``HyperJump.use_trial_clock``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from . import bracket_allocation as alloc
from . import bracket_value
from .calibrated import CalibratedPosterior, inflation_of
from .diagnostics import WorkloadDiagnostics

Prediction = Optional[tuple[float, float]]   # predictive (mean, std), None when the model cannot say


class DiagnosticsFeed:
    def __init__(self, budgets: list[int], audit: Callable[[dict[str, Any]], None], clock: Callable[[], float],
                 predict: Callable[[int, int], Prediction]):
        self.state = WorkloadDiagnostics(list(budgets))
        self.audit, self.predict = audit, predict
        self.clock = clock
        self.started_at = clock()
        self._running: dict[int, tuple[float, int, int]] = {}   # parameter id -> (sent at, from budget, to budget)
        self.brackets: Optional[LearnedBrackets] = None          # learned_brackets: its weights go in the summary

    def attach(self, evidence: Any, scheduler: Any, settings: Any) -> None:
        """Observe the evidence's new observations; with ``learned_brackets`` choose the async brackets."""
        evidence.on_new = self.observe
        if settings.learned_brackets and hasattr(scheduler, "choose_bracket"):
            budgets = [st.budget for st in scheduler.rungs.plan]
            self.brackets = LearnedBrackets(self.state, budgets, settings.eta, settings.pause_resume)
            scheduler.choose_bracket = self.brackets

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Measure durations on another clock (the replay's) from now on."""
        self.clock, self.started_at, self._running = clock, clock(), {}

    def trial_sent(self, parameter_id: int, from_budget: int, to_budget: int) -> None:
        self._running[parameter_id] = (self.clock(), int(from_budget), int(to_budget))

    def trial_done(self, parameter_id: int) -> Optional[tuple[int, int, float]]:
        """Its final metric arrived: the seconds since it was sent are its cost (returned as (from budget, to
        budget, seconds) for the trial's record; None if it was not sent in this session)."""
        sent = self._running.pop(parameter_id, None)
        if sent is None:
            return None
        at, low, high = sent
        seconds = self.clock() - at
        self.state.add_duration(low, high, seconds)
        return low, high, seconds

    def trial_dropped(self, parameter_id: int) -> None:
        self._running.pop(parameter_id, None)

    def observe(self, config_id: int, budget: int, loss: float) -> None:
        """A new observation, before the model learns it."""
        state = self.state
        if state.lower_budget_measured(config_id, budget):
            prediction = self.predict(config_id, budget)
            if prediction is not None:
                state.add_prediction(loss, *prediction)
        state.add_result(config_id, budget, loss)
        if state.summary_due():
            record = state.summary(self.clock() - self.started_at)
            if self.brackets is not None:
                record["brackets"] = self.brackets.summary()
            self.audit(record)


def calibrated_posterior(model: Any, state: WorkloadDiagnostics) -> CalibratedPosterior:
    """The risk engine's beliefs with ``calibrated_risk``: the model widened by the measured calibration."""
    return CalibratedPosterior(model, lambda: inflation_of(state))


class LearnedBrackets:
    """``learned_brackets``: starts -> bracket, by the measured seconds and rank correlations
    (bracket_allocation.py, bracket_value.py). ``budgets`` are the rungs' budgets, lowest first. The
    correlations are recomputed when the results grew by 10% (a pass over the configurations measured at R)."""

    def __init__(self, state: WorkloadDiagnostics, budgets: list[int], eta: int, resume: bool):
        self.state, self.budgets, self.eta, self.resume = state, list(budgets), eta, resume
        self._rho_at = -1
        self._rho: list[Optional[float]] = [None] * len(budgets)

    def rho_to_top(self) -> list[Optional[float]]:
        """Bracket s -> Spearman's rho between its starting budget and R (None: too few pairs)."""
        if self._rho_at < 0 or self.state.results >= 1.1 * self._rho_at:
            top = self.budgets[-1]
            by_low = {r["low_budget"]: r for r in self.state.rank_correlation(top)}
            rows = [by_low.get(b) for b in reversed(self.budgets)]   # bracket s starts at budgets[top - s]
            self._rho = [None if r is None or r["n"] < alloc.MIN_PAIRS else r["spearman"] for r in rows]
            self._rho[0] = None
            self._rho_at = self.state.results
        return self._rho

    def seconds(self) -> list[float]:
        """Bracket s -> expected seconds per start, from the measured medians."""
        fresh = [self.state.median_seconds(0, b) for b in self.budgets]
        resumed = [None] + [self.state.median_seconds(a, b) for a, b in zip(self.budgets, self.budgets[1:])]
        scratch, steps = alloc.step_seconds(self.budgets, fresh, resumed)
        return alloc.bracket_seconds(scratch, steps, self.eta, self.resume)

    def weights(self) -> tuple[list[float], list[Optional[float]], list[float]]:
        """Per bracket: the seconds a start is expected to use, its effective samples per second (None: its
        rungs not measured yet) and its share of the seconds."""
        seconds = self.seconds()
        rates = bracket_value.rates(self.rho_to_top(), seconds, self.eta)
        return seconds, rates, alloc.bracket_shares(rates)

    def summary(self) -> list[dict[str, Any]]:
        """:meth:`weights` per bracket with its starting budget, for the audit (samples per hour)."""
        seconds, rates, shares = self.weights()
        top = len(self.budgets) - 1
        per_hour = [None if r is None else 3600.0 * r for r in rates]
        return [{"bracket": s, "start_budget": self.budgets[top - s], "seconds_per_start": seconds[s],
                 "samples_per_hour": per_hour[s], "share": shares[s]} for s in range(top + 1)]

    def __call__(self, counts: list[int]) -> int:
        seconds, _, shares = self.weights()
        return alloc.choose_bracket(counts, seconds, shares)
