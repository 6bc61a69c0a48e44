"""Multi-fidelity Gaussian process predicting the loss of a configuration at a budget.

Model (paper supplement, Section 2)
-----------------------------------
One GP over z = (x, phi) where x in [0,1]^d are the encoded hyperparameters and
phi = (1 - b*)^2 is the budget feature, b* = budget / R in [0,1]::

    k(z, z') = Matern52_ARD(x, x') * (sigma_b^2 + sigma_l^2 * phi * phi')

i.e. a Matern 5/2 kernel over the hyperparameters times a Bayesian linear kernel
on the basis phi(b*) = (1, (1-b*)^2).  GPy has no feature-map kernel, so phi is
fed as an extra input column and ``Bias + Linear`` act on that column only
(``active_dims``).  The Matern variance is fixed to 1 (the product's scale lives
in sigma_b^2, sigma_l^2).  Losses are standardised (mean 0, std 1 over the
active points); the Gaussian noise variance has a floor (``noise_floor``, in
standardised units) and GPy's fixed 1e-8 jitter is reproduced.

Repeated (x, b) pairs are averaged (running mean per distinct pair); the number
of distinct pairs is what ``ready`` / ``n_observations`` count.

Cost policy (measured by ``benchmarks/bench_model.py`` on the 2-core machine)
-------------------------------------------------------------------------------
* Hyperparameters (ARD lengthscales, sigma_b^2, sigma_l^2, noise) are optimised
  with GPy's L-BFGS-B only when the number of distinct observations reaches
  ``refit_growth`` (1.25) times its value at the previous optimisation, i.e.
  O(log n) optimisations in total (``max_hyperopts(n)`` gives the bound).  Each
  refit runs one start warm from the previous hyperparameters (<= 40
  evaluations) and one from the defaults (<= 100); the better likelihood wins.
  It uses a random subset of at most ``fit_max_points`` (300) points that always
  holds the largest-budget points, so a refit costs ~0.2-0.7 s whatever n is.
* Between refits the hyperparameters are kept and only the posterior is
  updated: new points extend the cached Cholesky factor by a block (O(n^2 k)),
  and predictions are computed in numpy from that factor (equal to GPy's, see
  the tests).  ``add_observations`` does no linear algebra.
* At most ``max_points`` (1000) points stay in the posterior.  Past
  ``max_points + trim_slack`` (1100) the oldest points below the largest budget
  are dropped (full-budget points are scarce and anchor the extrapolation) and
  the factor is recomputed (~30 ms, once per 100 new points).
* BLAS runs single-threaded inside the model's calls (threadpoolctl, if
  installed): on 2 shared cores, threaded OpenBLAS was 2-10x slower.

Measured (``python benchmarks/bench_model.py --repeats 50``, d = 4, machine
shared with other jobs), ms, median / p95::

    n      add 1 + predict 81   predict_joint 5 budgets   refit       refit / obs
    100        0.6 / 0.7             0.8 / 0.9          161 / 220      6.5
    500        2.0 / 2.1             2.8 / 3.0          561 / 591      4.5
    1000       4.7 / 5.6             6.1 / 6.8          629 / 675      2.5
    2000       4.8 / 5.8             6.4 / 7.3          608 / 690      1.2  (capped)
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import replace
from typing import Iterator

import numpy as np

from .store import ObservationStore
from .posterior import GPPosterior, standardisation
from .kernel import KernelHyperparameters, budget_feature, kernel, kernel_diag, matern

__all__ = ["MultiFidelityGP", "KernelHyperparameters"]



_THREADPOOLS = None  # threadpoolctl.ThreadpoolController, created on first use


@contextlib.contextmanager
def _blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS threads inside the model's linear algebra (restored on exit).

    Our matrices are small (<= ~1100); on the shared 2-core machine threaded OpenBLAS
    made triangular solves ~2x and hyperparameter fits up to 10x slower.  No-op when ``n`` is None or
    threadpoolctl is not installed.
    """
    global _THREADPOOLS
    if n is None:
        yield
        return
    if _THREADPOOLS is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional dependency
            _THREADPOOLS = False
        else:
            _THREADPOOLS = ThreadpoolController()
    if _THREADPOOLS is False:
        yield
        return
    with _THREADPOOLS.limit(limits=n, user_api="blas"):
        yield


