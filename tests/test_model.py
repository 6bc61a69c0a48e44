"""Tests of hyperjump_advisor.model.MultiFidelityGP, the composition (seeded, a few seconds in total).

Each module of the package has its own tests in tests/test_model_<module>.py."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

from hyperjump_advisor.model import MultiFidelityGP

D = 3
LOW_BUDGETS = (1 / 27, 1 / 9, 1 / 3)


def true_f(X: np.ndarray) -> np.ndarray:
    """Full-budget loss: a clear ranking over configurations."""
    return np.sum((X - np.array([0.3, 0.6, 0.4])) ** 2 * np.array([1.0, 0.6, 0.3]), axis=1)


def true_loss(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Curves decay with budget at a config-dependent speed: f(x) + g(x) (1-b)^2."""
    g = 0.2 + 0.8 * X[:, 1] * X[:, 2]
    return true_f(X) + g * (1.0 - b) ** 2


def low_budget_model(seed: int = 0, **kwargs) -> tuple[MultiFidelityGP, np.random.Generator]:
    rng = np.random.default_rng(seed)
    gp = MultiFidelityGP(D, D + 2, seed=seed, **kwargs)
    X = rng.random((60, D))
    for b in LOW_BUDGETS:
        bb = np.full(len(X), b)
        gp.add_observations(X, bb, true_loss(X, bb) + 0.005 * rng.standard_normal(len(X)))
    top = X[:5]
    gp.add_observations(top, np.ones(5), true_loss(top, np.ones(5)))
    return gp, rng


@pytest.fixture(scope="module")
def fitted():
    gp, rng = low_budget_model()
    gp.fit()
    return gp, rng


def test_full_budget_ranking_from_low_budget_data(fitted):
    gp, rng = fitted
    Xt = np.random.default_rng(123).random((50, D))
    mu, sd = gp.predict(Xt, 1.0)
    rho = spearmanr(mu, true_f(Xt)).statistic
    assert rho > 0.5, rho
    # and better than ranking by the lowest budget's true loss (the curves cross)
    naive = spearmanr(true_loss(Xt, np.full(50, 1 / 27)), true_f(Xt)).statistic
    assert rho > naive + 0.1, (rho, naive)


def test_ready_threshold():
    gp = MultiFidelityGP(2, min_observations=4)
    rng = np.random.default_rng(0)
    for k in range(3):
        gp.add_observations(rng.random((1, 2)), [0.5], [float(k)])
        assert not gp.ready
    with pytest.raises(RuntimeError, match="not ready"):
        gp.predict(rng.random((2, 2)), 1.0)
    gp.add_observations(gp.store.inputs(np.arange(1)), [0.5], [7.0])  # a repeat is not a new observation
    assert gp.n_observations == 3 and not gp.ready
    gp.add_observations(rng.random((1, 2)), [0.5], [1.0])
    assert gp.n_observations == 4 and gp.ready


def test_predict_shapes_and_uncertainty(fitted):
    gp, _ = fitted
    X = np.random.default_rng(5).random((7, D))
    mu, sd = gp.predict(X, 1 / 3)
    assert mu.shape == (7,) and sd.shape == (7,)
    assert np.all(np.isfinite(mu)) and np.all(sd > 0)
    # per-row budgets give the same answers as one call per budget
    budgets = np.array([1 / 27, 1 / 9, 1 / 3, 1.0, 0.0, 0.5, 0.7])
    mu_rows, sd_rows = gp.predict(X, budgets)
    for i, b in enumerate(budgets):
        m1, s1 = gp.predict(X[i : i + 1], float(b))
        assert mu_rows[i] == pytest.approx(m1[0], abs=1e-10)
        assert sd_rows[i] == pytest.approx(s1[0], abs=1e-10)


def test_std_small_at_observed_point_large_far_away():
    rng = np.random.default_rng(3)
    gp = MultiFidelityGP(D, D + 2)
    X = 0.4 * rng.random((25, D))  # data only in [0, 0.4]^D
    b = np.full(25, 1 / 3)
    gp.add_observations(X, b, true_loss(X, b))
    _, sd_obs = gp.predict(X[:1], 1 / 3)
    _, sd_far = gp.predict(np.ones((1, D)), 1 / 3)
    assert sd_obs[0] < 0.2 * sd_far[0], (sd_obs, sd_far)


