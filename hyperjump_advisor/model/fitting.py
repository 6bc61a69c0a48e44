"""Hyperparameter optimisation with GPy, and the policy that decides when to run it.

GPy has no feature-map kernel, so the budget feature phi is fed as an extra input
column and ``Bias + Linear`` act on that column only (``active_dims``); the Matern
variance is fixed to 1.  GPy is imported lazily (slow import, only needed to fit) and
has no type stubs: its objects are ``Any`` here and nowhere else.

Contract:

* ``RefitPolicy``: the first fit, then again once the number of distinct observations
  reaches ``growth`` (1.25) times its value at the previous optimisation, i.e. O(log n)
  optimisations in total (``max_refits(n)`` is the bound); optionally also every
  ``every`` new observations.
* ``HyperparameterFitter.fit`` maximises the likelihood of standardised losses with
  bounded L-BFGS-B: one start warm from the previous hyperparameters (clipped into the
  bounds, <= ``max_iters`` = 40 evaluations) and one from the defaults (<= 100,
  ``restart_from_default``); the better likelihood wins, and when every start fails the
  previous (or default) hyperparameters are kept.  It uses a random subset of at most
  ``fit_max_points`` (300) points that holds every largest-budget point (or a random
  ``fit_max_points // 2`` of them when there are more), so a refit costs ~0.2-0.7 s
  whatever n is (measured by ``benchmarks/bench_model.py`` on the shared 2-core
  machine).  The subset is drawn from the fitter's own seeded generator: fits are
  reproducible.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional

import numpy as np
from numpy.typing import NDArray

from .. import ties
from ..posterior import Array
from .kernel import KernelHyperparameters, budget_feature

GPyModel = Any  # a GPy.models.GPRegression; GPy has no type stubs
NOISE_MAX = 2.0  # upper bound of the noise variance (standardised units)


@dataclass(frozen=True)
class Bounds:
    """Box constraints of the optimisation (variances in standardised-loss units)."""

    lengthscale: tuple[float, float]
    variance: tuple[float, float]  # for sigma_b^2 and sigma_l^2
    noise_floor: float  # lower bound of the noise variance; the upper bound is NOISE_MAX


@dataclass(frozen=True)
class FitSettings:
    """How a refit optimises (see the module docstring)."""

    bounds: Bounds
    fit_max_points: int = 300
    max_iters: int = 40
    first_max_iters: int = 100
    restart_from_default: bool = True


class RefitPolicy:
    """When to optimise the hyperparameters again, and how often it happened."""

    def __init__(self, min_observations: int, growth: float, every: Optional[int]) -> None:
        self.min_observations = min_observations
        self.growth = growth
        self.every = every
        self.n_refits = 0
        self.n_at_last_refit = 0

    def due(self, n: int) -> bool:
        """Whether n distinct observations call for an optimisation (always before the first)."""
        if self.n_refits == 0:
            return True
        if n >= self.growth * self.n_at_last_refit:
            return True
        return self.every is not None and n - self.n_at_last_refit >= self.every

    def record(self, n: int) -> None:
        """An optimisation ran at n distinct observations."""
        self.n_refits += 1
        self.n_at_last_refit = n

    def max_refits(self, n: int) -> int:
        """Upper bound on optimisations for observations added one by one up to n (growth rule)."""
        if n < self.min_observations:
            return 0
        count, last = 1, self.min_observations
        while True:
            nxt = max(last + 1, math.ceil(self.growth * last - 1e-9))
            if nxt > n:
                return count
            count, last = count + 1, nxt


def default_hyperparameters(n_dims: int) -> KernelHyperparameters:
    """The starting point of a fit from scratch."""
    return KernelHyperparameters(
        lengthscale=np.full(n_dims, 0.5),
        matern_variance=1.0,
        bias_variance=1.0,
        linear_variance=1.0,
        noise_variance=1e-2,
    )


def choose_fit_subset(budgets: Array, max_points: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Sorted positions used for optimisation: the largest-budget points (at most max_points // 2 of
    them, drawn at random when more), then random others up to max_points."""
    n = budgets.size
    if n <= max_points:
        return np.arange(n)
    top = np.flatnonzero(budgets >= budgets.max() - 1e-12)
    if top.size > max_points // 2:
        top = np.sort(rng.choice(top, max_points // 2, replace=False))
    rest = np.setdiff1d(np.arange(n), top)
    extra = rng.choice(rest, max_points - top.size, replace=False)
    return np.sort(np.concatenate([top, extra]))


def clip_to_bounds(h: KernelHyperparameters, bounds: Bounds) -> KernelHyperparameters:
    """h moved just inside the bounds, so that a warm start is feasible for L-BFGS-B."""
    lo, hi = bounds.lengthscale
    vlo, vhi = bounds.variance

    def inside(v: float, a: float, b: float) -> float:
        return float(np.clip(v, a + 1e-9 * (b - a), b - 1e-9 * (b - a)))

    return replace(
        h,
        lengthscale=np.clip(h.lengthscale, lo * (1 + 1e-6), hi * (1 - 1e-6)),
        bias_variance=inside(h.bias_variance, vlo, vhi),
        linear_variance=inside(h.linear_variance, vlo, vhi),
        noise_variance=inside(h.noise_variance, bounds.noise_floor, NOISE_MAX),
    )


def build_gpy(x: Array, p: Array, y: Array, h: KernelHyperparameters, bounds: Optional[Bounds]) -> GPyModel:
    """GPy regression of y on (x, phi=p) with hyperparameters h; constrained for fitting when ``bounds``."""
    import GPy  # slow import, only needed to fit

    d = x.shape[1]
    matern = GPy.kern.Matern52(d, variance=h.matern_variance, lengthscale=h.lengthscale.copy(),
                               ARD=True, active_dims=list(range(d)))
    budget = GPy.kern.Bias(1, variance=h.bias_variance, active_dims=[d]) + GPy.kern.Linear(
        1, variances=h.linear_variance, active_dims=[d])
    model = GPy.models.GPRegression(np.column_stack([x, p]), y[:, None], matern * budget,
                                    noise_var=h.noise_variance)
    if bounds is not None:
        lo, hi = bounds.lengthscale
        vlo, vhi = bounds.variance
        # Each constraint would recompute the likelihood (~7 ms at 300 points): once, at the end, instead.
        model.update_model(False)
        model.kern.Mat52.variance.fix(warning=False)
        model.kern.Mat52.lengthscale.constrain_bounded(lo, hi, warning=False)
        model.kern.sum.bias.variance.constrain_bounded(vlo, vhi, warning=False)
        model.kern.sum.linear.variances.constrain_bounded(vlo, vhi, warning=False)
        model.likelihood.variance.constrain_bounded(bounds.noise_floor, NOISE_MAX, warning=False)
        model.update_model(True)
    return model


def import_gpy() -> None:
    """Import GPy now: its import costs 1-2 s once per process, which would otherwise fall on the NNI command
    whose result starts the first refit (measured as the worst command of ``benchmarks/bench_scale.py``)."""
    with quiet_gpy():
        import GPy  # noqa: F401


def hyperparameters_of(model: GPyModel) -> KernelHyperparameters:
    """The hyperparameters of a model built by ``build_gpy``."""
    k = model.kern
    return KernelHyperparameters(
        lengthscale=np.array(k.Mat52.lengthscale.values, dtype=float),
        matern_variance=float(k.Mat52.variance.values[0]),
        bias_variance=float(k.sum.bias.variance.values[0]),
        linear_variance=float(k.sum.linear.variances.values[0]),
        noise_variance=float(model.likelihood.variance.values[0]),
    )


def coarse_hyperparameters(h: KernelHyperparameters) -> KernelHyperparameters:
    """h rounded by the tie rule: another BLAS kernel's fit, the same to 6e-8, gives the same model."""
    return replace(h, lengthscale=ties.coarse(h.lengthscale), matern_variance=ties.coarse(h.matern_variance),
                   bias_variance=ties.coarse(h.bias_variance), linear_variance=ties.coarse(h.linear_variance),
                   noise_variance=ties.coarse(h.noise_variance))


_PORTABLE_LBFGSB: Any = None


def portable_lbfgsb(max_iters: int) -> Any:
    """paramz's L-BFGS-B seeing the likelihood through the tie rule (``ties``): evaluated at ``coarse(x)``,
    the objective rounded by ``coarse`` and the gradient by ``on_grid``.

    L-BFGS feeds every value back into its path, so another BLAS kernel's last bits (in the likelihood
    and in L-BFGS-B's own arithmetic) grew into fitted hyperparameters up to 5e-5 apart, or another point
    of a flat likelihood ridge. Rounded, the values it sees are the same on every kernel, and 6e-8 of
    relative likelihood is far below what the data can tell. A line search that finds no decrease at
    that precision has converged."""
    global _PORTABLE_LBFGSB
    if _PORTABLE_LBFGSB is None:
        from paramz.optimization.optimization import opt_lbfgsb

        class PortableLbfgsb(opt_lbfgsb):  # type: ignore[misc]  # paramz has no types
            x_opt: Any
            status: Any

            def opt(self, x_init: Any, f_fp: Any = None, f: Any = None, fp: Any = None) -> None:
                def coarse_f_fp(x: Any) -> tuple[float, Any]:
                    value, gradient = f_fp(ties.coarse(x))
                    return ties.coarse(float(value)), ties.on_grid(gradient)

                super().opt(ties.coarse(x_init), f_fp=coarse_f_fp, f=f, fp=fp)
                self.x_opt = ties.coarse(self.x_opt)
                if "ABNORMAL" in str(self.status):  # scipy: "ABNORMAL: ..." (line search found no decrease)
                    self.status = "Converged"

        _PORTABLE_LBFGSB = PortableLbfgsb
    return _PORTABLE_LBFGSB(max_iters=max_iters)


@contextlib.contextmanager
def quiet_gpy() -> Iterator[None]:
    """Silence GPy/paramz warnings and log records for the duration of a fit only."""
    loggers = [logging.getLogger(name) for name in ("GPy", "paramz")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels):
                lg.setLevel(lv)


class FitJob:
    """One hyperparameter optimisation, run a few likelihood evaluations at a time.

    A refit of 300 points costs 0.2-0.7 s in one go, far over what one NNI command may take; run in
    slices of ``step(evaluations)`` it spreads over the next results. Slices are counted in
    evaluations, not seconds, so a replay stays deterministic. L-BFGS restarts at each slice from where
    the last one stopped (its curvature memory is lost, the bounds of ``FitSettings`` still hold)."""

    def __init__(self, settings: FitSettings, x: Array, p: Array, y: Array,
                 previous: Optional[KernelHyperparameters]) -> None:
        self._x, self._p, self._y = x, p, y
        self._bounds = settings.bounds
        self._previous = previous
        self._starts: list[tuple[KernelHyperparameters, int]] = []
        if previous is not None:
            self._starts.append((clip_to_bounds(previous, settings.bounds), settings.max_iters))
        if previous is None or settings.restart_from_default:
            self._starts.append((default_hyperparameters(x.shape[1]), settings.first_max_iters))
        self._model: GPyModel = None
        self._left = self._starts[0][1] if self._starts else 0
        self._best: GPyModel = None
        self._best_objective = np.inf

    @property
    def points(self) -> int:
        return int(self._y.size)

    @property
    def done(self) -> bool:
        return not self._starts

    def step(self, evaluations: Optional[int] = None) -> bool:
        """Run up to ``evaluations`` likelihood evaluations (None: to the end); True when the job is done."""
        budget = math.inf if evaluations is None else evaluations
        with quiet_gpy():
            while self._starts and budget > 0:
                budget -= self._advance(int(min(budget, self._left)))
        return self.done

    def _advance(self, evaluations: int) -> int:
        """A slice of the current start; the next start when it converged or ran out. Returns evaluations used."""
        h0, _ = self._starts[0]
        try:
            if self._model is None:
                self._model = build_gpy(self._x, self._p, self._y, h0, self._bounds)
            run = self._model.optimize(optimizer=portable_lbfgsb(evaluations))
            used = max(1, int(getattr(run, "funct_eval", evaluations) or evaluations))
            self._left -= used
            if self._left > 0 and getattr(run, "status", "") != "Converged":
                return used
            objective = float(self._model.objective_function())
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            self._next_start()
            return evaluations
        if np.isfinite(objective) and ties.less(objective, self._best_objective):  # a tie: the earlier start
            self._best_objective, self._best = objective, self._model
        self._next_start()
        return used

    def _next_start(self) -> None:
        self._starts.pop(0)
        self._model = None
        self._left = self._starts[0][1] if self._starts else 0

    def result(self) -> KernelHyperparameters:
        if self._best is not None:
            return coarse_hyperparameters(hyperparameters_of(self._best))
        return self._previous if self._previous is not None else default_hyperparameters(self._x.shape[1])


class HyperparameterFitter:
    """Bounded maximum-likelihood hyperparameters on a reproducible subset of the points."""

    def __init__(self, settings: FitSettings, seed: int) -> None:
        self.settings = settings
        self._rng = np.random.default_rng(seed)

    def start(self, x: Array, budgets: Array, y: Array, previous: Optional[KernelHyperparameters]) -> FitJob:
        """An optimisation for the points (x, budgets) with standardised losses y, to be stepped."""
        sub = choose_fit_subset(budgets, self.settings.fit_max_points, self._rng)
        return FitJob(self.settings, x[sub], budget_feature(budgets[sub]), y[sub], previous)

    def fit(self, x: Array, budgets: Array, y: Array,
            previous: Optional[KernelHyperparameters]) -> KernelHyperparameters:
        """Hyperparameters for the points (x, budgets) with standardised losses y, in one go."""
        job = self.start(x, budgets, y, previous)
        job.step()
        return job.result()