@contextlib.contextmanager
def _quiet_gpy() -> Iterator[None]:
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
    """

    def __init__(
        self,
        n_dims: int,
        min_observations: int,
        seed: int = 0,
        refit_growth: float = 1.25,
        refit_every: int | None = None,
        fit_max_points: int = 300,
        max_points: int = 1000,
        trim_slack: int = 100,
        max_iters: int = 40,
        first_max_iters: int = 100,
        restart_from_default: bool = True,
        noise_floor: float = 1e-6,
        blas_threads: int | None = 1,
        lengthscale_bounds: tuple[float, float] = (1e-2, 20.0),
        variance_bounds: tuple[float, float] = (1e-4, 1e2),
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
        self.refit_growth = float(refit_growth)
        self.refit_every = refit_every
        self.fit_max_points = int(fit_max_points)
        self.max_points = int(max_points)
        self.trim_slack = int(trim_slack)
        self.max_iters = int(max_iters)
        self.first_max_iters = int(first_max_iters)
        self.restart_from_default = bool(restart_from_default)
        self.noise_floor = float(noise_floor)
        self.blas_threads = blas_threads
        self.lengthscale_bounds = (float(lengthscale_bounds[0]), float(lengthscale_bounds[1]))
        self.variance_bounds = (float(variance_bounds[0]), float(variance_bounds[1]))
        self._rng = np.random.default_rng(seed)

        self.store = ObservationStore(self.n_dims)
        self._y_dirty = False
        self._posterior: GPPosterior | None = None

        self.hyper: KernelHyperparameters | None = None
        self._n_at_last_opt = 0
        # Counters (read by tests and the benchmark).
        self.n_hyperopts = 0  # hyperparameter optimisations run (one per refit)

    # ------------------------------------------------------------------ data
    def add_observations(self, X: np.ndarray, budgets: np.ndarray, losses: np.ndarray) -> None:
        """Record observations; cheap (no linear algebra until the next prediction).

        X (k, n_dims) in [0,1]; budgets (k,) in [0,1]; losses (k,) finite.  A repeated
        (x, b) pair updates the running mean of that pair's loss.
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        budgets = np.atleast_1d(np.asarray(budgets, dtype=float)).ravel()
        losses = np.atleast_1d(np.asarray(losses, dtype=float)).ravel()
        k = X.shape[0]
        if X.shape[1] != self.n_dims:
            raise ValueError(f"X must have {self.n_dims} columns, got shape {X.shape}")
        if budgets.shape != (k,) or losses.shape != (k,):
            raise ValueError(f"budgets {budgets.shape} and losses {losses.shape} must have shape ({k},)")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(losses))):
            raise ValueError("X and losses must be finite")
        self._check_budget(budgets)
        if self.store.add(X, budgets, losses):
            self._y_dirty = True

    @property
    def n_observations(self) -> int:
        """Number of distinct (x, b) observations recorded."""
        return self.store.n

    @property
    def _active(self) -> np.ndarray:
        """The active ids (read by benchmarks/bench_model.py)."""
        return self.store.active

    @property
    def _pending(self) -> tuple[int, ...]:
        """The pending ids (read by benchmarks/bench_model.py)."""
        return self.store.pending

    @property
    def ready(self) -> bool:
        return self.n_observations >= self.min_observations

    # ------------------------------------------------------------ prediction
    def predict(self, X: np.ndarray, budget: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the latent loss of m configs -> ((m,), (m,)).

        ``budget`` is one normalised budget for all rows or an array (m,) of them.
        """
        X, p = self._query(X, budget)
        with _blas_threads(self.blas_threads):
            self._fit()
            return self._posterior.predict(X, p)

    def predict_budgets(self, X: np.ndarray, budgets: list[float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Mean and std of m configs at each of several budgets: ``means[h]``, ``stds[h]`` (m,).

        Equals ``predict(X, budgets[h])`` for every h, but costs O(n m) per call for a set of configs
        that is queried again as observations arrive (the configs of a stage): ``L^{-1} K(Z, X)`` is
        kept per X and extended by the new rows of the Cholesky factor; it is rebuilt only after a
        full factorisation (refit or trim)."""
        X, budgets = self._query_budgets(X, budgets)
        with _blas_threads(self.blas_threads):
            self._fit()
            solves = self._posterior.stage_solves(X)
        return self._posterior.predict_from_stage_solves(solves, budgets)

    def predict_joint(self, X: np.ndarray, budgets: list[float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Means at several budgets and covariances with the first budget.

        Returns ``means[h]`` (m,) at ``budgets[h]`` and ``cross_cov[h]`` (m, m) with
        ``cross_cov[h][i, c] = Cov(f(x_i, budgets[h]), f(x_c, budgets[0]))`` (latent loss).
        """
        X, budgets = self._query_budgets(X, budgets)
        with _blas_threads(self.blas_threads):
            self._fit()
            return self._posterior.predict_joint(X, budgets)

    # --------------------------------------------------------------- fitting
    def fit(self, force_hyperopt: bool = False) -> None:
        """Bring the posterior up to date; optimise hyperparameters when the policy says so."""
        with _blas_threads(self.blas_threads):
            self._fit(force_hyperopt)

    def _fit(self, force_hyperopt: bool = False) -> None:
        if not self.ready:
            raise RuntimeError(
                f"model not ready: {self.n_observations} distinct observations < min_observations={self.min_observations}"
            )
        if force_hyperopt or self._hyperopt_due():
            self.store.activate_pending()
            self.store.trim(self.max_points)
            self._optimise_hyperparameters()
            self._full_factorisation()
            return
        if self.store.pending:
            new = self.store.activate_pending()
            if self.store.active.size > self.max_points + self.trim_slack:
                self.store.trim(self.max_points)
                self._full_factorisation()
                return
            self._extend_factorisation(new)
        if self._y_dirty:
            self._update_targets()

    def _hyperopt_due(self) -> bool:
        if self.hyper is None:
            return True
        n = self.n_observations
        if n >= self.refit_growth * self._n_at_last_opt:
            return True
        return self.refit_every is not None and n - self._n_at_last_opt >= self.refit_every

    def max_hyperopts(self, n: int) -> int:
        """Upper bound on optimisations for observations added one by one up to n (growth rule)."""
        if n < self.min_observations:
            return 0
        count, last = 1, self.min_observations
        while True:
            nxt = max(last + 1, math.ceil(self.refit_growth * last - 1e-9))
            if nxt > n:
                return count
            count, last = count + 1, nxt

    def _default_hyper(self) -> KernelHyperparameters:
        return KernelHyperparameters(
            lengthscale=np.full(self.n_dims, 0.5),
            matern_variance=1.0,
            bias_variance=1.0,
            linear_variance=1.0,
            noise_variance=1e-2,
        )

    def _fit_subset(self) -> np.ndarray:
        """Active positions used for optimisation: all largest-budget points (<= half), then random."""
        n = self._active.size
        if n <= self.fit_max_points:
            return np.arange(n)
        b = self.store.budgets(self._active)
        top = np.flatnonzero(b >= b.max() - 1e-12)
        if top.size > self.fit_max_points // 2:
            top = np.sort(self._rng.choice(top, self.fit_max_points // 2, replace=False))
        rest = np.setdiff1d(np.arange(n), top)
        extra = self._rng.choice(rest, self.fit_max_points - top.size, replace=False)
        return np.sort(np.concatenate([top, extra]))

    def _build_gpy(self, x: np.ndarray, p: np.ndarray, y: np.ndarray, h: KernelHyperparameters, bounded: bool):
        import GPy  # imported lazily: slow import, only needed to fit

        d = self.n_dims
        matern = GPy.kern.Matern52(d, variance=h.matern_variance, lengthscale=h.lengthscale.copy(),
                                   ARD=True, active_dims=list(range(d)))
        budget = GPy.kern.Bias(1, variance=h.bias_variance, active_dims=[d]) + GPy.kern.Linear(
            1, variances=h.linear_variance, active_dims=[d])
        model = GPy.models.GPRegression(np.column_stack([x, p]), y[:, None], matern * budget,
                                        noise_var=h.noise_variance)
        if bounded:
            lo, hi = self.lengthscale_bounds
            vlo, vhi = self.variance_bounds
            model.kern.Mat52.variance.fix(warning=False)
            model.kern.Mat52.lengthscale.constrain_bounded(lo, hi, warning=False)
            model.kern.sum.bias.variance.constrain_bounded(vlo, vhi, warning=False)
            model.kern.sum.linear.variances.constrain_bounded(vlo, vhi, warning=False)
            model.likelihood.variance.constrain_bounded(self.noise_floor, 2.0, warning=False)
        return model

    def _clip_to_bounds(self, h: KernelHyperparameters) -> KernelHyperparameters:
        lo, hi = self.lengthscale_bounds
        vlo, vhi = self.variance_bounds
        pad = lambda v, a, b: float(np.clip(v, a + 1e-9 * (b - a), b - 1e-9 * (b - a)))  # noqa: E731
        return replace(
            h,
            lengthscale=np.clip(h.lengthscale, lo * (1 + 1e-6), hi * (1 - 1e-6)),
            bias_variance=pad(h.bias_variance, vlo, vhi),
            linear_variance=pad(h.linear_variance, vlo, vhi),
            noise_variance=pad(h.noise_variance, self.noise_floor, 2.0),
        )

    def _optimise_hyperparameters(self) -> None:
        sub = self._fit_subset()
        ids = self._active[sub]
        x = self.store.inputs(ids)
        p = budget_feature(self.store.budgets(ids))
        losses = self.store.mean_losses(self._active)
        y_mean, y_scale = standardisation(losses)
        y = (losses[sub] - y_mean) / y_scale
        starts = []
        if self.hyper is not None:
            starts.append((self._clip_to_bounds(self.hyper), self.max_iters))
        if self.hyper is None or self.restart_from_default:
            starts.append((self._default_hyper(), self.first_max_iters))
        best, best_obj = None, np.inf
        with _quiet_gpy():
            for h0, iters in starts:
                try:
                    model = self._build_gpy(x, p, y, h0, bounded=True)
                    model.optimize("lbfgsb", max_iters=iters)
                    obj = float(model.objective_function())
                except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                    continue
                if np.isfinite(obj) and obj < best_obj:
                    best_obj, best = obj, model
        self.n_hyperopts += 1
        self._n_at_last_opt = self.n_observations
        if best is None:  # every start failed: keep what we had
            if self.hyper is None:
                self.hyper = self._default_hyper()
            return
        k = best.kern
        self.hyper = KernelHyperparameters(
            lengthscale=np.array(k.Mat52.lengthscale.values, dtype=float),
            matern_variance=float(k.Mat52.variance.values[0]),
            bias_variance=float(k.sum.bias.variance.values[0]),
            linear_variance=float(k.sum.linear.variances.values[0]),
            noise_variance=float(best.likelihood.variance.values[0]),
        )

    # ------------------------------------------------------ posterior state
    @property
    def n_full_factorisations(self) -> int:
        """O(n^3) posterior rebuilds so far."""
        return 0 if self._posterior is None else self._posterior.n_factorisations

    def _full_factorisation(self) -> None:
        ids = self.store.active
        x, phi, losses = self.store.inputs(ids), budget_feature(self.store.budgets(ids)), self.store.mean_losses(ids)
        if self._posterior is None:
            self._posterior = GPPosterior(self.hyper, x, phi, losses)
        else:
            self._posterior.condition(self.hyper, x, phi, losses)
        self._y_dirty = False

    def _extend_factorisation(self, ids_new: np.ndarray) -> None:
        x_new, phi_new = self.store.inputs(ids_new), budget_feature(self.store.budgets(ids_new))
        if self._posterior.extend(x_new, phi_new, self.store.mean_losses(self.store.active)):
            self._y_dirty = False
        else:
            self._full_factorisation()

    def _update_targets(self) -> None:
        self._posterior.set_losses(self.store.mean_losses(self.store.active))
        self._y_dirty = False

    # ---------------------------------------------------------------- helpers
    def _check_budget(self, b: np.ndarray) -> None:
        if not np.all(np.isfinite(b)) or np.any(b < -1e-9) or np.any(b > 1 + 1e-9):
            raise ValueError(f"normalised budgets must lie in [0, 1], got {b!r}")

    def _query_budgets(self, X: np.ndarray, budgets: list[float]) -> tuple[np.ndarray, list[float]]:
        budgets = [float(b) for b in budgets]
        if not budgets:
            raise ValueError("budgets must not be empty")
        X, _ = self._query(X, budgets[0])
        self._check_budget(np.asarray(budgets))
        return X, budgets

    def _query(self, X: np.ndarray, budget: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if X.shape[1] != self.n_dims:
            raise ValueError(f"X must have {self.n_dims} columns, got shape {X.shape}")
        b = np.asarray(budget, dtype=float)
        if b.ndim == 0:
            b = np.full(X.shape[0], float(b))
        elif b.shape != (X.shape[0],):
            raise ValueError(f"budget must be a scalar or have shape ({X.shape[0]},), got {b.shape}")
        self._check_budget(b)
        return X, budget_feature(b)

    def to_gpy(self):
        """A GPy GPRegression on the active points with the current hyperparameters.

        For checking and debugging: its latent predictions, de-standardised with
        ``(mean * scale + offset, std * scale)``, equal ``predict``'s.  Returns
        ``(model, offset, scale)``.
        """
        self.fit()
        post = self._posterior
        y = (self.store.mean_losses(self.store.active) - post.y_mean) / post.y_scale
        with _quiet_gpy():
            model = self._build_gpy(post.x, post.phi, y, self.hyper, bounded=False)
        return model, post.y_mean, post.y_scale
