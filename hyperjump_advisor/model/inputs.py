"""Coercion and validation of the arrays callers hand to the model.

Contract: each function returns float arrays of checked shapes or raises ValueError.
Configurations X are (k, n_dims); normalised budgets lie in [0, 1] (1e-9 tolerance);
observed X and losses are finite.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from ..posterior import Array


def check_budgets(b: Array) -> None:
    """Raise unless every normalised budget is finite and in [0, 1]."""
    if not np.all(np.isfinite(b)) or np.any(b < -1e-9) or np.any(b > 1 + 1e-9):
        raise ValueError(f"normalised budgets must lie in [0, 1], got {b!r}")


def configurations(X: ArrayLike, n_dims: int) -> Array:
    """X as a (k, n_dims) float array."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    if X.shape[1] != n_dims:
        raise ValueError(f"X must have {n_dims} columns, got shape {X.shape}")
    return X


def observations(X: ArrayLike, budgets: ArrayLike, losses: ArrayLike, n_dims: int) -> tuple[Array, Array, Array]:
    """(X (k, n_dims), budgets (k,), losses (k,)), all finite, budgets in [0, 1]."""
    X = configurations(X, n_dims)
    b = np.atleast_1d(np.asarray(budgets, dtype=float)).ravel()
    y = np.atleast_1d(np.asarray(losses, dtype=float)).ravel()
    k = X.shape[0]
    if b.shape != (k,) or y.shape != (k,):
        raise ValueError(f"budgets {b.shape} and losses {y.shape} must have shape ({k},)")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and losses must be finite")
    check_budgets(b)
    return X, b, y


def query(X: ArrayLike, budget: Union[float, ArrayLike], n_dims: int) -> tuple[Array, Array]:
    """(X (m, n_dims), budgets (m,)) from one budget for all rows or one per row."""
    X = configurations(X, n_dims)
    b = np.asarray(budget, dtype=float)
    if b.ndim == 0:
        b = np.full(X.shape[0], float(b))
    elif b.shape != (X.shape[0],):
        raise ValueError(f"budget must be a scalar or have shape ({X.shape[0]},), got {b.shape}")
    check_budgets(b)
    return X, b


def query_budgets(X: ArrayLike, budgets: Sequence[float], n_dims: int) -> tuple[Array, list[float]]:
    """(X (m, n_dims), budgets as a non-empty list of floats in [0, 1])."""
    floats = [float(b) for b in budgets]
    if not floats:
        raise ValueError("budgets must not be empty")
    X, _ = query(X, floats[0], n_dims)
    check_budgets(np.asarray(floats))
    return X, floats
