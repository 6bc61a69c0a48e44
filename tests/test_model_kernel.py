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
