"""Workload diagnostics: rank correlations, cost per budget, calibration, and their audit records."""
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from hyperjump_advisor.diagnostics import (FIRST_SUMMARY, Z90, WorkloadDiagnostics, next_summary_count,
                                           spearman_interval)
from hyperjump_advisor.model import MultiFidelityGP


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for n in (4, 7, 30, 200):
        x = rng.integers(0, 5, n).astype(float)     # many ties
        y = x + rng.normal(0, 2, n)
        rho, lo, hi = spearman_interval(x, y)
        assert rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert lo <= rho <= hi


def test_spearman_interval_covers_the_population_value_about_95_percent_of_the_time():
    # bivariate normal with Pearson r: Spearman's population rho is 6/pi asin(r/2)
    rng = np.random.default_rng(1)
    r, n, reps = 0.6, 40, 2000
    truth = 6 / math.pi * math.asin(r / 2)
    cov = [[1, r], [r, 1]]
    covered = 0
    for _ in range(reps):
        x, y = rng.multivariate_normal([0, 0], cov, n).T
        _, lo, hi = spearman_interval(x, y)
        covered += lo <= truth <= hi
    # binomial sd at 0.95 over 2000 reps is 0.005: +-4 sd
    assert 0.93 <= covered / reps <= 0.97


def test_spearman_interval_refuses_fewer_than_four_pairs():
    with pytest.raises(ValueError, match="at least 4"):
        spearman_interval(np.arange(3.0), np.arange(3.0))


def test_rank_correlation_per_budget_pair_equals_brute_force_over_configurations_at_both():
    rng = np.random.default_rng(2)
    budgets = [1, 3, 9, 27]
    d = WorkloadDiagnostics(budgets)
    truth: dict[int, dict[int, float]] = {}
    for c in range(80):
        reached = budgets[:1 + rng.integers(0, 4)]
        quality = rng.normal()
        for b in reached:
            loss = quality + rng.normal(0, 1.0 / b)
            truth.setdefault(c, {})[b] = loss
            d.add_result(c, b, loss)
            d.add_result(c, b, loss + 5)      # a second report at the same budget is not new evidence
    d.add_result(0, 2, 0.0)                   # not a budget of the schedule: ignored
    rows = d.rank_correlation()
    assert [(r["low_budget"], r["high_budget"]) for r in rows] == [(1, 3), (1, 9), (1, 27), (3, 9), (3, 27), (9, 27)]
    for row in rows:
        both = [c for c in truth if row["low_budget"] in truth[c] and row["high_budget"] in truth[c]]
        assert row["n"] == len(both)
        if len(both) >= 4:
            lo = [truth[c][row["low_budget"]] for c in both]
            hi = [truth[c][row["high_budget"]] for c in both]
            assert row["spearman"] == pytest.approx(stats.spearmanr(lo, hi).statistic, abs=1e-12)
            assert row["ci_low"] < row["spearman"] < row["ci_high"]
        else:
            assert row["spearman"] is None and row["ci_low"] is None


def test_cost_per_budget_is_the_median_of_trainings_from_scratch_only():
    d = WorkloadDiagnostics([1, 3, 9])
    fresh = {1: [2.0, 4.0, 3.0], 9: [30.0, 10.0]}
    for b, xs in fresh.items():
        for x in xs:
            d.add_duration(0, b, x)
    d.add_duration(1, 3, 100.0)              # a resumed trial: kept apart
    d.add_duration(0, 9, math.nan)           # a broken measurement: ignored
    assert d.cost_per_budget() == [{"budget": 1, "n": 3, "median_seconds": 3.0},
                                   {"budget": 3, "n": 0, "median_seconds": None},
                                   {"budget": 9, "n": 2, "median_seconds": 20.0}]
    assert d.median_seconds(1, 3) == 100.0


