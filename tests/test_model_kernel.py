"""Contract of hyperjump_advisor.model.kernel: the product kernel, checked against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from hyperjump_advisor.model.kernel import KernelHyperparameters, budget_feature, kernel, kernel_diag, matern

H = KernelHyperparameters(lengthscale=np.array([0.3, 2.0]), matern_variance=1.5, bias_variance=0.7,
                          linear_variance=2.5, noise_variance=1e-3)


def test_budget_feature_is_one_minus_b_squared():
    assert budget_feature(1.0) == 0.0 and budget_feature(0.0) == 1.0 and budget_feature(0.5) == 0.25
    np.testing.assert_allclose(budget_feature(np.array([1 / 3, 1.0])), [4 / 9, 0.0], rtol=1e-15)


def test_matern_is_the_ard_matern_five_halves_formula():
    rng = np.random.default_rng(0)
    x1, x2 = rng.random((5, 2)), rng.random((4, 2))
    r = cdist(x1 / H.lengthscale, x2 / H.lengthscale)
    expected = 1.5 * (1 + np.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-np.sqrt(5) * r)
    np.testing.assert_allclose(matern(H, x1, x2), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.diag(matern(H, x1, x1)), 1.5, rtol=1e-12)


def test_kernel_is_matern_times_linear_budget_kernel_and_its_diagonal_agrees():
    rng = np.random.default_rng(1)
    x, p = rng.random((6, 2)), budget_feature(rng.random(6))
    K = kernel(H, x, p, x, p)
    for i in range(6):
        for j in range(6):
            km = matern(H, x[i : i + 1], x[j : j + 1])[0, 0]
            assert K[i, j] == pytest.approx(km * (0.7 + 2.5 * p[i] * p[j]), rel=1e-13)
    np.testing.assert_allclose(kernel_diag(H, p), np.diag(K), rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(K) > -1e-10)  # a covariance


@pytest.mark.parametrize("seed", range(12))
def test_the_in_place_kernel_equals_the_plain_expression_bit_for_bit(seed):
    """matern and kernel work in place; the model's decisions depend on the last bits, so they must not move."""
    rng = np.random.default_rng(seed)
    d = 1 + seed % 5
    n, m = (int(v) for v in rng.integers(1, 300, 2))
    h = KernelHyperparameters(lengthscale=rng.uniform(0.01, 5, d), matern_variance=[1.0, 0.7][seed % 2],
                              bias_variance=float(rng.uniform(1e-3, 10)), linear_variance=float(rng.uniform(1e-3, 10)),
                              noise_variance=0.01)
    x1, x2, p1, p2 = rng.random((n, d)), rng.random((m, d)), rng.random(n), rng.random(m)
    if seed % 3 == 0:
        x2, p2 = x1, p1
    a, c = x1 / h.lengthscale, x2 / h.lengthscale
    r = np.sqrt(np.clip(np.sum(a * a, axis=1)[:, None] + np.sum(c * c, axis=1)[None, :] - 2.0 * (a @ c.T), 0.0, np.inf))
    plain = h.matern_variance * (1.0 + np.sqrt(5.0) * r + (5.0 / 3.0) * r * r) * np.exp(-np.sqrt(5.0) * r)
    assert np.array_equal(matern(h, x1, x2), plain)
    assert np.array_equal(kernel(h, x1, p1, x2, p2), plain * (h.bias_variance + h.linear_variance * np.outer(p1, p2)))
