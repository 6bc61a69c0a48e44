"""Bracket warm start: EI maths, and what the advisor picks for a new bracket."""
import numpy as np
import pytest
from scipy.stats import kstest

from hyperjump_advisor import HyperJump
from hyperjump_advisor.inprocess import build_offline
from hyperjump_advisor.warmstart import expected_improvement, split_random_and_model, top_distinct
from test_jumping import error_rate, run_serial


def test_expected_improvement_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean, std, best = np.array([0.3, 0.5, 0.2, 0.4]), np.array([0.1, 0.3, 0.0, 1e-3]), 0.35
    samples = rng.normal(mean, std, size=(400_000, 4))
    mc = np.maximum(best - samples, 0).mean(axis=0)
    se = np.maximum(best - samples, 0).std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(expected_improvement(mean, std, best) - mc) <= 4 * se + 1e-12)
    assert expected_improvement(np.array([0.2]), np.array([0.0]), 0.35)[0] == pytest.approx(0.15)


def test_split_rounds_the_random_part_up():
    assert split_random_and_model(81, 0.3) == (25, 56)
    assert split_random_and_model(5, 0.3) == (2, 3)
    assert split_random_and_model(1, 0.3) == (1, 0)
    assert split_random_and_model(10, 1.0) == (10, 0)
    assert split_random_and_model(10, 0.0) == (0, 10)


def test_top_distinct_skips_taken_and_repeated_keys():
    assert top_distinct(np.array([5, 4, 3, 2, 1.0]), ["a", "a", "b", "c", "d"], 3, {"b"}) == [0, 3, 4]


def test_model_chosen_part_of_a_bracket_beats_the_random_part():
    advisor = build_offline(HyperJump, R=81, eta=3, seed=5, exec_mode="serial", p_no_jump=0.0)
    run_serial(advisor, 160)
    model_part, random_part = [], []
    for bracket in advisor.engine.scheduler.brackets:
        ids = [x.config_id for x in bracket.slots[0]]
        first = min(ids)
        if not any(t.slot.config_id < first for t in advisor.engine.ledger.trials.values() if t.slot.status.value == "DONE"):
            continue  # opened before the model could be used: all random
        n_random = split_random_and_model(len(ids), 0.3)[0]
        for k, c in enumerate(sorted(ids)):
            final = error_rate(dict(advisor.engine.searcher.configs[c], TRIAL_BUDGET=81))
            (random_part if k < n_random else model_part).append(final)
    assert len(model_part) >= 20 and len(random_part) >= 10
    assert np.mean(model_part) < np.mean(random_part) - 0.02, (np.mean(model_part), np.mean(random_part))


def test_the_random_part_stays_uniform():
    advisor = build_offline(HyperJump, R=81, eta=3, seed=6, exec_mode="serial", p_no_jump=0.0)
    run_serial(advisor, 160)
    randoms = []
    for bracket in advisor.engine.scheduler.brackets:
        ids = sorted(x.config_id for x in bracket.slots[0])
        randoms += [advisor.engine.searcher.configs[c]["a"] for c in ids[:split_random_and_model(len(ids), 0.3)[0]]]
    assert len(randoms) > 60
    assert kstest(randoms, "uniform").pvalue > 0.01
