"""The GP conditioned on the active points, under fixed hyperparameters.

Contract:

* ``condition`` rebuilds the posterior from all points (an O(n^3) factorisation);
  ``extend`` appends new points to the Cholesky factor by a block (O(n^2 k)) and returns
  False, changing nothing, when that is numerically impossible; ``set_losses`` replaces
  the targets only (a repeated pair changed a running mean).  The caller passes the
  losses of all points, in the order of the factor's rows, to each of them.
* Losses are standardised (mean 0, std 1 over the points; ``standardisation``).  The
  Gaussian noise variance plus GPy's fixed 1e-8 jitter is added to the diagonal, so the
  predictions equal those of the GPy model with the same data and hyperparameters.
* ``predict``, ``predict_budgets`` and ``predict_joint`` give the latent loss in the
  original units; budgets enter as normalised budgets b* or their feature phi.
  They satisfy :class:`hyperjump_advisor.posterior.Posterior` through
  :class:`~hyperjump_advisor.model.MultiFidelityGP`, which validates the queries.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.linalg as sla

from ..posterior import Array
from .factor import GrowingCholesky
from .kernel import KernelHyperparameters, budget_feature, kernel, kernel_diag, matern

GPY_JITTER = 1e-8  # GPy's ExactGaussianInference adds variance + 1e-8 to the diagonal
_STAGE_CACHE_SIZE = 8  # stages whose L^{-1} K(Z, X) predict_budgets keeps (open brackets, parallel runs)

StageSolves = tuple[Array, Array]  # (W_A, W_B) = (L^{-1} s_b Km(Z, X), L^{-1} s_l phi_Z Km(Z, X)), each (n, m)


def standardisation(losses: Array) -> tuple[float, float]:
    """(mean, scale) that map the losses to mean 0 and std 1; scale 1 when they are all equal.

    Losses near the largest float (a diverged run among too few results to call it an outlier)
    are scaled down first so that the square in the variance cannot overflow."""
    magnitude = float(np.max(np.abs(losses))) if losses.size else 0.0
    if magnitude > 1e150:
        mean = float(np.mean(losses / magnitude)) * magnitude
        std = float(np.std(losses / magnitude)) * magnitude
    else:
        mean = float(np.mean(losses))
        std = float(np.std(losses))
    return mean, (std if std > 1e-12 else 1.0)


class GPPosterior:
    """Cholesky factor of the noisy covariance of the points Z = (x, phi), and L^{-1} y."""

    def __init__(self, hyper: KernelHyperparameters, x: Array, phi: Array, losses: Array) -> None:
        self._factor = GrowingCholesky()
        self._stage_cache: dict[bytes, tuple[int, int, Array, Array]] = {}  # X bytes -> (epoch, rows, W_A, W_B)
        self.condition(hyper, x, phi, losses)

    @property
    def x(self) -> Array:
        """Encoded hyperparameters of the points, (n, d)."""
        return self._x

    @property
    def phi(self) -> Array:
        """Budget features of the points, (n,)."""
        return self._phi

    @property
    def n_factorisations(self) -> int:
        """O(n^3) rebuilds of the factor so far."""
        return self._factor.n_factorisations

    def condition(self, hyper: KernelHyperparameters, x: Array, phi: Array, losses: Array) -> None:
        """Condition on the points (x, phi) with these losses, from scratch."""
        self.hyper = hyper
        self._x = x
        self._phi = phi
        self._factor.factorise(kernel(hyper, x, phi, x, phi), self._noise_diagonal())
        self.set_losses(losses)

    def extend(self, x_new: Array, phi_new: Array, losses: Array) -> bool:
        """Add k points at the end; ``losses`` are those of all n + k points.  False: refactorise."""
        h = self.hyper
        cross = kernel(h, self._x, self._phi, x_new, phi_new)
        corner = kernel(h, x_new, phi_new, x_new, phi_new)
        if not self._factor.extend(cross, corner, self._noise_diagonal()):
            return False
        self._x = np.vstack([self._x, x_new])
        self._phi = np.concatenate([self._phi, phi_new])
        self.set_losses(losses)
        return True

    def set_losses(self, losses: Array) -> None:
        """New targets for the same points."""
        self.y_mean, self.y_scale = standardisation(losses)
        self._z = self._factor.solve((losses - self.y_mean) / self.y_scale)  # L^{-1} y_standardised

    def predict(self, X: Array, phi: Array) -> tuple[Array, Array]:
        """Mean and std of the latent loss at (X, phi) -> ((m,), (m,))."""
        h = self.hyper
        V = self._factor.solve(kernel(h, self._x, self._phi, X, phi))  # (n, m) = L^{-1} K(Z, Z*)
        mean = V.T @ self._z
        var = np.clip(kernel_diag(h, phi) - np.einsum("ij,ij->j", V, V), 1e-300, None)
        return self.y_mean + self.y_scale * mean, self.y_scale * np.sqrt(var)

    def stage_solves(self, X: Array) -> StageSolves:
        """(W_A, W_B) for the configs X, cached per X and extended by the factor's new rows.

        A set of configs queried again as observations arrive (the configs of a stage) costs
        O(n m) per call instead of O(n^2 m); an entry is rebuilt after a refactorisation.
        """
        key = X.tobytes()
        L = self._factor.L
        n = L.shape[0]
        epoch = self._factor.n_factorisations
        entry = self._stage_cache.pop(key, None)
        if entry is None or entry[0] != epoch or entry[1] > n:
            start, WA, WB = 0, np.zeros((0, X.shape[0])), np.zeros((0, X.shape[0]))
        else:
            _, start, WA, WB = entry
        if start < n:
            h = self.hyper
            km = matern(h, self._x[start:], X)  # (k, m)
            KA, KB = h.bias_variance * km, h.linear_variance * self._phi[start:, None] * km
            L21, L22 = L[start:n, :start], L[start:n, start:n]
            WA = np.vstack([WA, _solve_lower(L22, KA - L21 @ WA)])
            WB = np.vstack([WB, _solve_lower(L22, KB - L21 @ WB)])
        self._stage_cache[key] = (epoch, n, WA, WB)
        while len(self._stage_cache) > _STAGE_CACHE_SIZE:
            self._stage_cache.pop(next(iter(self._stage_cache)))
        return WA, WB

    def predict_from_stage_solves(
        self, solves: StageSolves, budgets: Sequence[float]
    ) -> tuple[list[Array], list[Array]]:
        """Means and stds (m,) at each budget, from ``stage_solves(X)``.

        k(Z, (x, phi)) is affine in phi, so L^{-1} K(Z, (X, phi)) = W_A + phi W_B.
        """
        WA, WB = solves
        h = self.hyper
        m = WA.shape[1]
        ma, mb = WA.T @ self._z, WB.T @ self._z
        aa, ab, bb = (WA * WA).sum(axis=0), (WA * WB).sum(axis=0), (WB * WB).sum(axis=0)
        means, stds = [], []
        for b in budgets:
            ph = float(budget_feature(np.array(b)))
            var = np.clip(kernel_diag(h, np.full(m, ph)) - (aa + 2 * ph * ab + ph * ph * bb), 1e-300, None)
            means.append(self.y_mean + self.y_scale * (ma + ph * mb))
            stds.append(self.y_scale * np.sqrt(var))
        return means, stds

    def predict_joint(self, X: Array, budgets: Sequence[float]) -> tuple[list[Array], list[Array]]:
        """Means (m,) at each budget and covariances (m, m) with the first budget (latent loss)."""
        # k((x', p'), (x, phi)) = Km(x', x) (s_b + s_l p' phi) is affine in phi, so
        # L^{-1} K(Z, (X, phi)) = W_A + phi W_B with W_A = L^{-1}(s_b Km), W_B = L^{-1}(s_l p' Km):
        # two triangular solves whatever the number of budgets.
        h = self.hyper
        m = X.shape[0]
        km = matern(h, self._x, X)  # (n, m)
        W = self._factor.solve(np.hstack([h.bias_variance * km, h.linear_variance * self._phi[:, None] * km]))
        G = W.T @ W  # (2m, 2m) Gram blocks [[AA, AB], [BA, BB]]
        ma, mb = np.split(W.T @ self._z, 2)
        kxx = matern(h, X, X)
        phis = [float(budget_feature(b)) for b in budgets]
        p0 = phis[0]
        s2 = self.y_scale**2
        means, cross = [], []
        for ph in phis:
            means.append(self.y_mean + self.y_scale * (ma + ph * mb))
            vv = G[:m, :m] + p0 * G[:m, m:] + ph * G[m:, :m] + ph * p0 * G[m:, m:]
            cross.append(s2 * (kxx * (h.bias_variance + h.linear_variance * ph * p0) - vv))
        return means, cross

    def _noise_diagonal(self) -> float:
        return self.hyper.noise_variance + GPY_JITTER


def _solve_lower(L: Array, B: Array) -> Array:
    out: Array = sla.solve_triangular(L, B, lower=True, check_finite=False)
    return out
