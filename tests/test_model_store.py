"""Contract of hyperjump_advisor.model.store.ObservationStore: running means, activation, trimming."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperjump_advisor.model.store import ObservationStore


def add(store: ObservationStore, xs, bs, ys) -> bool:
    return store.add(np.atleast_2d(np.asarray(xs, float)), np.asarray(bs, float), np.asarray(ys, float))


def test_repeated_pairs_keep_a_running_mean_and_count_once():
    s = ObservationStore(2)
    add(s, [[0.1, 0.2], [0.3, 0.4]], [0.5, 0.5], [1.0, 5.0])
    add(s, [[0.1, 0.2]], [0.5], [2.0])
    add(s, [[0.1, 0.2 + 1e-14]], [0.5], [6.0])  # equal to 12 decimals: the same pair
    assert s.n == 2
    np.testing.assert_array_equal(s.mean_losses(np.array([0, 1])), [3.0, 5.0])
    add(s, [[0.1, 0.2]], [1.0], [7.0])  # same x, other budget: a new pair
    assert s.n == 3 and s.budgets(np.array([2]))[0] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.25, 1.0]), st.floats(-10, 10)), min_size=1, max_size=60))
def test_mean_loss_of_each_pair_is_the_mean_of_its_observations(obs):
    s = ObservationStore(1)
    expected: dict[tuple[int, float], list[float]] = {}
    for i, b, y in obs:
        add(s, [[i / 4]], [b], [y])
        expected.setdefault((i, b), []).append(y)
    assert s.n == len(expected)
    ids = np.arange(s.n)
    keys = [(int(round(x * 4)), b) for x, b in zip(s.inputs(ids)[:, 0], s.budgets(ids))]
    assert keys == list(expected)  # ids follow first appearance
    np.testing.assert_allclose(s.mean_losses(ids), [np.mean(v) for v in expected.values()], rtol=1e-12, atol=1e-12)


def test_new_pairs_wait_in_pending_until_activated_in_order():
    s = ObservationStore(1)
    assert s.activate_pending().size == 0
    add(s, [[0.1], [0.2]], [0.5, 0.5], [1.0, 2.0])
    assert s.pending == (0, 1) and s.active.size == 0
    np.testing.assert_array_equal(s.activate_pending(), [0, 1])
    add(s, [[0.3]], [0.5], [3.0])
    np.testing.assert_array_equal(s.activate_pending(), [2])
    np.testing.assert_array_equal(s.active, [0, 1, 2])
    assert s.pending == ()


def test_add_reports_whether_an_active_mean_changed():
    s = ObservationStore(1)
    add(s, [[0.1], [0.2]], [0.5, 0.5], [1.0, 2.0])
    assert add(s, [[0.1]], [0.5], [3.0]) is False  # pending pair: nothing to update yet
    s.activate_pending()
    assert add(s, [[0.9]], [0.5], [3.0]) is False  # new pair
    assert add(s, [[0.2]], [0.5], [4.0]) is True
    assert s.pending == (2,)


def test_trim_drops_oldest_below_top_budget_first_then_oldest_top():
    s = ObservationStore(1)
    budgets = [1.0, 0.1, 0.3, 1.0, 0.1, 1.0]
    add(s, [[i / 10] for i in range(6)], budgets, range(6))
    s.activate_pending()
    s.trim(4)  # drop the two oldest non-top points (ids 1, 2), keep the order of the rest
    np.testing.assert_array_equal(s.active, [0, 3, 4, 5])
    s.trim(2)  # id 4 is the last non-top one, then the oldest top one (id 0)
    np.testing.assert_array_equal(s.active, [3, 5])
    s.trim(5)
    np.testing.assert_array_equal(s.active, [3, 5])


def test_a_trimmed_pair_observed_again_reenters_as_pending():
    s = ObservationStore(1)
    add(s, [[0.1], [0.2], [0.3]], [0.1, 0.1, 1.0], [1.0, 2.0, 3.0])
    s.activate_pending()
    s.trim(2)
    np.testing.assert_array_equal(s.active, [1, 2])
    assert add(s, [[0.1]], [0.1], [5.0]) is False
    assert add(s, [[0.1]], [0.1], [6.0]) is False  # not queued twice
    assert s.pending == (0,)
    np.testing.assert_array_equal(s.activate_pending(), [0])
    np.testing.assert_array_equal(s.active, [1, 2, 0])
    assert s.mean_losses(np.array([0]))[0] == 4.0


def test_storage_grows_past_its_initial_capacity_without_losing_data():
    s = ObservationStore(3)
    rng = np.random.default_rng(0)
    X, b, y = rng.random((200, 3)), rng.random(200), rng.random(200)
    for i in range(0, 200, 7):
        s.add(X[i : i + 7], b[i : i + 7], y[i : i + 7])
    ids = np.arange(200)
    assert s.n == 200
    np.testing.assert_array_equal(s.inputs(ids), X)
    np.testing.assert_array_equal(s.budgets(ids), b)
    np.testing.assert_array_equal(s.mean_losses(ids), y)