@pytest.mark.parametrize("std_ratio", [1.0, 0.5])
def test_coverage_and_inflation_of_a_model_whose_std_is_right_or_half_the_truth(std_ratio):
    rng = np.random.default_rng(3)
    d = WorkloadDiagnostics([1, 3])
    n = 4000
    mean, true_sd = rng.normal(size=n), rng.uniform(0.1, 2.0, n)
    for m, s, loss in zip(mean, true_sd, rng.normal(mean, true_sd)):
        d.add_prediction(loss, m, std_ratio * s)
    expected = 2 * stats.norm.cdf(Z90 * std_ratio) - 1          # 0.9 when calibrated, 0.59 at half
    assert d.coverage_90() == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / n))
    assert d.std_inflation() == pytest.approx(max(1.0, 1 / std_ratio), rel=0.06)


def test_summaries_come_at_a_geometric_rate_of_results():
    d = WorkloadDiagnostics([1, 3])
    at = []
    for c in range(10_000):
        d.add_result(c, 1, float(c))
        if d.summary_due():
            at.append(d.results)
    assert at[0] == FIRST_SUMMARY
    assert all(b == next_summary_count(a) for a, b in zip(at, at[1:]))
    assert len(at) <= 2 + math.log(10_000 / FIRST_SUMMARY) / math.log(1.25)


def test_the_summary_has_exactly_the_fields_the_results_page_renders():
    d = WorkloadDiagnostics([1, 3])
    for c in range(5):
        d.add_result(c, 1, float(c))
        d.add_result(c, 3, float(c) * 2)
    d.add_duration(0, 1, 1.0)
    d.add_prediction(1.0, 1.0, 1.0)
    s = d.summary(12.5)
    assert set(s) == {"event", "rank_correlation", "cost_per_budget", "calibration", "time"}
    assert s["event"] == "workload_diagnostics" and s["time"] == 12.5
    assert set(s["rank_correlation"][0]) == {"low_budget", "high_budget", "n", "spearman", "ci_low", "ci_high"}
    assert set(s["cost_per_budget"][0]) == {"budget", "n", "median_seconds"}
    assert s["calibration"] == {"n": 1, "coverage_90": 1.0}
    assert s["rank_correlation"][0]["spearman"] == pytest.approx(1.0)
    json.dumps(s)   # plain JSON for the audit trail


def test_asking_the_model_as_it_stands_changes_nothing_later():
    rng = np.random.default_rng(4)
    X, b, y = rng.uniform(size=(60, 2)), rng.choice([1 / 9, 1 / 3, 1.0], 60), rng.normal(size=60)
    asked, twin = MultiFidelityGP(2, 4, seed=0), MultiFidelityGP(2, 4, seed=0)
    assert asked.predict_as_it_stands(X[:1], 1.0) is None          # before the first fit
    for i in range(60):
        for gp in (asked, twin):
            gp.add_observations(X[i:i + 1], b[i:i + 1], y[i:i + 1])
        if i % 3 == 0 and i >= 4:
            asked.predict_as_it_stands(X[:5], 1.0)
        if i % 7 == 0 and i >= 4:
            m1, s1 = asked.predict(X[:5], 1.0)
            m2, s2 = twin.predict(X[:5], 1.0)
            assert np.array_equal(m1, m2) and np.array_equal(s1, s2)
    latent_mean, latent_std = asked.predict(X[:3], 0.5)      # brings the posterior up to date
    mean, std = asked.predict_as_it_stands(X[:3], 0.5)
    assert np.allclose(mean, latent_mean) and np.all(std >= latent_std)


