"""Contract of hyperjump_advisor.model.factor.GrowingCholesky: rebuild, block extension, solves."""

from __future__ import annotations

import numpy as np

from hyperjump_advisor.model.factor import GrowingCholesky


def spd(n: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n + 3))
    return a @ a.T / n


def test_factorise_gives_the_lower_factor_of_k_plus_diagonal():
    K = spd(6)
    f = GrowingCholesky()
    f.factorise(K.copy(), 0.1)
    L = f.L
    assert f.n_factorisations == 1 and f.size == 6 and L.flags.f_contiguous
    np.testing.assert_array_equal(np.triu(L, 1), 0.0)
    np.testing.assert_allclose(L @ L.T, K + 0.1 * np.eye(6), rtol=1e-12, atol=1e-12)
    B = np.random.default_rng(1).random((6, 2))
    np.testing.assert_allclose(L @ f.solve(B), B, rtol=1e-10, atol=1e-12)


def test_block_extensions_equal_a_full_factorisation():
    K = spd(12, seed=2)
    grown = GrowingCholesky()
    grown.factorise(K[:5, :5].copy(), 0.05)
    for lo, hi in [(5, 6), (6, 9), (9, 12)]:
        assert grown.extend(K[:lo, lo:hi], K[lo:hi, lo:hi].copy(), 0.05)
    full = GrowingCholesky()
    full.factorise(K.copy(), 0.05)
    assert grown.n_factorisations == 1 and grown.size == 12
    np.testing.assert_allclose(grown.L, full.L, rtol=1e-10, atol=1e-12)


def test_an_extension_that_is_not_positive_definite_is_refused_and_changes_nothing():
    f = GrowingCholesky()
    f.factorise(np.eye(2), 0.0)
    before = f.L.copy()
    # a new point identical to the first one, with no noise: singular Schur complement
    assert not f.extend(np.array([[1.0], [0.0]]), np.array([[1.0 - 1e-3]]), 0.0)
    np.testing.assert_array_equal(f.L, before)
    assert f.size == 2


def test_a_singular_matrix_is_factorised_with_escalating_jitter():
    K = np.ones((3, 3))  # rank 1
    f = GrowingCholesky()
    f.factorise(K.copy(), 0.0)
    L = f.L
    jitter = np.diag(L @ L.T - K)
    assert np.all(jitter > 0) and np.allclose(jitter, jitter[0]) and jitter[0] <= 0.1
