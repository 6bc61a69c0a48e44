"""Contract of hyperjump_advisor.model.fitting: refit policy, fitting subset, bounded GPy optimisation."""

from __future__ import annotations

import numpy as np
import pytest

from hyperjump_advisor.model import fitting
from hyperjump_advisor.model.fitting import (NOISE_MAX, Bounds, FitSettings, HyperparameterFitter, RefitPolicy,
                                             build_gpy, choose_fit_subset, clip_to_bounds, default_hyperparameters,
                                             hyperparameters_of)
from hyperjump_advisor.model.kernel import KernelHyperparameters

BOUNDS = Bounds(lengthscale=(1e-2, 20.0), variance=(1e-4, 1e2), noise_floor=1e-6)


def test_refit_policy_grows_geometrically_and_optionally_every_k():
    policy = RefitPolicy(min_observations=4, growth=1.25, every=None)
    assert policy.due(4)  # nothing fitted yet
    policy.record(4)
    assert policy.due(5) and not policy.due(4)
    policy.record(5)
    assert not policy.due(6) and policy.due(7)  # 6 < 1.25 * 5 <= 7
    assert policy.n_refits == 2 and policy.n_at_last_refit == 5
    assert policy.max_refits(3) == 0 and policy.max_refits(4) == 1
    assert policy.max_refits(60) == 12  # 4, 5, 7, 9, 12, 15, 19, 24, 30, 38, 48, 60
    every = RefitPolicy(min_observations=4, growth=100.0, every=5)
    every.record(4)
    assert not every.due(8) and every.due(9)


def test_fit_subset_keeps_every_top_budget_point_up_to_half():
    rng = np.random.default_rng(0)
    budgets = rng.choice([1 / 9, 1 / 3], size=100)
    budgets[[3, 50, 97]] = 1.0
    sub = choose_fit_subset(budgets, 20, rng)
    assert sub.size == 20 and np.all(np.diff(sub) > 0)
    assert {3, 50, 97} <= set(sub.tolist())
    np.testing.assert_array_equal(choose_fit_subset(budgets[:15], 20, rng), np.arange(15))
    many_top = np.ones(100)
    many_top[:10] = 0.5
    sub = choose_fit_subset(many_top, 20, rng)
    assert sub.size == 20 and np.sum(many_top[sub] == 1.0) >= 10  # at least half, then random points


def test_fit_subset_is_reproducible_from_the_seed():
    budgets = np.random.default_rng(1).random(500)
    a = choose_fit_subset(budgets, 50, np.random.default_rng(7))
    b = choose_fit_subset(budgets, 50, np.random.default_rng(7))
    c = choose_fit_subset(budgets, 50, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_clip_to_bounds_moves_values_strictly_inside():
    h = KernelHyperparameters(lengthscale=np.array([1e-5, 1.0, 1e3]), matern_variance=1.0,
                              bias_variance=1e3, linear_variance=0.5, noise_variance=0.0)
    c = clip_to_bounds(h, BOUNDS)
    assert 1e-2 < c.lengthscale[0] < 1.1e-2 and c.lengthscale[1] == 1.0 and 19.9 < c.lengthscale[2] < 20.0
    assert 99.9 < c.bias_variance < 1e2 and c.linear_variance == 0.5
    assert 1e-6 < c.noise_variance < 1e-6 + 1e-8 and c.matern_variance == 1.0


def test_gpy_model_carries_the_hyperparameters_and_bounds():
    rng = np.random.default_rng(2)
    x, p, y = rng.random((12, 2)), rng.random(12), rng.standard_normal(12)
    h = KernelHyperparameters(lengthscale=np.array([0.3, 0.7]), matern_variance=1.0, bias_variance=0.2,
                              linear_variance=3.0, noise_variance=0.05)
    back = hyperparameters_of(build_gpy(x, p, y, h, bounds=None))
    np.testing.assert_array_equal(back.lengthscale, h.lengthscale)
    assert (back.matern_variance, back.bias_variance, back.linear_variance, back.noise_variance) == (1.0, 0.2, 3.0, 0.05)
    with fitting.quiet_gpy():
        model = build_gpy(x, p, y, h, bounds=BOUNDS)
        model.optimize("lbfgsb", max_iters=30)
    fitted = hyperparameters_of(model)
    assert fitted.matern_variance == 1.0  # fixed
    assert np.all((fitted.lengthscale >= 1e-2) & (fitted.lengthscale <= 20.0))
    assert BOUNDS.noise_floor <= fitted.noise_variance <= NOISE_MAX


def test_fitter_improves_the_likelihood_and_is_reproducible():
    rng = np.random.default_rng(3)
    x, b = rng.random((40, 2)), rng.choice([1 / 9, 1.0], size=40)
    y = np.sin(4 * x[:, 0]) + (1 - b) ** 2
    y = (y - y.mean()) / y.std()
    settings = FitSettings(BOUNDS, fit_max_points=30, max_iters=20, first_max_iters=40)
    h1 = HyperparameterFitter(settings, seed=0).fit(x, b, y, previous=None)
    h2 = HyperparameterFitter(settings, seed=0).fit(x, b, y, previous=None)
    np.testing.assert_array_equal(h1.lengthscale, h2.lengthscale)
    p = (1 - b) ** 2

    def objective(h):
        return float(build_gpy(x, p, y, h, bounds=None).objective_function())

    with fitting.quiet_gpy():
        assert objective(h1) < objective(default_hyperparameters(2))


def test_fitter_keeps_previous_or_default_hyperparameters_when_every_start_fails(monkeypatch):
    def failing(*args, **kwargs):
        raise np.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(fitting, "build_gpy", failing)
    rng = np.random.default_rng(4)
    x, b, y = rng.random((8, 2)), np.full(8, 0.5), rng.standard_normal(8)
    fitter = HyperparameterFitter(FitSettings(BOUNDS), seed=0)
    first = fitter.fit(x, b, y, previous=None)
    np.testing.assert_array_equal(first.lengthscale, default_hyperparameters(2).lengthscale)
    previous = KernelHyperparameters(np.array([3.0, 4.0]), 1.0, 0.5, 0.5, 0.1)
    assert fitter.fit(x, b, y, previous=previous) is previous


@pytest.mark.parametrize("restart, expected", [(True, 2), (False, 1)])
def test_a_refit_starts_warm_and_optionally_from_the_defaults(monkeypatch, restart, expected):
    starts = []
    real = fitting.build_gpy

    def recording(x, p, y, h, bounds):
        starts.append(h)
        return real(x, p, y, h, bounds)

    monkeypatch.setattr(fitting, "build_gpy", recording)
    rng = np.random.default_rng(5)
    x, b, y = rng.random((10, 2)), np.full(10, 0.5), rng.standard_normal(10)
    previous = KernelHyperparameters(np.array([50.0, 0.2]), 1.0, 0.5, 0.5, 0.1)
    fitter = HyperparameterFitter(FitSettings(BOUNDS, max_iters=5, first_max_iters=5, restart_from_default=restart), 0)
    fitter.fit(x, b, y, previous=previous)
    assert len(starts) == expected
    assert starts[0].lengthscale[0] < 20.0  # the warm start is clipped into the bounds
    if restart:
        np.testing.assert_array_equal(starts[1].lengthscale, [0.5, 0.5])