@pytest.mark.parametrize("exec_mode,workers", [("async", 4), ("parallelism", 2)])
def test_the_replayed_advisor_writes_diagnostics_measured_on_the_simulated_clock(tmp_path, exec_mode, workers):
    from golden_traces import synthetic_table
    from hyperjump_advisor.records import Records
    from hyperjump_advisor.replay import advisors
    from hyperjump_advisor.replay.simulator import SimConfig, Simulator
    from hyperjump_advisor.replay.tables import auto_time_limit, resolve_R_eta

    table = synthetic_table()
    budget_map = resolve_R_eta(table)
    advisor = advisors.get("hyperjump").build(R=budget_map.R, eta=budget_map.eta, seed=0,
                                              class_args={"exec_mode": exec_mode})
    advisor.records = Records(str(tmp_path))
    limit = auto_time_limit(table, budget_map, workers, iterations=1)
    result = Simulator(advisor, table, budget_map, SimConfig(workers=workers, time_limit=limit)).run()
    audit = [json.loads(line) for line in open(tmp_path / "hyperjump-audit.jsonl")]
    summaries = [r for r in audit if r["event"] == "workload_diagnostics"]
    assert len(summaries) >= 3
    if exec_mode == "async":    # learned_brackets, the default: where starts go, and why, is in each summary
        shares = [row["share"] for row in summaries[-1]["brackets"]]
        assert sum(shares) == pytest.approx(1.0) and len(shares) == len(advisor.engine.scheduler.start_costs)
    else:
        assert "brackets" not in summaries[-1]
    times = [s["time"] for s in summaries]
    assert times == sorted(times) and 0 < times[-1] <= result["end_time"]     # simulated seconds since start
    last = summaries[-1]
    # cost at the end: the medians of the simulator's own fresh trials (resumed_from names a level)
    state = advisor.engine.diagnostics.state
    for row in state.cost_per_budget():
        fresh = [t["end"] - t["start"] for t in result["trials"] if t["status"] == "SUCCEEDED"
                 and t["trial_budget"] == row["budget"] and t.get("resumed_from") is None]
        assert row["n"] == len(fresh)
        if fresh:
            assert row["median_seconds"] == pytest.approx(float(np.median(fresh)))
    # what the audit wrote last counts the fresh trials ended by then (a tie at that time may come after it)
    for row in last["cost_per_budget"]:
        ended = [t for t in result["trials"] if t["status"] == "SUCCEEDED" and t["trial_budget"] == row["budget"]
                 and t.get("resumed_from") is None]
        assert len([t for t in ended if t["end"] < last["time"]]) <= row["n"] <= len(
            [t for t in ended if t["end"] <= last["time"]])
    ranked = [r for r in last["rank_correlation"] if r["spearman"] is not None]
    assert ranked and all(-1 <= r["ci_low"] <= r["spearman"] <= r["ci_high"] <= 1 for r in ranked)
    assert last["calibration"]["n"] > 0 and 0 <= last["calibration"]["coverage_90"] <= 1


def test_calibrated_beliefs_widen_by_the_measured_factor_and_stop_past_the_limit():
    from hyperjump_advisor.calibrated import MAX_INFLATION, MIN_PREDICTIONS, WINDOW, CalibratedPosterior, inflation_of

    class Fake:
        ready = True

        def predict(self, X, budget):
            return np.zeros(len(X)), np.ones(len(X))

        def predict_budgets(self, X, budgets):
            return [np.zeros(len(X))] * len(budgets), [np.ones(len(X))] * len(budgets)

        def predict_joint(self, X, budgets):
            return [np.zeros(len(X))] * len(budgets), [np.eye(len(X))] * len(budgets)

    d = WorkloadDiagnostics([1, 3])
    beliefs = CalibratedPosterior(Fake(), lambda: inflation_of(d))
    for z in range(1, MIN_PREDICTIONS):
        d.add_prediction(3.0 * z, 0.0, 1.0)
    assert inflation_of(d) == 1.0                                  # too few predictions scored
    rng = np.random.default_rng(5)
    zs = rng.normal(0, 3.0, WINDOW)
    for z in zs:
        d.add_prediction(z, 0.0, 1.0)
    factor = float(np.quantile(np.abs(zs), 0.9)) / Z90             # the window holds exactly these
    assert inflation_of(d) == pytest.approx(factor) and 2.5 < factor < 3.5
    X = np.zeros((2, 1))
    assert np.allclose(beliefs.predict(X, 1.0)[1], factor)
    assert np.allclose(beliefs.predict_budgets(X, [0.5, 1.0])[1][1], factor)
    assert np.allclose(beliefs.predict_joint(X, [1.0])[1][0], factor ** 2 * np.eye(2))
    assert beliefs.ready
    for z in rng.normal(0, 2 * MAX_INFLATION, WINDOW):
        d.add_prediction(z, 0.0, 1.0)
    assert not beliefs.ready                                      # the model says too little for risk


