"""Contract of hyperjump_advisor.model.inputs (argument validation) and model.blas (thread limits)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperjump_advisor.model import inputs
from hyperjump_advisor.model.blas import limit_blas_threads


def test_observations_are_coerced_to_float_arrays_of_matching_shapes():
    X, b, y = inputs.observations([0.1, 0.2], 1, [3], n_dims=2)
    assert X.shape == (1, 2) and b.shape == (1,) and y.shape == (1,) and X.dtype == np.float64
    with pytest.raises(ValueError, match="columns"):
        inputs.observations(np.zeros((2, 3)), [0.5, 0.5], [1.0, 1.0], n_dims=2)
    with pytest.raises(ValueError, match="shape"):
        inputs.observations(np.zeros((2, 2)), [0.5], [1.0, 1.0], n_dims=2)
    with pytest.raises(ValueError, match="finite"):
        inputs.observations(np.zeros((1, 2)), [0.5], [np.inf], n_dims=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inputs.observations(np.zeros((1, 2)), [1.01], [1.0], n_dims=2)
    inputs.observations(np.zeros((1, 2)), [1 + 1e-10], [1.0], n_dims=2)  # within the tolerance


def test_a_query_takes_one_budget_or_one_per_row():
    X, b = inputs.query(np.zeros((3, 2)), 0.5, n_dims=2)
    np.testing.assert_array_equal(b, [0.5, 0.5, 0.5])
    _, b = inputs.query(np.zeros((2, 2)), [0.1, 0.9], n_dims=2)
    np.testing.assert_array_equal(b, [0.1, 0.9])
    with pytest.raises(ValueError, match="scalar"):
        inputs.query(np.zeros((3, 2)), [0.1, 0.9], n_dims=2)
    with pytest.raises(ValueError):
        inputs.query(np.zeros((1, 2)), np.nan, n_dims=2)


def test_budget_lists_must_be_non_empty_and_normalised():
    X, budgets = inputs.query_budgets([[0.5, 0.5]], (np.float32(0.5), 1), n_dims=2)
    assert budgets == [0.5, 1.0] and all(type(b) is float for b in budgets)
    with pytest.raises(ValueError, match="empty"):
        inputs.query_budgets([[0.5, 0.5]], [], n_dims=2)
    with pytest.raises(ValueError):
        inputs.query_budgets([[0.5, 0.5]], [0.5, 2.0], n_dims=2)


def test_blas_threads_are_limited_inside_the_block_and_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    if not blas:
        pytest.skip("no BLAS thread pool found")
    before = [p["num_threads"] for p in blas]
    with limit_blas_threads(1):
        inside = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    after = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert inside == [1] * len(blas) and after == before
    with limit_blas_threads(None):
        assert [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"] == before
