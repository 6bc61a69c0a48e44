"""Bracket allocation learned from the workload: seconds per bracket, shares, the choice."""
import json

import numpy as np
import pytest

from hyperjump_advisor import bracket_allocation as alloc
from hyperjump_advisor import bracket_value
from hyperjump_advisor.async_schedule.rungs import bracket_start_costs, least_allocated_bracket


def test_with_budget_units_and_equal_shares_it_is_async_hyperbands_rule_up_to_rounding_ties():
    costs = bracket_start_costs(81, 3)
    allocated, counts = [0.0] * len(costs), [0] * len(costs)
    for _ in range(500):
        s = alloc.choose_bracket(counts, costs, [1 / len(costs)] * len(costs))
        rule = least_allocated_bracket(allocated)
        assert s == rule or allocated[s] == pytest.approx(allocated[rule], rel=1e-12)   # 13 x 81 = 45 x 23.4
        allocated[s] += costs[s]
        counts[s] += 1


def test_each_bracket_gets_its_share_of_the_seconds_in_the_long_run():
    seconds, shares = [600.0, 420.0, 150.0, 60.0, 21.0], alloc.bracket_shares([1.0, 0.9, None, 0.6, 0.2])
    counts = [0] * 5
    for _ in range(5000):
        counts[alloc.choose_bracket(counts, seconds, shares)] += 1
    spent = np.array(counts) * np.array(seconds)
    assert np.allclose(spent / spent.sum(), shares, atol=max(seconds) / spent.sum() * 2)


def test_shares_follow_the_rates_with_a_floor():
    shares = alloc.bracket_shares([2.0, 1.0, 0.0, None], floor=0.4)
    assert sum(shares) == pytest.approx(1.0)
    weights = np.array([2.0, 1.0, 0.0, 1.5])                      # unmeasured: the mean of the measured positive
    assert np.allclose(shares, 0.4 / 4 + 0.6 * weights / weights.sum())
    assert min(shares) == pytest.approx(0.1)                      # a worthless bracket keeps its floor
    assert alloc.bracket_shares([None, None, None]) == pytest.approx([1 / 3] * 3)
    assert alloc.bracket_shares([0.3, None, None]) == pytest.approx([1 / 3] * 3)   # only R known: Hyperband's


def test_step_seconds_fill_what_was_not_measured():
    scratch, steps = alloc.step_seconds([1, 3, 9, 27], [2.0, None, 30.0, None], [None, 1.0, None, None])
    assert scratch == pytest.approx([2.0, 6.0, 30.0, 90.0])      # nearest measured, scaled by budget (ties: lower)
    assert steps == pytest.approx([2.0, 1.0, 24.0, 60.0])         # measured increment, else the difference
    assert alloc.step_seconds([1, 3], [None, None], [None, None])[0] == [1.0, 3.0]


def test_bracket_seconds_by_hand():
    scratch, steps = [1.0, 10.0, 100.0], [1.0, 4.0, 50.0]
    # bracket 0 starts at R; bracket 1 at rung 1 then 1/3 to R; bracket 2 at rung 0, 1/3 to 1, 1/9 to R
    assert alloc.bracket_seconds(scratch, steps, 3, resume=True) == pytest.approx(
        [100.0, 10.0 + 50 / 3, 1.0 + 4 / 3 + 50 / 9])
    assert alloc.bracket_seconds(scratch, steps, 3, resume=False) == pytest.approx(
        [100.0, 10.0 + 100 / 3, 1.0 + 10 / 3 + 100 / 9])


def _replayed_bracket_starts(name):
    from golden_traces import synthetic_table
    from hyperjump_advisor.replay import advisors
    from hyperjump_advisor.replay.simulator import SimConfig, Simulator
    from hyperjump_advisor.replay.tables import auto_time_limit, resolve_R_eta

    table = synthetic_table()
    budget_map = resolve_R_eta(table)
    advisor = advisors.get(name).build(R=budget_map.R, eta=budget_map.eta, seed=0)
    limit = auto_time_limit(table, budget_map, 4, iterations=1)
    result = Simulator(advisor, table, budget_map, SimConfig(workers=4, time_limit=limit)).run()
    assert not result["error"]
    scheduler = advisor.engine.scheduler
    return scheduler, [round(a / c) for a, c in zip(scheduler.rungs.allocated, scheduler.start_costs)]


def test_the_replayed_advisor_with_learned_brackets_starts_where_seconds_are_worth_most():
    scheduler, counts = _replayed_bracket_starts("hyperjump:learned_brackets=true")
    chooser = scheduler.choose_bracket
    assert chooser is not None
    seconds, rates, shares = chooser.weights()
    assert rates == bracket_value.rates(chooser.rho_to_top(), seconds, scheduler.eta)
    assert all(r is not None for r in rates)                       # every rung measured against R by the end
    assert shares == alloc.bracket_shares(rates)
    assert np.argsort(shares).tolist() == np.argsort(rates).tolist()
    # low budgets rank well on this table and cost little: the cheapest bracket gets more starts than
    # asynchronous Hyperband gives it, and every bracket keeps some (the floor)
    _, equal = _replayed_bracket_starts("hyperjump:learned_brackets=false")
    assert counts[-1] > equal[-1] and min(counts) > 0
    assert rates[-1] == max(rates)
    json.dumps(counts)