def test_calibrated_risk_is_a_validated_class_arg():
    from hyperjump_advisor.settings import ClassArgsError, parse_class_args
    assert parse_class_args(calibrated_risk=True).calibrated_risk
    with pytest.raises(ClassArgsError, match="calibrated_risk"):
        parse_class_args(calibrated_risk="yes")


def test_the_refit_check_counts_a_budget_term_pressed_to_its_bound_and_not_a_real_one(caplog):
    rng = np.random.default_rng(6)
    X = rng.uniform(size=(40, 1))
    budgets = np.repeat([[1 / 9, 1 / 3, 1.0]], 40, axis=0)
    quality = np.sin(6 * X[:, 0])
    flat, trend = MultiFidelityGP(1, 4, seed=0), MultiFidelityGP(1, 4, seed=0)
    for k in range(3):
        flat.add_observations(X, budgets[:, k], quality)                       # the budget changes nothing
        trend.add_observations(X, budgets[:, k], quality + 3 * (1 - budgets[:, k]) ** 2)
    with caplog.at_level("WARNING", logger="hyperjump_advisor"):
        flat.fit(force_hyperopt=True)
        trend.fit(force_hyperopt=True)
    assert flat.hyper.linear_variance <= 1.01e-4 and flat.collapsed_refits == 1
    assert "budget term collapsed" in caplog.text
    assert trend.hyper.linear_variance > 1e-2 and trend.collapsed_refits == 0


def test_keep_budget_term_refuses_a_collapsed_refit_and_keeps_the_previous_fit():
    rng = np.random.default_rng(7)
    X = rng.uniform(size=(40, 1))
    quality = np.sin(6 * X[:, 0])
    models = {keep: MultiFidelityGP(1, 4, seed=0, refuse_collapsed_fits=keep) for keep in (False, True)}
    for gp in models.values():
        for b in (1 / 9, 1 / 3, 1.0):             # first a real budget effect
            gp.add_observations(X, np.full(40, b), quality + 3 * (1 - b) ** 2)
        gp.fit(force_hyperopt=True)
    before = models[True].hyper
    Z = rng.uniform(size=(400, 1))
    for gp in models.values():
        for b in (1 / 9, 1 / 3, 1.0):             # then many points where the budget changes nothing
            gp.add_observations(Z, np.full(400, b), np.sin(6 * Z[:, 0]))
        gp.fit(force_hyperopt=True)
    assert models[False].hyper.linear_variance <= 1.01e-4 and models[False].collapsed_refits == 1
    assert models[True].collapsed_refits == 1 and models[True].hyper is before


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=60))
def test_the_median_of_the_sorted_durations_is_numpys(durations):
    d = WorkloadDiagnostics([1, 3, 9])
    for seconds in durations:
        d.add_duration(0, 3, seconds)
    assert d.median_seconds(0, 3) == float(np.median(durations))
    assert d.seconds[(0, 3)] == sorted(durations) and d.median_seconds(0, 9) is None


def test_correlations_to_one_budget_are_the_rows_of_all_pairs_with_it():
    rng = np.random.default_rng(3)
    d = WorkloadDiagnostics([1, 3, 9])
    for c in range(40):
        for b in [1, 3, 9][: 1 + c % 3]:
            d.add_result(c, b, float(rng.normal()))
    every = d.rank_correlation()
    assert d.rank_correlation(9) == [row for row in every if row["high_budget"] == 9]
    assert [row["n"] for row in every] == [26, 13, 13]