def test_numpy_posterior_equals_gpy(fitted):
    gp, _ = fitted
    model, offset, scale = gp.to_gpy()
    X = np.random.default_rng(9).random((20, D))
    b = np.linspace(0, 1, 20)
    mu, sd = gp.predict(X, b)
    gm, gv = model.predict(np.column_stack([X, (1 - b) ** 2]), include_likelihood=False)
    np.testing.assert_allclose(mu, offset + scale * gm[:, 0], rtol=0, atol=1e-7)
    np.testing.assert_allclose(sd, scale * np.sqrt(gv[:, 0]), rtol=0, atol=1e-7)


def test_predict_joint_consistent_with_predict_and_gpy(fitted):
    gp, _ = fitted
    X = np.random.default_rng(11).random((6, D))
    budgets = [1 / 9, 1 / 3, 1.0, 1 / 27, 0.6]
    means, cross = gp.predict_joint(X, budgets)
    assert len(means) == len(cross) == len(budgets)
    mu0, sd0 = gp.predict(X, budgets[0])
    np.testing.assert_allclose(np.diag(cross[0]), sd0**2, atol=1e-6)
    np.testing.assert_allclose(cross[0], cross[0].T, atol=1e-10)
    model, _, scale = gp.to_gpy()
    z0 = np.column_stack([X, np.full(6, (1 - budgets[0]) ** 2)])
    for h, b in enumerate(budgets):
        assert means[h].shape == (6,) and cross[h].shape == (6, 6)
        np.testing.assert_allclose(means[h], gp.predict(X, b)[0], atol=1e-8)
        zh = np.column_stack([X, np.full(6, (1 - b) ** 2)])
        _, full = model.predict(np.vstack([zh, z0]), full_cov=True, include_likelihood=False)
        np.testing.assert_allclose(cross[h], scale**2 * full[:6, 6:], atol=1e-7)


def test_refit_policy_bounds_hyperparameter_optimisations():
    rng = np.random.default_rng(4)
    gp = MultiFidelityGP(2, min_observations=4, refit_growth=1.25)
    n_total = 60
    for _ in range(n_total):
        x = rng.random((1, 2))
        b = rng.choice(LOW_BUDGETS + (1.0,), size=1)
        gp.add_observations(x, b, np.sum(x**2, axis=1) + (1 - b) ** 2)
        if gp.ready:
            mu, sd = gp.predict(rng.random((9, 2)), 1.0)
            assert np.all(np.isfinite(mu)) and np.all(np.isfinite(sd)) and np.all(sd > 0)
    # growth rule: optimise at 4, 5, 7, 9, 12, 15, 19, 24, 30, 38, 48, 60
    assert gp.max_hyperopts(n_total) == 12
    assert 2 <= gp.n_hyperopts <= gp.max_hyperopts(n_total)
    # every other update extended the cached factor (no O(n^3) rebuild)
    assert gp.n_full_factorisations == gp.n_hyperopts


def test_refit_every_adds_refits():
    rng = np.random.default_rng(6)
    gp = MultiFidelityGP(2, min_observations=4, refit_growth=100.0, refit_every=5)
    for _ in range(20):
        gp.add_observations(rng.random((1, 2)), [0.5], rng.random(1))
        if gp.ready:
            gp.predict(rng.random((3, 2)), 1.0)
    assert gp.n_hyperopts == 4  # at 4, 9, 14, 19


def test_cap_keeps_full_budget_points_and_bounds_size():
    rng = np.random.default_rng(8)
    gp = MultiFidelityGP(2, min_observations=4, max_points=30, trim_slack=5, refit_growth=1e9)
    full = rng.random((3, 2))
    gp.add_observations(full, np.ones(3), np.sum(full, axis=1))
    for _ in range(60):
        x = rng.random((1, 2))
        gp.add_observations(x, [1 / 9], np.sum(x, axis=1) + 0.5)
        mu, sd = gp.predict(rng.random((4, 2)), 1.0)
        assert np.all(np.isfinite(mu)) and np.all(sd > 0)
        assert gp.store.active.size <= 35
    assert gp.n_observations == 63
    assert set(range(3)) <= set(gp.store.active.tolist())  # full-budget points kept
    assert gp.store.active.max() == 62  # the newest point is in the posterior
    assert gp.n_hyperopts == 1


