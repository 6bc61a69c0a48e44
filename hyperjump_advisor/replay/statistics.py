"""Statistics that decide a replay cell (pure functions of numbers; no document, no file).

- :func:`one_sided_mann_whitney`: p-value of "the peer's times to a target are stochastically smaller
  than HyperJump's" (one-sided Mann-Whitney U, ``scipy.stats.mannwhitneyu(alternative="less")``). A seed
  that never reached the target is ``inf``: scipy ranks the samples (``rankdata``), so infinite times are
  the largest values and tie with each other (average ranks); with ties scipy's ``method="auto"`` uses
  the normal approximation with the tie correction, without ties and both samples of at most 8 the exact
  distribution. Two samples that are one single value together have no ranking information: p = 1.
- :func:`bootstrap_median_ratio`: percentile bootstrap interval of median(peer) / median(reference), each
  sample resampled with replacement on its own (seeded numpy generator). Medians over all resampled seeds,
  infinite ones included (as every median of the bench); the ratio of two infinite medians is undefined
  and such resamples are left out; when more than half are undefined there is no interval.
- :func:`log_time_grid` and :func:`mean_ranks`: advisors ranked at each time of a grid by their median
  normalised regret (rank 1 = lowest regret, ties get the average rank, ``scipy.stats.rankdata``), then
  the ranks averaged over the grid: Syne Tune's and HPOBench's "average rank over time".
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
from scipy import stats

SIGNIFICANCE = 0.05
RESAMPLES = 2000
RANK_TIMES = 20


def one_sided_mann_whitney(peer: Sequence[float], reference: Sequence[float]) -> float:
    """p-value of H1 "peer's times are smaller than reference's" (unreached = ``inf``)."""
    x, y = np.asarray(peer, dtype=float), np.asarray(reference, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("one_sided_mann_whitney needs at least one time in each sample")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("times must be numbers or inf (a seed that never reached the target), not NaN")
    pooled = np.concatenate([x, y])
    if np.all(pooled == pooled[0]):
        return 1.0
    return float(stats.mannwhitneyu(x, y, alternative="less", method="auto").pvalue)


def median_ratio(peer: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """median(peer) / median(reference) along the last axis; nan where both medians are infinite."""
    top, bottom = np.median(peer, axis=-1), np.median(reference, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(top / bottom, dtype=float)    # inf/inf = nan, x/inf = 0, inf/x = inf, x/0 = inf
    return np.where((top == 0) & (bottom == 0), 1.0, out)


def bootstrap_median_ratio(peer: Sequence[float], reference: Sequence[float], seed: int = 0,
                           resamples: int = RESAMPLES, level: float = 0.95) -> Optional[tuple[float, float]]:
    """Percentile bootstrap ``level`` interval of median(peer) / median(reference); None when undefined."""
    x, y = np.asarray(peer, dtype=float), np.asarray(reference, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("bootstrap_median_ratio needs at least one time in each sample")
    rng = np.random.default_rng(seed)
    xs = x[rng.integers(0, x.size, size=(resamples, x.size))]
    ys = y[rng.integers(0, y.size, size=(resamples, y.size))]
    ratios = median_ratio(xs, ys)
    defined = ratios[~np.isnan(ratios)]
    if defined.size * 2 < resamples:
        return None
    alpha = (1.0 - level) / 2
    # order statistics (no interpolation), so an infinite ratio stays infinite and never becomes nan
    low, high = np.quantile(defined, [alpha, 1.0 - alpha], method="inverted_cdf")
    return float(low), float(high)


def log_time_grid(first: float, limit: float, points: int = RANK_TIMES) -> np.ndarray:
    """``points`` log-spaced times from ``first`` (> 0) to ``limit``."""
    if not (0 < first and math.isfinite(limit) and first <= limit):
        raise ValueError(f"log_time_grid needs 0 < first <= limit < inf, got first={first}, limit={limit}")
    return np.geomspace(first, limit, points)


def mean_ranks(median_regrets: dict[str, Sequence[float]]) -> dict[str, float]:
    """advisor -> mean over the grid times of its rank by median regret (1 = best, ties averaged)."""
    names = list(median_regrets)
    if not names:
        return {}
    matrix = np.array([np.asarray(median_regrets[n], dtype=float) for n in names])  # advisors x times
    ranks = stats.rankdata(matrix, axis=0, method="average")
    return {name: float(ranks[i].mean()) for i, name in enumerate(names)}


def average_over_cells(cells: Sequence[dict[str, float]]) -> dict[str, tuple[float, int]]:
    """advisor -> (mean of its per-cell mean ranks, number of cells it appears in)."""
    sums: dict[str, list[float]] = {}
    for cell in cells:
        for name, rank in cell.items():
            sums.setdefault(name, []).append(rank)
    return {name: (float(np.mean(values)), len(values)) for name, values in sums.items()}


def significantly_faster(p_values: dict[str, float], alpha: float = SIGNIFICANCE) -> list[str]:
    """The peers whose one-sided p-value is below ``alpha`` (no correction for the number of peers)."""
    return [name for name, p in sorted(p_values.items(), key=lambda item: item[1]) if p < alpha]


def holm_faster(p_values: dict[str, float], alpha: float = SIGNIFICANCE) -> list[str]:
    """The peers still significant after Holm's step-down correction for the number of peers (Holm, 1979):
    the k-th smallest p-value is compared with alpha / (m - k + 1), stopping at the first that fails."""
    ordered = sorted(p_values.items(), key=lambda item: item[1])
    out = []
    for k, (name, p) in enumerate(ordered):
        if p >= alpha / (len(ordered) - k):
            break
        out.append(name)
    return out
