"""Multi-fidelity Gaussian process predicting the loss of a configuration at a budget.

``MultiFidelityGP`` composes one object per idea and decides when each one acts:

* :mod:`.store` keeps the distinct (x, b) observations (repeats are averaged) and which
  of them are active; ``add_observations`` only records, no linear algebra.
* :mod:`.fitting` optimises the hyperparameters when its ``RefitPolicy`` says so
  (O(log n) times), on a subset of at most 300 points.  Up to ``SYNC_FIT_POINTS`` points
  a refit runs at once; above, it runs ``REFIT_SLICE_EVALUATIONS`` likelihood evaluations
  per update with new data, so no single NNI command pays a whole refit (0.2-0.7 s), and
  the posterior keeps the previous hyperparameters until the refit finishes.
* :mod:`.posterior` (over :mod:`.factor` and :mod:`.kernel`) conditions on the active
  points: between refits new points extend the Cholesky factor by a block, O(n^2 k).
* Trimming: at most ``max_points`` (1000) points stay in the posterior.  Past
  ``max_points + trim_slack`` (1100) the store drops the oldest points below the largest
  budget and the factor is recomputed (~30 ms, once per 100 new points).
* :mod:`.blas` runs BLAS single-threaded inside the model's calls.
* Under NNI (``background``) refits and full factorisations run on a worker (:mod:`.background_posterior`).

Measured (``python benchmarks/bench_model.py --repeats 50``, d = 4, machine
shared with other jobs), ms, median / p95::

    n      add 1 + predict 81   predict_joint 5 budgets   refit       refit / obs
    100        0.6 / 0.7             0.8 / 0.9          161 / 220      6.5
    500        2.0 / 2.1             2.8 / 3.0          561 / 591      4.5
    1000       4.7 / 5.6             6.1 / 6.8          629 / 675      2.5
    2000       4.8 / 5.8             6.4 / 7.3          608 / 690      1.2  (capped)
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from ..posterior import Array
from . import inputs
from .blas import limit_blas_threads
from .fitting import Bounds, FitJob, FitSettings, GPyModel, HyperparameterFitter, RefitPolicy, build_gpy, quiet_gpy
from .kernel import KernelHyperparameters, budget_feature
from .outliers import tame_outliers
from . import background_posterior
from .background_posterior import PosteriorJob
from .posterior import GPPosterior, standardisation

_logger = logging.getLogger("hyperjump_advisor")
COLLAPSE_FACTOR = 1.01       # a budget-term variance within 1% of its lower bound: the fit pressed it to the bound
SYNC_FIT_POINTS = 100        # a refit on at most this many points costs ~50 ms: run it at once
REFIT_SLICE_EVALUATIONS = 4  # likelihood evaluations per update otherwise (~5 ms each at 300 points)
from .store import IntArray, ObservationStore


class MultiFidelityGP:
    """GP over (encoded hyperparameters, normalised budget) predicting the loss.

    Parameters
    ----------
    n_dims: number of encoded hyperparameter dimensions (d_enc).
    min_observations: distinct (x, b) observations needed before ``ready``
        (the paper uses d + 2).
    seed: seeds the choice of the hyperparameter-fitting subset.
    refit_growth: optimise hyperparameters again once the number of distinct
        observations reaches ``refit_growth`` times its value at the last
        optimisation (> 1).
    refit_every: optionally also optimise after this many new distinct
        observations (None: growth rule only).
    fit_max_points: size cap of the subset used for hyperparameter optimisation.
    max_points: cap on the points kept in the posterior.
    trim_slack: points allowed above ``max_points`` before trimming.
    max_iters: L-BFGS-B evaluation cap of a warm-started optimisation.
    first_max_iters: evaluation cap of the starts from default hyperparameters.
    restart_from_default: also optimise from the default initialisation at
        every refit and keep the better likelihood.
    noise_floor: lower bound of the noise variance (standardised units).
    blas_threads: BLAS threads used inside the model's calls (None: leave as is).
    lengthscale_bounds, variance_bounds: box constraints of the optimisation.
    refuse_collapsed_fits: a refit whose budget term sits at its lower bound keeps the previous
        hyperparameters when theirs did not (``keep_budget_term``).
    """

    def __init__(
        self,
        n_dims: int,
        min_observations: int,
        seed: int = 0,
        refit_growth: float = 1.25,
        refit_every: Optional[int] = None,
        fit_max_points: int = 300,
        max_points: int = 1000,
        trim_slack: int = 100,
        max_iters: int = 40,
        first_max_iters: int = 100,
        restart_from_default: bool = True,
        noise_floor: float = 1e-6,
        blas_threads: Optional[int] = 1,
        lengthscale_bounds: tuple[float, float] = (1e-2, 20.0),
        variance_bounds: tuple[float, float] = (1e-4, 1e2),
        refuse_collapsed_fits: bool = False,
    ) -> None:
        if int(n_dims) != n_dims or n_dims < 1:
            raise ValueError(f"n_dims must be a positive integer, got {n_dims!r}")
        if int(min_observations) != min_observations or min_observations < 1:
            raise ValueError(f"min_observations must be a positive integer, got {min_observations!r}")
        if not refit_growth > 1.0:
            raise ValueError(f"refit_growth must be > 1, got {refit_growth!r}")
        if refit_every is not None and refit_every < 1:
            raise ValueError(f"refit_every must be >= 1 or None, got {refit_every!r}")
        if fit_max_points < 2 or max_points < 2 or trim_slack < 0:
            raise ValueError(
                f"need fit_max_points >= 2, max_points >= 2, trim_slack >= 0; got "
                f"{fit_max_points!r}, {max_points!r}, {trim_slack!r}"
            )
        if not noise_floor > 0:
            raise ValueError(f"noise_floor must be > 0, got {noise_floor!r}")
        self.n_dims = int(n_dims)
        self.min_observations = int(min_observations)
        self.max_points = int(max_points)
        self.trim_slack = int(trim_slack)
        self.blas_threads = blas_threads
        bounds = Bounds(
            lengthscale=(float(lengthscale_bounds[0]), float(lengthscale_bounds[1])),
            variance=(float(variance_bounds[0]), float(variance_bounds[1])),
            noise_floor=float(noise_floor),
        )
        self.fitter = HyperparameterFitter(
            FitSettings(bounds, int(fit_max_points), int(max_iters), int(first_max_iters), bool(restart_from_default)),
            seed,
        )
        self.refits = RefitPolicy(self.min_observations, float(refit_growth), refit_every)
        self.store = ObservationStore(self.n_dims)
        self._posterior: Optional[GPPosterior] = None
        self._refit: Optional[Union[FitJob, PosteriorJob]] = None
        self._losses_stale = False  # a repeat changed the mean loss of an active pair
        self.collapsed_refits = 0   # refits whose budget term (linear variance) sat at its lower bound
        self.refuse_collapsed_fits = refuse_collapsed_fits
        # Off the command path (the advisor under NNI): a refit too large to run at once is handed to
        # ``background(job)``, which runs it elsewhere and calls ``refit_finished(job)`` on the command thread;
        # the posterior keeps the last good hyperparameters until then. None: sliced over later updates.
        self.background: Optional[Callable[[Union[FitJob, PosteriorJob]], None]] = None
        self._refit_finished = False
        self._factorisations_before = 0

    # ------------------------------------------------------------------ data
    def add_observations(self, X: ArrayLike, budgets: ArrayLike, losses: ArrayLike) -> None:
        """Record observations; cheap (no linear algebra until the next prediction).

        X (k, n_dims) in [0,1]; budgets (k,) in [0,1]; losses (k,) finite.  A repeated
        (x, b) pair updates the running mean of that pair's loss.
        """
        X, b, y = inputs.observations(X, budgets, losses, self.n_dims)
        if self.store.add(X, b, y):
            self._losses_stale = True

    @property
    def n_observations(self) -> int:
        """Number of distinct (x, b) observations recorded."""
        return self.store.n

    @property
    def ready(self) -> bool:
        """Enough observations for a model. With a background worker, also the first fit landed: it is handed
        to the worker the first time this is asked, and until its completion is processed the advisor
        decides without the model, as it did before min_observations."""
        if self.n_observations < self.min_observations:
            return False
        if self.background is not None and self._posterior is None:
            if self._refit is None:
                self._hand_off(fit=True)
            return self._refit_finished   # adopted by the next prediction
        return True

    # ------------------------------------------------------------ prediction
    def predict(self, X: ArrayLike, budget: Union[float, ArrayLike]) -> tuple[Array, Array]:
        """Posterior mean and std of the latent loss of m configs -> ((m,), (m,)).

        ``budget`` is one normalised budget for all rows or an array (m,) of them.
        """
        X, b = inputs.query(X, budget, self.n_dims)
        phi = budget_feature(b)
        with limit_blas_threads(self.blas_threads):
            return self._updated_posterior().predict(X, phi)

    def predict_as_it_stands(self, X: ArrayLike, budget: Union[float, ArrayLike]) -> Optional[tuple[Array, Array]]:
        """Predictive mean and std (latent and noise) of the last posterior, without bringing it up to date.

        Changes no state (no refit started or stepped, no pending point activated), so asking it cannot
        alter a later decision; None before the first fit. For measuring calibration (diagnostics.py)."""
        posterior = self._posterior
        if posterior is None:
            return None
        X, b = inputs.query(X, budget, self.n_dims)
        with limit_blas_threads(self.blas_threads):
            mean, std = posterior.predict(X, budget_feature(b))
        noise = posterior.hyper.noise_variance * posterior.y_scale ** 2
        return mean, np.sqrt(std * std + noise)

    def predict_budgets(self, X: ArrayLike, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        """Mean and std of m configs at each of several budgets: ``means[h]``, ``stds[h]`` (m,).

        Equals ``predict(X, budgets[h])`` for every h, but costs O(n m) per call for a set of configs
        that is queried again as observations arrive (the configs of a stage): ``L^{-1} K(Z, X)`` is
        kept per X and extended by the new rows of the Cholesky factor; it is rebuilt only after a
        full factorisation (refit or trim)."""
        X, floats = inputs.query_budgets(X, budgets, self.n_dims)
        with limit_blas_threads(self.blas_threads):
            posterior = self._updated_posterior()
            solves = posterior.stage_solves(X)
        # Outside the BLAS limit, as it has always been: moving it inside could change the last bits.
        return posterior.predict_from_stage_solves(solves, floats)

    def predict_joint(self, X: ArrayLike, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        """Means at several budgets and covariances with the first budget.

        Returns ``means[h]`` (m,) at ``budgets[h]`` and ``cross_cov[h]`` (m, m) with
        ``cross_cov[h][i, c] = Cov(f(x_i, budgets[h]), f(x_c, budgets[0]))`` (latent loss).
        """
        X, floats = inputs.query_budgets(X, budgets, self.n_dims)
        with limit_blas_threads(self.blas_threads):
            return self._updated_posterior().predict_joint(X, floats)

    # --------------------------------------------------------------- fitting
    def fit(self, force_hyperopt: bool = False) -> None:
        """Bring the posterior up to date; optimise hyperparameters when the policy says so."""
        with limit_blas_threads(self.blas_threads):
            self._updated_posterior(force_hyperopt)

    def max_hyperopts(self, n: int) -> int:
        """Upper bound on optimisations for observations added one by one up to n (growth rule)."""
        return self.refits.max_refits(n)

    def to_gpy(self) -> tuple[GPyModel, float, float]:
        """A GPy GPRegression on the active points with the current hyperparameters.

        For checking and debugging: its latent predictions, de-standardised with
        ``(mean * scale + offset, std * scale)``, equal ``predict``'s.  Returns
        ``(model, offset, scale)``.
        """
        with limit_blas_threads(self.blas_threads):
            posterior = self._updated_posterior()
        y = (self._active_losses() - posterior.y_mean) / posterior.y_scale
        with quiet_gpy():
            model = build_gpy(posterior.x, posterior.phi, y, posterior.hyper, bounds=None)
        return model, posterior.y_mean, posterior.y_scale

    # -------------------------------------------------------------- counters
    @property
    def hyper(self) -> Optional[KernelHyperparameters]:
        """The hyperparameters of the posterior (None before the first fit)."""
        return None if self._posterior is None else self._posterior.hyper

    @property
    def n_hyperopts(self) -> int:
        """Hyperparameter optimisations run (one per refit)."""
        return self.refits.n_refits

    @property
    def n_full_factorisations(self) -> int:
        """O(n^3) posterior rebuilds so far on the command thread (the worker's are not counted)."""
        return self._factorisations_before + (0 if self._posterior is None else self._posterior.n_factorisations)

    @property
    def refit_growth(self) -> float:
        return self.refits.growth

    @property
    def _active(self) -> IntArray:
        """The active ids (read by benchmarks/bench_model.py)."""
        return self.store.active

    @property
    def _pending(self) -> tuple[int, ...]:
        """The pending ids (read by benchmarks/bench_model.py)."""
        return self.store.pending

    # ------------------------------------------------------- posterior upkeep
    def _updated_posterior(self, force_hyperopt: bool = False) -> GPPosterior:
        """The posterior brought up to date with the store, refitting when the policy says so."""
        if self.n_observations < self.min_observations:
            raise RuntimeError(
                f"model not ready: {self.n_observations} distinct observations < min_observations={self.min_observations}"
            )
        store, posterior = self.store, self._posterior
        if posterior is None and self._refit is not None and self._refit_finished:
            return self._adopt_refit()   # the first fit, run by the worker
        small_refit_due = self._refit is None and self.refits.due(store.n) and self._fit_points() <= SYNC_FIT_POINTS
        if force_hyperopt or posterior is None or (self.background is None and small_refit_due):
            store.activate_pending()
            store.trim(self.max_points)
            self._refit = self._start_refit()
            self._refit.step()
            return self._adopt_refit()
        if self._refit is None and self.refits.due(store.n):
            if self.background is not None:
                self._hand_off(fit=True)
            else:
                self._refit = self._start_refit()
        elif self._refit is not None and self._refit_finished:
            return self._adopt_refit()
        elif self._refit is not None and self.background is None and store.pending and \
                self._refit.step(REFIT_SLICE_EVALUATIONS):
            return self._adopt_refit()
        if store.pending:
            new = store.activate_pending()
            if store.active.size > self.max_points + self.trim_slack:
                if self.background is None:
                    store.trim(self.max_points)
                    return self._condition(posterior.hyper)
                if self._refit is None:
                    self._hand_off(fit=False)   # the rebuild runs on the worker; until then the posterior grows
            x_new, phi_new = self._features(new)
            if not posterior.extend(x_new, phi_new, self._active_losses()):
                return self._condition(posterior.hyper)
            self._losses_stale = False
        if self._losses_stale:
            posterior.set_losses(self._active_losses())
            self._losses_stale = False
        return posterior

    def refit_finished(self, job: Union[FitJob, PosteriorJob]) -> None:
        """The background refit ``job`` ended: its hyperparameters are adopted at the next update. Called on
        the command thread, so what the model decides depends only on the order of commands and completions."""
        if job is self._refit:
            self._refit_finished = True

    def _fit_points(self) -> int:
        return min(self.fitter.settings.fit_max_points, self.store.active.size + len(self.store.pending))

    def _start_refit(self) -> FitJob:
        """A hyperparameter optimisation on the points known now, active and pending (stepped by later updates)."""
        ids = np.concatenate([self.store.active, np.asarray(self.store.pending, dtype=np.int64)])
        losses = tame_outliers(self.store.mean_losses(ids))
        y_mean, y_scale = standardisation(losses)
        x, budgets = self.store.inputs(ids), self.store.budgets(ids)
        self.refits.record(self.store.n)
        return self.fitter.start(x, budgets, (losses - y_mean) / y_scale, previous=self.hyper)

    def _hand_off(self, fit: bool) -> None:
        """A refit (``fit``) or a rebuild with the current hyperparameters, factorised on the worker."""
        ids, dropped, x, budgets, losses = background_posterior.snapshot(self.store, self.max_points,
                                                                         self._losses_of)
        refit = self._start_refit() if fit else None
        self._refit = PosteriorJob(refit, None if fit else self.hyper, ids, dropped, x, budgets, losses)
        self._refit_finished = False
        assert self.background is not None
        self.background(self._refit)

    def _adopt_refit(self) -> GPPosterior:
        """The finished refit's hyperparameters, on every active point (those added meanwhile included)."""
        assert self._refit is not None
        job = self._refit
        hyper, self._refit, self._refit_finished = job.result(), None, False
        if self._budget_term_collapsed(hyper) and self.refuse_collapsed_fits and self.hyper is not None \
                and not self._budget_term_collapsed(self.hyper, count=False):
            hyper = self.hyper   # keep the previous fit, whose budget term still says something
        if isinstance(job, PosteriorJob):
            swapped = background_posterior.adopt(job, hyper, self.store, self._losses_of)
            if swapped is not None:
                if self._posterior is not None:   # the count goes on: factorisations on the command thread
                    self._factorisations_before += self._posterior.n_factorisations - swapped.n_factorisations
                self._posterior, self._losses_stale = swapped, False
                return swapped
        self.store.activate_pending()
        self.store.trim(self.max_points)
        return self._condition(hyper)

    def _budget_term_collapsed(self, hyper: KernelHyperparameters, count: bool = True) -> bool:
        """After each refit: a linear variance at its lower bound means the GP predicts (nearly) one loss at
        every budget for a configuration; say so (once, then counted), since jumps and stops rest on it."""
        floor = self.fitter.settings.bounds.variance[0]
        if hyper.linear_variance > COLLAPSE_FACTOR * floor:
            return False
        if not count:
            return True
        if self.collapsed_refits == 0:
            _logger.warning("the model's budget term collapsed at its lower bound (linear variance %.2g, bias %.2g, "
                            "noise %.2g on %d points): it predicts about one loss at every budget",
                            hyper.linear_variance, hyper.bias_variance, hyper.noise_variance, self.store.n)
        self.collapsed_refits += 1
        return True

    def _condition(self, hyper: KernelHyperparameters) -> GPPosterior:
        """Rebuild the posterior on all active points."""
        x, phi = self._features(self.store.active)
        if self._posterior is None:
            self._posterior = GPPosterior(hyper, x, phi, self._active_losses())
        else:
            self._posterior.condition(hyper, x, phi, self._active_losses())
        self._losses_stale = False
        return self._posterior

    def _features(self, ids: IntArray) -> tuple[Array, Array]:
        return self.store.inputs(ids), budget_feature(self.store.budgets(ids))

    def _active_losses(self) -> Array:
        return self._losses_of(self.store.active)

    def _losses_of(self, ids: IntArray) -> Array:
        return tame_outliers(self.store.mean_losses(ids))
