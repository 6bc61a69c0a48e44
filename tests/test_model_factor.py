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


def test_many_extensions_on_a_gp_kernel_agree_with_numpy_cholesky_of_the_whole_matrix():
    """Points added one by one and in blocks, as the model does between refits, on the model's own kernel:
    the grown factor is numpy's Cholesky factor of the whole K + s I, and its solves agree."""
    from hyperjump_advisor.model.kernel import KernelHyperparameters, kernel

    rng = np.random.default_rng(7)
    n, d, s = 400, 4, 1e-2 + 1e-8
    h = KernelHyperparameters(lengthscale=np.array([0.3, 0.5, 1.0, 2.0]), matern_variance=1.0,
                              bias_variance=0.8, linear_variance=0.5, noise_variance=1e-2)
    x, phi = rng.random((n, d)), (1 - rng.choice([1 / 27, 1 / 9, 1 / 3, 1.0], n)) ** 2
    K = kernel(h, x, phi, x, phi)
    grown = GrowingCholesky()
    grown.factorise(K[:50, :50].copy(), s)
    lo = 50
    while lo < n:
        hi = min(n, lo + int(rng.choice([1, 1, 1, 2, 5, 17])))
        assert grown.extend(K[:lo, lo:hi], K[lo:hi, lo:hi].copy(), s)
        lo = hi
    reference = np.linalg.cholesky(K + s * np.eye(n))
    assert grown.n_factorisations == 1 and grown.size == n
    np.testing.assert_allclose(grown.L, reference, rtol=1e-9, atol=1e-9)
    B = rng.random((n, 3))
    np.testing.assert_allclose(grown.solve(B), np.linalg.solve(reference, B), rtol=1e-7, atol=1e-9)


def test_the_posterior_cap_holds_and_trims_refactorise_once_per_slack():
    """At most max_points + trim_slack points in the posterior; a trim rebuilds the factor once per
    trim_slack new points (amortised O(n^2) per point), not at every point past the cap."""
    from hyperjump_advisor.model import MultiFidelityGP

    rng = np.random.default_rng(3)
    model = MultiFidelityGP(2, 4, seed=0, max_points=60, trim_slack=10, refit_growth=100.0)
    x = rng.random((1, 2))
    model.add_observations(x, [1.0], [0.0])
    for _ in range(9):
        model.add_observations(rng.random((1, 2)), [rng.choice([1 / 9, 1.0])], [rng.random()])
    model.fit()
    before = model.n_full_factorisations
    for _ in range(300):
        model.add_observations(rng.random((1, 2)), [rng.choice([1 / 9, 1 / 3, 1.0])], [rng.random()])
        model.predict(rng.random((3, 2)), 1.0)
        assert model.store.active.size <= 70
    assert model.n_hyperopts == 1
    trims = model.n_full_factorisations - before
    assert 1 <= trims <= 300 // 10 + 1
