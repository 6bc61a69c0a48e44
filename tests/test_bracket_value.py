"""What a start in each bracket is worth: the maths against closed forms and brute force."""
import math

import numpy as np
import pytest

from hyperjump_advisor import bracket_value as bv


def test_expected_best_of_matches_the_closed_forms_and_monte_carlo():
    assert bv.expected_best_of(np.array([1.0, 2.0, 3.0])) == pytest.approx(
        [0.0, 1 / math.sqrt(math.pi), 1.5 / math.sqrt(math.pi)], abs=1e-6)
    draws = np.random.default_rng(0).standard_normal((200_000, 20)).max(axis=1)
    assert bv.expected_best_of(20.0)[0] == pytest.approx(draws.mean(), abs=4 * draws.std() / math.sqrt(len(draws)))


def test_effective_samples_inverts_expected_best_of():
    for n in (1.0, 2.0, 7.5, 81.0, 5000.0):
        assert bv.effective_samples(float(bv.expected_best_of(n)[0])) == pytest.approx(n, rel=1e-3)
    assert bv.effective_samples(-0.3) == 1.0                      # worse than a random draw: one draw


def test_pearson_of_spearman_for_a_bivariate_normal():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((100_000, 2))
    r = 0.6
    x, y = z[:, 0], r * z[:, 0] + math.sqrt(1 - r * r) * z[:, 1]
    ranks = lambda v: np.argsort(np.argsort(v))                    # noqa: E731
    rho = np.corrcoef(ranks(x), ranks(y))[0, 1]
    assert bv.pearson_of_spearman(rho) == pytest.approx(r, abs=0.01)
    assert (bv.pearson_of_spearman(-0.4), bv.pearson_of_spearman(1.0)) == (0.0, pytest.approx(1.0))


@pytest.mark.parametrize("c", [0.0, 0.5, 0.9, 1.0])
def test_one_rung_below_R_selects_with_its_correlation(c):
    # eta configurations, the best view at the rung goes to R: E[z | best view] = c E[max of eta views]
    score = bv.survivor_score((c, 1.0), 3)
    assert score == pytest.approx(c * bv.expected_best_of(3.0)[0], abs=0.03)


def test_perfect_rungs_find_the_best_of_all_starts_and_useless_ones_a_random_one():
    assert bv.survivor_score((1.0, 1.0, 1.0), 3) == pytest.approx(bv.expected_best_of(9.0)[0], abs=0.02)
    assert bv.survivor_score((0.0, 0.0, 1.0), 3) == pytest.approx(0.0, abs=0.05)


def test_survivor_score_against_brute_force_successive_halving():
    # the Markov chain of views, simulated here one draw at a time
    corr, eta, rng = (0.5, 0.8, 1.0), 2, np.random.default_rng(7)
    found = []
    for _ in range(20_000):
        z = rng.standard_normal(4)
        mid = 0.8 * z + math.sqrt(1 - 0.64) * rng.standard_normal(4)
        a = 0.5 / 0.8
        low = a * mid + math.sqrt(1 - a * a) * rng.standard_normal(4)
        kept = np.argsort(-low)[:2]
        found.append(z[kept[np.argmax(mid[kept])]])
    assert bv.survivor_score(corr, eta) == pytest.approx(np.mean(found), abs=0.03)


def test_more_informative_rungs_are_worth_more():
    scores = [bv.survivor_score((c, c, 1.0), 3) for c in (0.1, 0.4, 0.7, 0.95)]
    assert scores == sorted(scores)


def test_rates_per_second_and_what_is_not_measured():
    seconds = [100.0, 50.0, 20.0]
    rates = bv.rates([None, 0.9, 0.8], seconds, 3)
    assert rates[0] == pytest.approx(1 / 100)                    # a start at R is one sample
    assert rates[1] == pytest.approx(
        bv.effective_samples(bv.survivor_score((round(bv.pearson_of_spearman(0.9) * 40) / 40, 1.0), 3)) / (3 * 50))
    assert rates[2] > rates[1] > rates[0]                         # informative, cheap low rungs win
    assert bv.rates([None, 0.9, None], seconds, 3)[2] is None
    costly = bv.rates([None, 0.9, 0.8], [100.0, 95.0, 90.0], 3)   # the low budgets cost almost R's seconds
    assert costly[2] < costly[0] * 3
