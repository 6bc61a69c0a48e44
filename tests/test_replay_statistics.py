"""The bench's statistics against brute force and known values: Mann-Whitney p-values (exact enumeration,
a permutation test with infinite times), the bootstrap interval of a median ratio (known cases, Monte Carlo
coverage), mean ranks over time, and the verdict of a cell built from known runs."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from hyperjump_advisor.replay import statistics
from hyperjump_advisor.replay.measures import ratio
from hyperjump_advisor.replay.verdict import cell_verdict, summary_line, verdict_markdown

inf = math.inf


def exact_p_less(x, y):
    """P(U_x <= observed U_x) over every assignment of the pooled values to the two groups (no ties)."""
    pooled = np.concatenate([x, y])
    def u(group):
        return sum(1.0 for a in group for b in pooled if b not in group and a > b)
    observed = u(list(x))
    splits = list(itertools.combinations(range(len(pooled)), len(x)))
    hits = sum(1 for idx in splits if u([pooled[i] for i in idx]) <= observed)
    return hits / len(splits)


def permutation_p_less(x, y, permutations=20000, seed=0):
    """Monte Carlo permutation p-value of the rank-sum of x (mid-ranks for ties, inf ranked last)."""
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([x, y])
    ranks = stats.rankdata(pooled)
    observed = ranks[: len(x)].sum()
    sums = np.array([rng.permutation(ranks)[: len(x)].sum() for _ in range(permutations)])
    return float((sums <= observed + 1e-9).mean())


def test_mann_whitney_matches_exact_enumeration_without_ties():
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, y = rng.normal(0, 1, 4), rng.normal(0.8, 1, 5)
        assert statistics.one_sided_mann_whitney(x, y) == pytest.approx(exact_p_less(x, y), abs=1e-12)


def test_mann_whitney_ranks_unreached_seeds_last_with_ties():
    peer = np.array([3.0, 5, 6, 8, 9, 11, 14, inf, 20, 4])
    hyperjump = np.array([10.0, 12, inf, inf, 15, 18, inf, 30, 7, 25])
    p = statistics.one_sided_mann_whitney(peer, hyperjump)
    assert p == pytest.approx(permutation_p_less(peer, hyperjump), abs=0.03)
    # inf is only "larger than every time": any larger finite stand-in gives the same p
    stand_in = statistics.one_sided_mann_whitney(np.where(np.isinf(peer), 1e9, peer),
                                                 np.where(np.isinf(hyperjump), 1e9, hyperjump))
    assert p == pytest.approx(stand_in, abs=1e-12)
    assert p < 0.05


def test_mann_whitney_without_information_is_one_and_rejects_nan():
    assert statistics.one_sided_mann_whitney([inf] * 5, [inf] * 5) == 1.0
    assert statistics.one_sided_mann_whitney([600.0] * 5, [600.0] * 5) == 1.0
    assert statistics.one_sided_mann_whitney([1, 2, 3], [1, 2, 3]) > 0.5
    with pytest.raises(ValueError, match="NaN"):
        statistics.one_sided_mann_whitney([1, math.nan], [2, 3])


def test_median_ratio_follows_the_ratio_rule_of_the_medians():
    cases = [([1, 2, 3], [2, 4, 6]), ([inf, inf, 1], [1, 2, 3]), ([1, 2, 3], [inf, inf, 5]),
             ([0, 0, 0], [0, 0, 1]), ([5, 6, 7], [0, 0, 1])]
    for peer, ref in cases:
        expected = ratio(float(np.median(peer)), float(np.median(ref)))
        assert statistics.median_ratio(np.array(peer, float), np.array(ref, float)) == pytest.approx(expected)
    assert math.isnan(statistics.median_ratio(np.array([inf, inf, 1.0]), np.array([inf, inf, 2.0])))


def test_bootstrap_interval_in_known_cases():
    assert statistics.bootstrap_median_ratio([4.0] * 6, [2.0] * 6) == (2.0, 2.0)
    assert statistics.bootstrap_median_ratio([inf] * 5, [1, 2, 3, 4, 5]) == (inf, inf)
    assert statistics.bootstrap_median_ratio([1, 2, 3, 4, 5], [inf] * 5) == (0.0, 0.0)
    assert statistics.bootstrap_median_ratio([inf] * 5, [inf] * 5) is None
    low, high = statistics.bootstrap_median_ratio([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], seed=1)
    assert low < 1.0 < high
    assert statistics.bootstrap_median_ratio([1, 2, 3], [3, 4, 5], seed=7) == \
        statistics.bootstrap_median_ratio([1, 2, 3], [3, 4, 5], seed=7)


def test_bootstrap_interval_covers_the_true_median_ratio():
    """Monte Carlo: exponential times, true median ratio 2; the 95% interval covers it most of the time."""
    rng = np.random.default_rng(11)
    covered, trials = 0, 300
    for i in range(trials):
        peer, ref = rng.exponential(200.0, 25), rng.exponential(100.0, 25)
        low, high = statistics.bootstrap_median_ratio(peer, ref, seed=i, resamples=1000)
        covered += low <= 2.0 <= high
    assert 0.88 <= covered / trials <= 0.995


def test_mean_ranks_by_hand():
    ranks = statistics.mean_ranks({"a": [0.5, 0.2, 0.1, 0.0], "b": [0.5, 0.3, 0.05, 0.0], "c": [0.9, 0.9, 0.9, 0.9]})
    # times: (a,b tie 1.5; c 3), (a 1, b 2, c 3), (b 1, a 2, c 3), (a,b tie 1.5, c 3)
    assert ranks == pytest.approx({"a": (1.5 + 1 + 2 + 1.5) / 4, "b": (1.5 + 2 + 1 + 1.5) / 4, "c": 3.0})
    assert statistics.average_over_cells([{"a": 1.0, "b": 2.0}, {"a": 2.0, "c": 1.0}]) == \
        {"a": (1.5, 2), "b": (2.0, 1), "c": (1.0, 1)}


def test_log_time_grid():
    grid = statistics.log_time_grid(10.0, 1000.0)
    assert len(grid) == 20 and grid[0] == pytest.approx(10.0) and grid[-1] == pytest.approx(1000.0)
    assert np.allclose(np.diff(np.log(grid)), np.log(100.0) / 19)
    with pytest.raises(ValueError):
        statistics.log_time_grid(0.0, 10.0)


def document_with(times_by_advisor, limit=1000.0):
    """A results document whose runs reach regret 0 at the given times (inf: never, regret 0.5 at t=1)."""
    runs = []
    for name, times in times_by_advisor.items():
        for seed, t in enumerate(times):
            incumbent = [[1.0, 0.5]] + ([[t, 0.0]] if math.isfinite(t) else [])
            runs.append({"advisor": name, "seed": seed, "incumbent": incumbent, "trials": [], "advisor_seconds": 0.0,
                         "decisions": 0, "end_reason": "time", "end_time": limit})
    return {"table": "toy", "optimum_loss": 0.0, "worst_loss": 1.0, "levels": [1, 2], "time_limit": limit,
            "runs": runs}


def test_verdict_names_a_significantly_faster_peer_and_ranks_it_first():
    verdict = cell_verdict(document_with({"hyperjump": [400, 500, 600, 700, inf, 800],
                                          "random": [10, 20, 30, 40, 50, 60],
                                          "hyperjump-no-jump": [5, 6, 7, 8, 9, 10],
                                          "syne-asha": [450, 550, 650, 750, 850, inf]}))
    faster = verdict["targets"][0.1]["faster"]
    assert faster == ["random"]        # ablations of hyperjump are not peers; syne-asha is no faster
    assert verdict["targets"][0.1]["rows"]["random"]["p"] == pytest.approx(1 / math.comb(12, 6))  # exact: U = 0
    assert verdict["ranks"]["hyperjump-no-jump"] < verdict["ranks"]["random"] < verdict["ranks"]["hyperjump"]
    assert "random" in summary_line(verdict) and "syne-asha" not in summary_line(verdict)
    assert verdict["targets"][0.1]["faster_holm"] == ["random"]   # p = 0.001 < 0.05 / 2 peers
    assert "after Holm's correction over 2 peers: to 10%: random" in summary_line(verdict)
    table = "\n".join(verdict_markdown(verdict))
    assert "| random |" in table and "**0.001**" in table


def test_verdict_without_a_faster_peer_says_so():
    verdict = cell_verdict(document_with({"hyperjump": [10, 20, 30, 40, 50], "random": [15, 25, 35, 45, inf]}))
    assert verdict["targets"][0.1]["faster"] == [] and verdict["targets"][0.01]["faster"] == []
    assert summary_line(verdict).startswith("no peer significantly faster")
    low, high = verdict["targets"][0.1]["rows"]["random"]["interval"]
    assert low <= verdict["targets"][0.1]["rows"]["random"]["ratio"] <= high


def test_holm_keeps_what_survives_the_step_down_against_brute_force():
    from itertools import product
    from hyperjump_advisor.replay.statistics import holm_faster
    for ps in product([0.001, 0.012, 0.02, 0.03, 0.2], repeat=3):
        p_values = dict(zip("abc", ps))
        ordered = sorted(p_values, key=p_values.get)
        expected = []
        for k, name in enumerate(ordered):          # Holm (1979): reject while p_(k) < alpha / (m - k)
            if all(p_values[ordered[j]] < 0.05 / (3 - j) for j in range(k + 1)):
                expected.append(name)
        assert holm_faster(p_values) == expected
    assert holm_faster({"a": 0.04, "b": 0.01}) == ["b", "a"]     # 0.01 < 0.025, then 0.04 < 0.05
    assert holm_faster({"a": 0.03, "b": 0.03}) == []              # 0.03 >= 0.025: nothing survives
