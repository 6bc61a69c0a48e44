"""The tie rule (hyperjump_advisor/ties.py): decisions on computed floats ignore their last bits."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hyperjump_advisor import ties
from hyperjump_advisor.model import fitting
from hyperjump_advisor.warmstart import believer_batch, top_distinct

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
values = st.lists(finite, min_size=1, max_size=12)
ulps = st.lists(st.integers(min_value=-4, max_value=4), min_size=12, max_size=12)
STEP = 2.0 ** -ties.SIGNIFICANT_BITS


def shifted(x, k):
    """x moved by k units in the last place."""
    for _ in range(abs(k)):
        x = np.nextafter(x, math.copysign(math.inf, k))
    return float(x)


def perturbed(xs, ks):
    return np.array([shifted(x, k) for x, k in zip(xs, ks)])


def away_from_rounding_boundaries(xs):
    """Each value and its neighbours 8 ulps away round to the same coarse value (else a flip is legitimate)."""
    return all(ties.coarse(shifted(x, -8)) == ties.coarse(shifted(x, 8)) for x in xs)


# ---- the rounding ------------------------------------------------------------------------------------
@given(finite)
def test_coarse_is_within_the_relative_step_idempotent_symmetric(x):
    c = ties.coarse(x)
    assert abs(c - x) <= STEP * abs(x)
    assert ties.coarse(c) == c
    assert ties.coarse(-x) == -c


@given(finite, finite)
def test_coarse_keeps_the_order(x, y):
    if x <= y:
        assert ties.coarse(x) <= ties.coarse(y)


def test_coarse_keeps_zero_infinities_and_nan_and_arrays():
    out = ties.coarse(np.array([0.0, -0.0, math.inf, -math.inf, math.nan, 1.0 + 2 ** -30]))
    assert out[0] == 0 and out[1] == 0 and out[2] == math.inf and out[3] == -math.inf and math.isnan(out[4])
    assert out[5] == 1.0
    assert isinstance(ties.coarse(0.1), float) and ties.coarse(0.1) == pytest.approx(0.1, rel=STEP)


def test_values_apart_by_more_than_the_step_keep_their_order_and_closer_ones_tie():
    assert ties.less(1.0, 1.0 + 4 * STEP) and not ties.less(1.0 + 4 * STEP, 1.0)
    assert not ties.less(1.0, 1.0 + 1e-12) and not ties.less(1.0 + 1e-12, 1.0)
    assert ties.at_most(0.1 + 1e-15, 0.1) and not ties.at_most(0.1 * (1 + 4 * STEP), 0.1)


# ---- decisions against brute force -----------------------------------------------------------------
@given(values)
def test_argmax_argmin_are_the_lowest_index_of_the_coarse_extreme(xs):
    rounded = [ties.coarse(x) for x in xs]
    assert ties.argmax(xs) == min(i for i, r in enumerate(rounded) if r == max(rounded))
    assert ties.argmin(xs) == min(i for i, r in enumerate(rounded) if r == min(rounded))


@given(values)
def test_orders_are_stable_sorts_of_the_coarse_values(xs):
    rounded = [ties.coarse(x) for x in xs]
    assert list(ties.ascending(xs)) == sorted(range(len(xs)), key=lambda i: (rounded[i], i))
    assert list(ties.descending(xs)) == sorted(range(len(xs)), key=lambda i: (-rounded[i], i))


def test_exact_ties_broken_by_the_last_bits_go_to_the_lowest_index():
    ei = np.array([0.25, 0.5, np.nextafter(0.5, 1.0), 0.5 - 1e-17])
    assert ties.argmax(ei) == 1
    assert list(ties.descending(ei)) == [1, 2, 3, 0]
    assert top_distinct(ei, ["a", "b", "c", "d"], 2, set()) == [1, 2]


# ---- a few ulps never change a decision (away from rounding boundaries) -----------------------------
@settings(max_examples=300)
@given(values, ulps)
def test_a_few_ulps_do_not_change_argmax_argmin_or_orders(xs, ks):
    assume(away_from_rounding_boundaries(xs))
    ys = perturbed(xs, ks)
    assert ties.argmax(ys) == ties.argmax(xs) and ties.argmin(ys) == ties.argmin(xs)
    assert list(ties.ascending(ys)) == list(ties.ascending(xs))
    assert list(ties.descending(ys)) == list(ties.descending(xs))


@settings(max_examples=300)
@given(finite, finite, st.integers(-4, 4), st.integers(-4, 4))
def test_a_few_ulps_do_not_change_a_threshold_test(a, b, ka, kb):
    assume(away_from_rounding_boundaries([a, b]))
    assert ties.at_most(shifted(a, ka), shifted(b, kb)) == ties.at_most(a, b)
    assert ties.less(shifted(a, ka), shifted(b, kb)) == ties.less(a, b)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), ulps)
def test_a_few_ulps_do_not_change_the_warm_start_picks(seed, ks):
    rng = np.random.default_rng(seed)
    ei = np.round(rng.random(12), 2) / 10     # many exact ties, as far-away candidates of a GP give
    assume(away_from_rounding_boundaries(ei))
    keys = [str(i) for i in range(12)]
    assert top_distinct(perturbed(ei, ks), keys, 5, set()) == top_distinct(ei, keys, 5, set())
    a = rng.standard_normal((12, 12))
    cov = a @ a.T / 12 + np.eye(12) * 1e-3
    mean = np.round(rng.random(12), 1)
    assume(away_from_rounding_boundaries(mean))
    assert believer_batch(perturbed(mean, ks), cov, 12, 4, 0.5) == believer_batch(mean, cov, 12, 4, 0.5)


# ---- the GP fit: another kernel's last bits do not move the fitted hyperparameters -------------------
def fit_data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    b = rng.choice([1 / 9, 1 / 3, 1.0], n)
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 0.5 * (1 - b) ** 2 + 0.05 * rng.standard_normal(n)
    return x, b, (y - y.mean()) / y.std()


def fitted(monkeypatch, optimizer, perturb_seed):
    """Fit once, the GPy objective and gradient moved by 0-3 ulps per evaluation when perturb_seed is set."""
    from paramz import Model

    original = Model._objective_grads
    rng = np.random.default_rng(perturb_seed)

    def wobbly(self, x):
        f, g = original(self, x)
        if perturb_seed is None:
            return f, g
        return shifted(f, int(rng.integers(-3, 4))), np.array([shifted(v, int(rng.integers(-3, 4))) for v in g])

    monkeypatch.setattr(Model, "_objective_grads", wobbly)
    monkeypatch.setattr(fitting, "portable_lbfgsb", optimizer)
    monkeypatch.setattr(fitting, "coarse_hyperparameters", lambda h: h)  # the optimiser's own result, unrounded
    bounds = fitting.Bounds((0.01, 20.0), (1e-4, 20.0), 1e-6)
    x, b, y = fit_data()
    h = fitting.HyperparameterFitter(fitting.FitSettings(bounds), seed=0).fit(x, b, y, None)
    return np.concatenate([h.lengthscale, [h.bias_variance, h.linear_variance, h.noise_variance]])


def test_last_bit_noise_in_the_likelihood_leaves_the_fit_unchanged(monkeypatch):
    reference = fitted(monkeypatch, fitting.portable_lbfgsb, None)
    for seed in range(3):
        assert np.array_equal(fitted(monkeypatch, fitting.portable_lbfgsb, seed), reference)


def test_without_the_rule_the_same_noise_moves_the_fit(monkeypatch):
    """The check above is not empty: plain L-BFGS-B feeds the same ulps into its path."""
    from paramz.optimization.optimization import opt_lbfgsb

    def plain(max_iters):
        return opt_lbfgsb(max_iters=max_iters)

    reference = fitted(monkeypatch, plain, None)
    moved = [not np.array_equal(fitted(monkeypatch, plain, seed), reference) for seed in range(3)]
    assert any(moved)
