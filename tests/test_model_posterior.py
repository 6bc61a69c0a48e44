"""Contract of hyperjump_advisor.model.posterior.GPPosterior, against the textbook GP formulas."""

from __future__ import annotations

import numpy as np
import pytest

from hyperjump_advisor.model.kernel import KernelHyperparameters, budget_feature, kernel
from hyperjump_advisor.model.posterior import GPY_JITTER, GPPosterior, standardisation

H = KernelHyperparameters(lengthscale=np.array([0.4, 0.8]), matern_variance=1.0, bias_variance=0.6,
                          linear_variance=1.7, noise_variance=0.01)


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    b = rng.choice([1 / 9, 1 / 3, 1.0], size=n)
    losses = 3.0 + 2.0 * x.sum(axis=1) + (1 - b) ** 2 + 0.05 * rng.standard_normal(n)
    return x, budget_feature(b), losses


def direct(x, p, losses, Xq, pq):
    """mean_* = mu + s K*^T (K + s2 I)^{-1} (y - mu) / s, cov_* = s^2 (K** - K*^T (K + s2 I)^{-1} K*)."""
    mu, s = losses.mean(), losses.std()
    A = kernel(H, x, p, x, p) + (H.noise_variance + GPY_JITTER) * np.eye(len(x))
    Ks = kernel(H, x, p, Xq, pq)
    mean = mu + s * Ks.T @ np.linalg.solve(A, (losses - mu) / s)
    cov = s**2 * (kernel(H, Xq, pq, Xq, pq) - Ks.T @ np.linalg.solve(A, Ks))
    return mean, cov


def test_predict_equals_the_direct_gp_formula():
    x, p, losses = data(15)
    post = GPPosterior(H, x, p, losses)
    Xq, pq = np.random.default_rng(1).random((6, 2)), budget_feature(np.linspace(0, 1, 6))
    mean, sd = post.predict(Xq, pq)
    mean_ref, cov_ref = direct(x, p, losses, Xq, pq)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sd, np.sqrt(np.diag(cov_ref)), rtol=1e-7, atol=1e-9)


def test_extending_by_blocks_equals_conditioning_on_all_points():
    x, p, losses = data(20, seed=2)
    grown = GPPosterior(H, x[:8], p[:8], losses[:8])
    assert grown.extend(x[8:9], p[8:9], losses[:9])
    assert grown.extend(x[9:20], p[9:20], losses)
    full = GPPosterior(H, x, p, losses)
    assert grown.n_factorisations == 1
    np.testing.assert_array_equal(grown.x, x)
    np.testing.assert_array_equal(grown.phi, p)
    Xq, pq = np.random.default_rng(3).random((5, 2)), np.full(5, 0.3)
    for a, b in zip(grown.predict(Xq, pq), full.predict(Xq, pq)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_new_losses_equal_conditioning_again_with_them():
    x, p, losses = data(10, seed=4)
    post = GPPosterior(H, x, p, losses)
    changed = losses.copy()
    changed[3] += 1.0
    post.set_losses(changed)
    ref = GPPosterior(H, x, p, changed)
    Xq, pq = np.random.default_rng(5).random((4, 2)), np.full(4, 0.0)
    np.testing.assert_array_equal(post.predict(Xq, pq)[0], ref.predict(Xq, pq)[0])
    assert (post.y_mean, post.y_scale) == standardisation(changed)


def test_stage_solves_follow_extensions_and_refactorisations():
    x, p, losses = data(30, seed=6)
    post = GPPosterior(H, x[:10], p[:10], losses[:10])
    stage = np.random.default_rng(7).random((4, 2))
    budgets = [1 / 9, 1.0]

    def check():
        means, stds = post.predict_from_stage_solves(post.stage_solves(stage), budgets)
        for b, m, s in zip(budgets, means, stds):
            m_ref, s_ref = post.predict(stage, np.full(4, budget_feature(b)))
            np.testing.assert_allclose(m, m_ref, rtol=1e-9, atol=1e-10)
            np.testing.assert_allclose(s, s_ref, rtol=1e-7, atol=1e-10)

    check()
    assert post.extend(x[10:12], p[10:12], losses[:12])
    check()  # the cached solves were extended by two rows
    post.condition(H, x[:25:2], p[:25:2], losses[:25:2])
    check()  # and rebuilt after a refactorisation (fewer points)
    assert post.stage_solves(stage)[0].shape == (13, 4)


def test_predict_joint_equals_the_direct_cross_covariances():
    x, p, losses = data(12, seed=8)
    post = GPPosterior(H, x, p, losses)
    Xq = np.random.default_rng(9).random((3, 2))
    budgets = [1 / 3, 1.0, 0.0]
    means, cross = post.predict_joint(Xq, budgets)
    p0 = np.full(3, budget_feature(budgets[0]))
    for b, m, c in zip(budgets, means, cross):
        ph = np.full(3, budget_feature(b))
        mean_ref, cov_ref = direct(x, p, losses, np.vstack([Xq, Xq]), np.concatenate([ph, p0]))
        np.testing.assert_allclose(m, mean_ref[:3], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(c, cov_ref[:3, 3:], rtol=1e-7, atol=1e-9)


def test_standardisation_of_equal_losses_keeps_scale_one():
    assert standardisation(np.full(4, 2.5)) == (2.5, 1.0)
    assert standardisation(np.array([1.0, 3.0])) == pytest.approx((2.0, 1.0))
