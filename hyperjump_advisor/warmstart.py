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

from . import ties

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
    """Indices of the k best scores whose keys are not taken yet (nor repeated among the picks); scores are
    compared by the tie rule (``ties``: 24 significant bits, ties to the lower index)."""
    picked: list[int] = []
    for i in ties.descending(scores):
        if len(picked) == k:
            break
        if keys[i] in taken:
            continue
        taken.add(keys[i])
        picked.append(int(i))
    return picked


FANTASY_JITTER = 1e-6  # relative noise of a fantasised observation (keeps the conditioning well posed)


def believer_batch(mean: np.ndarray, cov: np.ndarray, n_candidates: int, k: int, best: float) -> list[int]:
    """k candidates picked greedily by EI under the kriging believer (minimisation).

    ``mean`` (m,) and ``cov`` (m, m) are the joint posterior of m points at the target budget: the first
    ``n_candidates`` are candidates, the rest pending evaluations. Pending points, then each pick, are
    fantasised as observed at their mean: the covariance is conditioned on them (their neighbours' std
    shrinks) and the EI target becomes min(best, fantasised means). Returns candidate indices in pick order.
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.array(cov, dtype=float)
    m = len(mean)
    jitter = FANTASY_JITTER * max(float(np.max(np.diag(cov))) if m else 1.0, 1e-12)
    if m > n_candidates:
        c, p = slice(0, n_candidates), slice(n_candidates, m)
        pp = cov[p, p] + jitter * np.eye(m - n_candidates)
        try:
            solved = np.linalg.solve(pp, cov[p, c])
        except np.linalg.LinAlgError:
            solved = np.linalg.lstsq(pp, cov[p, c], rcond=None)[0]
        best = min(best, float(np.min(mean[p])))
        cov = cov[c, c] - cov[c, p] @ solved
        mean = mean[c]
    picked: list[int] = []
    free = np.ones(n_candidates, dtype=bool)
    for _ in range(min(k, n_candidates)):
        std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        ei = np.where(free, expected_improvement(mean, std, best), -np.inf)
        j = ties.argmax(ei)
        picked.append(j)
        free[j] = False
        best = min(best, float(mean[j]))
        column = cov[:, j].copy()
        cov -= np.outer(column, column) / (column[j] + jitter)
    return picked
