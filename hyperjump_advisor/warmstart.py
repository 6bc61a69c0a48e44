"""Bracket warm start (paper supplement Sec. 6; BOHB's idea): pick a new bracket's configurations.

A fraction ``random_fraction`` is drawn uniformly, as Hyperband does (this keeps Hyperband's
guarantee that every configuration can be tried); the rest maximise the Expected Improvement of
the GP's prediction at the full budget over a pool of uniformly drawn candidates.
Pure numpy/scipy: the advisor passes the model's predictions.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

POOL_PER_CONFIG = 20   # candidates drawn per model-chosen configuration
MIN_POOL = 500
MAX_POOL = 20_000      # bounds a huge bracket's cost (R > 10,000); the rest of it is then drawn uniformly


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI for minimisation: E[max(best - L, 0)] with L ~ N(mean, std^2); (m,) arrays -> (m,).

    EI = (best - mean) Phi(z) + std phi(z), z = (best - mean) / std; for std = 0, max(best - mean, 0)."""
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    gap = best - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, gap / std, 0.0)
    ei = gap * norm.cdf(z) + std * norm.pdf(z)
    return np.where(std > 0, ei, np.maximum(gap, 0.0))


def split_random_and_model(n: int, random_fraction: float) -> tuple[int, int]:
    """How many of n configurations are random and how many model-chosen (random rounded up)."""
    n_random = min(n, math.ceil(random_fraction * n - 1e-9))
    return n_random, n - n_random


def top_distinct(scores: np.ndarray, keys: list, k: int, taken: set) -> list[int]:
    """Indices of the k best scores whose keys are not taken yet (nor repeated among the picks)."""
    picked: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if len(picked) == k:
            break
        if keys[i] in taken:
            continue
        taken.add(keys[i])
        picked.append(int(i))
    return picked
