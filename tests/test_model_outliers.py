"""Diverged losses are tamed before the GP sees them; ordinary losses are not touched."""
import numpy as np
from hypothesis import given, strategies as st

from hyperjump_advisor.model import MultiFidelityGP
from hyperjump_advisor.model.outliers import tame_outliers
from hyperjump_advisor.model.posterior import standardisation


def test_a_diverged_loss_is_clipped_to_a_finite_bound_and_stays_the_worst():
    losses = np.array([0.2, 0.3, 0.25, 1e200, 0.4, 0.35])
    tamed = tame_outliers(losses)
    assert np.all(np.isfinite(tamed)) and tamed[3] < 1e3
    assert np.argmax(tamed) == 3 and np.array_equal(np.delete(tamed, 3), np.delete(losses, 3))


def test_runs_stuck_at_chance_level_do_not_make_the_good_ones_outliers():
    losses = np.array([0.902] * 20 + [0.01, 0.02, 0.5])
    assert np.array_equal(tame_outliers(losses), losses)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60))
def test_losses_of_a_bounded_metric_are_never_changed(values):
    losses = np.array(values)
    assert np.array_equal(tame_outliers(losses), losses) or np.median(losses) < 0.5


def test_standardisation_does_not_overflow_near_the_largest_float():
    mean, scale = standardisation(np.array([0.1, 0.2, 1e300]))
    assert np.isfinite(mean) and np.isfinite(scale) and scale > 0


def test_the_gp_predicts_finite_values_after_a_diverged_result():
    gp = MultiFidelityGP(1, 3, seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(12, 1))
    losses = 0.3 + 0.2 * x[:, 0]
    losses[4] = 1e200
    gp.add_observations(x, np.ones(12), losses)
    mean, std = gp.predict(np.linspace(0, 1, 5)[:, None], 1.0)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(mean < 1e3)


def test_a_loss_of_exactly_zero_at_the_floor_bound_is_not_moved_by_rounding():
    # found by hypothesis: median 0.80078125, the 1%-of-median floor puts the bound at 0 up to rounding
    losses = np.array([0.0, 0.8046875, 0.80078125])
    assert np.array_equal(tame_outliers(losses), losses)