def test_repeated_pairs_are_averaged():
    rng = np.random.default_rng(2)
    X = rng.random((8, 2))
    b = np.full(8, 1 / 3)
    y = np.sum(X, axis=1)
    a = MultiFidelityGP(2, 4)
    a.add_observations(X, b, y)
    a.add_observations(X[:1], b[:1], [y[0] + 1.0])
    a.add_observations(X[:1], b[:1], [y[0] - 1.0])
    ref = MultiFidelityGP(2, 4)
    ref.add_observations(X, b, y)
    assert a.n_observations == 8
    Xq = rng.random((5, 2))
    np.testing.assert_allclose(a.predict(Xq, 1.0)[0], ref.predict(Xq, 1.0)[0], atol=1e-10)
    # a repeat after fitting only changes the targets, not the factor
    n_fact = a.n_full_factorisations
    a.add_observations(X[1:2], b[:1], [y[1] + 2.0])
    a.predict(Xq, 1.0)
    assert a.n_full_factorisations == n_fact


def test_invalid_inputs():
    gp = MultiFidelityGP(2, 2)
    with pytest.raises(ValueError):
        gp.add_observations(np.zeros((2, 3)), [0.5, 0.5], [1.0, 1.0])
    with pytest.raises(ValueError):
        gp.add_observations(np.zeros((2, 2)), [0.5, 1.5], [1.0, 1.0])
    with pytest.raises(ValueError):
        gp.add_observations(np.zeros((1, 2)), [0.5], [np.nan])
    with pytest.raises(ValueError):
        MultiFidelityGP(2, 2, refit_growth=1.0)
    gp.add_observations(np.array([[0.1, 0.2], [0.7, 0.9]]), [0.5, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        gp.predict(np.zeros((3, 2)), np.array([0.5, 1.0]))


def test_fit_is_quiet(caplog):
    gp, _ = low_budget_model(seed=1)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        gp.fit()
    assert not caught
    assert not [r for r in caplog.records if r.name.startswith(("GPy", "paramz"))]


def test_predict_budgets_equals_predict_while_a_stage_is_queried_as_data_arrive():
    """The per-stage cache of L^{-1}K is extended with new factor rows and rebuilt after refits."""
    from hyperjump_advisor.model import MultiFidelityGP
    rng = np.random.default_rng(3)
    gp = MultiFidelityGP(3, min_observations=5, seed=0)
    stage = rng.random((27, 3))
    budgets = [1 / 9, 1 / 3, 1.0]

    def add(k):
        X = rng.random((k, 3))
        b = rng.choice([1 / 9, 1 / 3, 1.0], size=k)
        gp.add_observations(X, b, X.sum(axis=1) * (1 + (1 - b) ** 2) + 0.01 * rng.standard_normal(k))

    add(10)
    for step in range(40):
        means, stds = gp.predict_budgets(stage, budgets)
        for b, m, s in zip(budgets, means, stds):
            m_ref, s_ref = gp.predict(stage, b)
            np.testing.assert_allclose(m, m_ref, rtol=1e-8, atol=1e-10)
            np.testing.assert_allclose(s, s_ref, rtol=1e-6, atol=1e-10)
        add(1 if step % 7 else 3)
    assert gp.n_hyperopts >= 3, "refits happened along the way and invalidated the cache"


def test_a_refused_block_extension_falls_back_to_a_full_factorisation(monkeypatch):
    from hyperjump_advisor.model.posterior import GPPosterior

    rng = np.random.default_rng(12)
    gp = MultiFidelityGP(2, min_observations=4, refit_growth=1e9)
    X = rng.random((10, 2))
    gp.add_observations(X[:6], np.full(6, 0.5), X[:6].sum(axis=1))
    gp.fit()
    assert gp.hyper is not None and gp.n_full_factorisations == 1
    monkeypatch.setattr(GPPosterior, "extend", lambda self, *args: False)
    gp.add_observations(X[6:], np.full(4, 0.5), X[6:].sum(axis=1))
    mu, sd = gp.predict(X[:3], 1.0)
    assert gp.n_full_factorisations == 2 and gp.n_hyperopts == 1
    assert gp.store.active.size == 10
    model, offset, scale = gp.to_gpy()  # the rebuilt posterior holds all ten points
    gm, gv = model.predict(np.column_stack([X[:3], np.zeros(3)]), include_likelihood=False)
    np.testing.assert_allclose(mu, offset + scale * gm[:, 0], atol=1e-7)
