"""The demo runner's decisions (examples/mnist-hyperjump/run_demo.py), without NNI."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hyperjump_advisor.results import Result

RUN_DEMO = Path(__file__).resolve().parents[1] / "examples" / "mnist-hyperjump" / "run_demo.py"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("run_demo_under_test", RUN_DEMO)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def result(parameter_id: int, budget: int, metric: float) -> Result:
    return Result(parameter_id, f"job{parameter_id}", metric, {"TRIAL_BUDGET": budget, "lr": 0.1 * parameter_id})


R = 9
MIXED = [result(1, 1, 0.99), result(2, 3, 0.95), result(3, 9, 0.90), result(4, 9, 0.93), result(5, 9, 0.91)]


def test_one_iteration_counts_every_stage_of_every_bracket(demo):
    assert demo.trials_per_iteration(9, 3) == 22
    assert demo.trials_per_iteration(27, 3) == 69
    assert demo.trials_per_iteration(81, 3) == 206


def test_the_cap_leaves_room_for_one_more_full_budget_bracket(demo):
    assert demo.demo_trial_cap(9, 3) == 22 + 3
    assert demo.demo_trial_cap(27, 3) == 69 + 4


def test_done_with_full_budget_results_is_success_with_the_best_at_R_not_the_best_overall(demo):
    outcome = demo.judge_outcome("DONE", MIXED, R, maximize=True, timed_out=False)
    assert outcome.success
    assert outcome.best.parameter_id == 4          # 0.99 at budget 1 is not comparable
    assert "DONE" in outcome.message


def test_minimising_picks_the_smallest_metric_at_R(demo):
    outcome = demo.judge_outcome("DONE", MIXED, R, maximize=False, timed_out=False)
    assert outcome.best.parameter_id == 3


def test_no_more_trial_with_results_is_success(demo):
    outcome = demo.judge_outcome("NO_MORE_TRIAL", MIXED, R, maximize=True, timed_out=False)
    assert outcome.success and outcome.best.parameter_id == 4
    assert "NO_MORE_TRIAL" in outcome.message


def test_no_more_trial_without_results_fails(demo):
    outcome = demo.judge_outcome("NO_MORE_TRIAL", [], R, maximize=True, timed_out=False)
    assert not outcome.success and outcome.best is None
    assert "No trial reported" in outcome.message


def test_error_fails_even_with_results(demo):
    outcome = demo.judge_outcome("ERROR", MIXED, R, maximize=True, timed_out=False)
    assert not outcome.success
    assert "dispatcher.log" in outcome.message


def test_no_full_budget_result_fails_and_says_what_was_reached(demo):
    outcome = demo.judge_outcome("DONE", MIXED[:2], R, maximize=True, timed_out=False)
    assert not outcome.success
    assert "R=9" in outcome.message and "largest budget reached: 3" in outcome.message


def test_timeout_with_a_full_budget_result_is_success_and_says_so(demo):
    outcome = demo.judge_outcome("RUNNING", MIXED, R, maximize=True, timed_out=True)
    assert outcome.success
    assert "time limit" in outcome.message


def test_timeout_without_results_fails(demo):
    outcome = demo.judge_outcome("RUNNING", [], R, maximize=True, timed_out=True)
    assert not outcome.success and "time limit" in outcome.message


@pytest.mark.parametrize("status, cap_since, now, expected", [
    ("RUNNING", None, 100, True),
    ("INITIALIZED", None, 100, True),
    ("DONE", None, 100, False),
    ("ERROR", None, 100, False),
    ("STOPPED", None, 100, False),
    ("NO_MORE_TRIAL", 90, 100, True),        # trials still running: wait for DONE ...
    ("NO_MORE_TRIAL", 0, 100, False),        # ... but not longer than the grace
    ("TUNER_NO_MORE_TRIAL", 0, 100, False),
    ("RUNNING", None, 1000, False),          # the overall deadline
])
def test_polling_stops_at_final_statuses_after_the_grace_and_at_the_deadline(demo, status, cap_since, now, expected):
    assert demo.keep_polling(status, cap_since, now, deadline=500, grace_seconds=60) is expected


def test_an_unregistered_advisor_is_reported_with_the_fix(demo):
    problem = demo.registration_problem("HyperJump", registered=lambda name: False)
    assert "not registered" in problem and "hyperjump-register" in problem


def test_a_registered_advisor_or_a_class_name_is_fine(demo):
    assert demo.registration_problem("HyperJump", registered=lambda name: True) is None
    assert demo.registration_problem(None, registered=lambda name: False) is None


def test_the_best_is_described_without_bookkeeping_keys(demo):
    best = Result(7, "abc", 0.93, {"TRIAL_BUDGET": 9, "HYPERJUMP_CONFIG_KEY": "c1", "lr": 0.01})
    text = "\n".join(demo.describe_best(best, 9))
    assert "lr = 0.01" in text and "0.9300" in text and "parameter id 7" in text
    assert "HYPERJUMP_CONFIG_KEY" not in text


def test_the_advisor_summary_reads_its_records_and_is_silent_without_them(demo, tmp_path):
    assert demo.advisor_summary(tmp_path) is None
    (tmp_path / "hyperjump-audit.jsonl").write_text(
        '{"event": "header", "R": 9, "eta": 3, "plan": [], "class_args": {}, "time": 1}\n'
        '{"event": "bracket", "bracket": 0, "iteration": 0, "s": 2, "no_jump": true, "config_ids": [1], "time": 2}\n'
        '{"event": "promotion", "bracket": 0, "stage": 0, "kind": "jump", "time": 3}\n')
    assert demo.advisor_summary(tmp_path) == ("The advisor's records: 0 trials, 1 bracket "
                                              "(1 drawn as plain successive halving); "
                                              "0 successive-halving promotions, 1 jump.")
    (tmp_path / "hyperjump-audit.jsonl").write_text(
        '{"event": "header", "R": 9, "eta": 3, "plan": [[[9, 1], [3, 3], [1, 9]]], "time": 1, '
        '"class_args": {"exec_mode": "async"}}\n'
        '{"event": "promotion", "stage": 0, "to_stage": 2, "kind": "async_jump", "rule": "asha", "time": 3}\n'
        '{"event": "promotion", "stage": 1, "kind": "rung_stop", "discarded_config_ids": [4, 5], "time": 4}\n')
    assert demo.advisor_summary(tmp_path) == ("The advisor's records: 0 trials, 3 rungs; 0 promotions (0 by ASHA's "
                                              "top 1/eta, 0 challengers), 1 jump past rungs, 1 rung stop "
                                              "(2 configurations discarded).")
