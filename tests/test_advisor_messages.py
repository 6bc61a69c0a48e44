"""Feed the advisor NNI commands and assert what it sends back."""
import json
import logging
import math

import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump, journal, stall_guard
from hyperjump_advisor.inprocess import build_offline, metric_message, tick, trial_end_message
from hyperjump_advisor.schedule import iteration_plan
from hyperjump_advisor.settings import ClassArgsError

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]},
         "opt": {"_type": "choice", "_value": ["sgd", "adam"]}}


def make(**class_args):
    """Plain Hyperband (threshold 0) unless a test asks for jumping."""
    args = {"R": 9, "eta": 3, "seed": 0, "exec_mode": "serial", "threshold": 0}
    args.update(class_args)
    advisor = build_offline(HyperJump, **args)
    advisor.process_command(C.Initialize, SPACE)
    return advisor


class FakeClock:
    """The advisor's clock, moved by hand."""

    def __init__(self, advisor, now=1000.0):
        self.now = now
        advisor.engine.clock = lambda: self.now


def new_trials(advisor):
    return [s.data for s in advisor.sent if s.name == "NewTrialJob"]


def succeed(advisor, trial, metric, job=None):
    job = job or f"job{trial['parameter_id']}"
    advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, metric))
    advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))


def test_initialize_answers_initialized_and_trials_have_nni_hyperband_shape():
    advisor = make()
    assert advisor.sent[0].name == "Initialized"
    advisor.process_command(C.RequestTrialJobs, 3)
    trials = new_trials(advisor)
    assert [t["parameter_id"] for t in trials] == [0, 1, 2]
    for t in trials:
        assert t["parameter_index"] == 0 and t["parameter_source"] == "algorithm"
        assert t["parameters"]["TRIAL_BUDGET"] == 1 and type(t["parameters"]["TRIAL_BUDGET"]) is int
        assert type(t["parameters"]["x"]) is float and t["parameters"]["opt"] in ("sgd", "adam")


def test_unused_requests_are_kept_as_credit_until_work_appears():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 20)
    first = new_trials(advisor)
    assert len(first) == 9, "serial: only the first stage of the first bracket exists"
    assert advisor.engine.credit == 11
    for t in first:
        succeed(advisor, t, t["parameters"]["x"])
    promoted = new_trials(advisor)[9:]
    best3 = sorted(first, key=lambda t: -t["parameters"]["x"])[:3]
    assert [p["parameters"]["x"] for p in promoted] == [b["parameters"]["x"] for b in best3]
    assert all(p["parameters"]["TRIAL_BUDGET"] == 3 for p in promoted)
    assert advisor.engine.credit == 8, "promotions were sent from credit without new requests"


def test_minimize_promotes_the_smallest_metric():
    advisor = make(optimize_mode="minimize")
    advisor.process_command(C.RequestTrialJobs, 9)
    first = new_trials(advisor)
    for t in first:
        succeed(advisor, t, t["parameters"]["x"])
    advisor.process_command(C.RequestTrialJobs, 3)
    promoted = sorted(p["parameters"]["x"] for p in new_trials(advisor)[9:])
    assert promoted == sorted(t["parameters"]["x"] for t in first)[:3]


@pytest.mark.parametrize("event", ["FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED", "SUCCEEDED"])
def test_a_trial_without_final_metric_is_the_worst_and_never_blocks(event):
    advisor = make()
    clock = FakeClock(advisor)
    advisor.process_command(C.RequestTrialJobs, 9)
    first = new_trials(advisor)
    broken = first[4]
    # give the broken one the best intermediate metric: it must still not be promoted
    advisor.process_command(C.ReportMetricData, metric_message(broken["parameter_id"], "jb", 0.99, "PERIODICAL"))
    advisor.process_command(C.TrialEnd, trial_end_message("jb", event, broken))
    for t in first[:4] + first[5:]:
        succeed(advisor, t, t["parameters"]["x"])
    if event == "SUCCEEDED":  # its FINAL may still come: the stage waits the grace, then goes on (a tick)
        advisor.process_command(C.RequestTrialJobs, 3)
        assert len(new_trials(advisor)) == 9, "a SUCCEEDED trial's FINAL can arrive after its TrialEnd"
        clock.now += stall_guard.FINAL_GRACE_SECONDS
        tick(advisor)  # the advisor's own clock: NNI 3.0 sends no Ping
    else:
        advisor.process_command(C.RequestTrialJobs, 3)
    promoted = new_trials(advisor)[9:]
    assert len(promoted) == 3, "the stage completed despite the broken trial"
    assert broken["parameters"]["x"] not in [p["parameters"]["x"] for p in promoted]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "accuracy", {"default": None}, {"loss": 0.5}, [0.5]])
def test_non_numeric_final_metrics_count_as_failed(value):
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    first = new_trials(advisor)
    succeed(advisor, first[0], value)
    slot = advisor.engine.ledger.trials[first[0]["parameter_id"]].slot
    assert slot.status.value == "FAILED"


def test_dict_metrics_use_the_default_key():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    t = new_trials(advisor)[0]
    succeed(advisor, t, {"default": 0.75, "loss": 3.0})
    assert advisor.engine.ledger.trials[t["parameter_id"]].slot.loss == -0.75


def test_final_metric_after_trial_end_is_still_used_while_the_stage_is_open():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    first = new_trials(advisor)
    late = first[0]
    advisor.process_command(C.TrialEnd, trial_end_message("late", "SUCCEEDED", late))
    advisor.process_command(C.ReportMetricData, metric_message(late["parameter_id"], "late", 2.0))
    for t in first[1:]:
        succeed(advisor, t, t["parameters"]["x"])  # all < 1 < 2.0
    advisor.process_command(C.RequestTrialJobs, 3)
    assert new_trials(advisor)[9]["parameters"]["x"] == late["parameters"]["x"]


def test_a_second_final_metric_and_a_second_trial_end_are_ignored():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    first = new_trials(advisor)
    succeed(advisor, first[0], 0.1)
    advisor.process_command(C.ReportMetricData, metric_message(first[0]["parameter_id"], "job0", 0.99))
    advisor.process_command(C.TrialEnd, trial_end_message("job0", "SUCCEEDED", first[0]))
    assert advisor.engine.ledger.trials[first[0]["parameter_id"]].slot.loss == -0.1


def test_trial_job_ids_map_to_parameters_through_metrics_not_hyper_params():
    """NNI issue 5726: a trial job can run another trial's parameters; its metrics say which."""
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    a, b = new_trials(advisor)[:2]
    # job A was announced with a's parameters but ran b's, and vice versa
    advisor.process_command(C.ReportMetricData, metric_message(b["parameter_id"], "A", 0.9))
    advisor.process_command(C.ReportMetricData, metric_message(a["parameter_id"], "B", 0.2, "PERIODICAL"))
    advisor.process_command(C.TrialEnd, trial_end_message("A", "SUCCEEDED", a))
    advisor.process_command(C.TrialEnd, trial_end_message("B", "FAILED", b))
    assert advisor.engine.ledger.trials[b["parameter_id"]].slot.loss == -0.9
    assert advisor.engine.ledger.trials[a["parameter_id"]].slot.status.value == "FAILED"


def test_a_swapped_job_that_fails_silently_never_stalls_its_stage():
    """Jobs A and B swapped parameters; B fails before reporting anything while others are silent too:
    nobody is charged by guess; the parameter no job ran is failed by the stall guard, and the stage goes on."""
    advisor = make()
    clock = FakeClock(advisor)
    advisor.process_command(C.RequestTrialJobs, 9)
    trials = new_trials(advisor)
    a, b = trials[:2]
    advisor.process_command(C.ReportMetricData, metric_message(b["parameter_id"], "A", 0.9))
    advisor.process_command(C.TrialEnd, trial_end_message("A", "SUCCEEDED", a))
    advisor.process_command(C.TrialEnd, trial_end_message("B", "FAILED", b))  # hyper_params say b: claimed by A
    for t in trials[2:]:
        assert advisor.engine.ledger.trials[t["parameter_id"]].slot.status.value == "RUNNING", "no guess charged"
    clock.now += 1.0
    for t in trials[2:]:
        succeed(advisor, t, 0.5)
    assert advisor.engine.ledger.trials[a["parameter_id"]].slot.status.value == "RUNNING"
    advisor.process_command(C.RequestTrialJobs, 3)
    assert len(new_trials(advisor)) == 9, "the stage waits: the parameter no job spoke for may still run"
    clock.now += stall_guard.MIN_LOST_SECONDS
    tick(advisor)  # the advisor's own clock: NNI 3.0 sends no Ping
    assert advisor.engine.ledger.trials[a["parameter_id"]].slot.status.value == "FAILED"
    assert len(new_trials(advisor)) == 12, "the stage completed and promoted"


def test_a_silent_end_is_charged_when_only_one_parameter_is_unaccounted_for():
    advisor = make(R=3)  # 3 trials in the first stage
    advisor.process_command(C.RequestTrialJobs, 9)
    a, b, c = new_trials(advisor)[:3]
    succeed(advisor, c, 0.3)
    advisor.process_command(C.ReportMetricData, metric_message(b["parameter_id"], "A", 0.9))
    advisor.process_command(C.TrialEnd, trial_end_message("A", "SUCCEEDED", a))
    advisor.process_command(C.TrialEnd, trial_end_message("B", "FAILED", b))  # ran a: the only one left
    assert advisor.engine.ledger.trials[a["parameter_id"]].slot.status.value == "FAILED"


def test_a_customized_trial_of_the_web_ui_never_ends_one_of_ours():
    """A trial added in the web UI runs with parameter_id null and was never announced to the advisor."""
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    ours = new_trials(advisor)
    custom = {"parameter_id": None, "parameter_source": "customized", "parameters": {"x": 0.5, "opt": "sgd"}}
    advisor.process_command(C.ReportMetricData, metric_message(None, "UI", 0.99))
    advisor.process_command(C.TrialEnd, trial_end_message("UI", "SUCCEEDED", custom))
    assert all(advisor.engine.ledger.trials[t["parameter_id"]].slot.status.value == "RUNNING" for t in ours)


def test_trial_end_whose_parameter_was_claimed_by_another_job_is_not_misattributed():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 9)
    a = new_trials(advisor)[0]
    advisor.process_command(C.ReportMetricData, metric_message(a["parameter_id"], "A", 0.5))
    advisor.process_command(C.TrialEnd, trial_end_message("X", "FAILED", a))  # X never reported
    assert advisor.engine.ledger.trials[a["parameter_id"]].slot.loss == -0.5


def test_an_invalid_search_space_update_keeps_the_previous_space():
    advisor = make()
    advisor.process_command(C.UpdateSearchSpace, {"x": {"_type": "uniform", "_value": [1, 0]}})
    assert not [s for s in advisor.sent if s.name == "Error"], "the experiment goes on"
    advisor.process_command(C.RequestTrialJobs, 2)
    assert [{"x", "opt"} <= set(t["parameters"]) for t in new_trials(advisor)] == [True, True]


def test_an_unusable_initial_search_space_is_reported_to_nni_and_raised():
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0)
    with pytest.raises(Exception):
        advisor.process_command(C.Initialize, {"x": {"_type": "uniform", "_value": [1, 0]}})
    errors = [s for s in advisor.sent if s.name == "Error"]
    assert len(errors) == 1 and '"x"' in errors[0].data and "Traceback" in errors[0].data
    first_line = errors[0].data.splitlines()[0]
    assert first_line.startswith("HyperJump failed while handling Initialize: SearchSpaceError: ") and '"x"' in first_line


@pytest.mark.parametrize("command, data", [
    (C.RequestTrialJobs, None), (C.RequestTrialJobs, "abc"), (C.RequestTrialJobs, -1),
    (C.ReportMetricData, "not a dict"), (C.ReportMetricData, [1, 2]),
    (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": ["x"], "type": "FINAL", "value": "0.5"}),
    (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": {"a": 1}, "type": "FINAL", "value": "0.5"}),
    (C.ReportMetricData, {"parameter_id": 0, "trial_job_id": "j", "type": "FINAL", "value": str(10 ** 400)}),
    (C.TrialEnd, "not a dict"), (C.TrialEnd, {"trial_job_id": ["x"], "event": "FAILED"}),
    (C.AddCustomizedTrialJob, "{not json"), (C.ImportData, "rows"),
    (C.ImportData, [{"parameter": {"x": 0.5, "opt": "sgd", "TRIAL_BUDGET": float("inf")}, "value": "0.5"},
                    {"parameter": {"x": 0.5, "opt": "sgd", "TRIAL_BUDGET": 81}, "value": "0.5"}]),
])
def test_hostile_payloads_are_ignored_and_never_raise(command, data):
    advisor = make()
    advisor.process_command(RequestTrialJobs := C.RequestTrialJobs, 1)
    advisor.process_command(command, data)
    assert not [s for s in advisor.sent if s.name == "Error"]
    advisor.process_command(RequestTrialJobs, 1)
    assert len(new_trials(advisor)) == 2, "the advisor goes on issuing work"
    assert advisor.engine.evidence.observations == [], "nothing unusable became an observation"


def test_a_failed_state_write_is_a_warning_and_the_next_command_writes_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    caplog.set_level(logging.WARNING, logger="hyperjump_advisor")
    advisor = make()
    def disk_full(*args):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(journal.Journal, "_append", disk_full)
        patch.setattr(journal.Journal, "_write_snapshot", disk_full)
        advisor.process_command(C.RequestTrialJobs, 2)
    assert len(new_trials(advisor)) == 2 and "cannot save the HyperJump state" in caplog.text
    advisor.process_command(C.RequestTrialJobs, 1)
    assert len(journal.load(str(tmp_path))["trials"]) == 3, "what failed to be written went out with the next write"


def test_bad_class_args_raise_a_named_error_and_report_it_to_nni():
    sent = []
    with pytest.raises(ClassArgsError, match="classArgs.eta"):
        build_offline(HyperJump, sent=sent, R=9, eta=1)
    assert [s.name for s in sent] == ["Error"] and "classArgs.eta" in sent[0].data


def test_all_commands_share_one_queue():
    advisor = make()
    advisor.enqueue_command(C.TrialEnd, {})
    advisor.enqueue_command(C.ReportMetricData, {"type": "PERIODICAL"})
    advisor.enqueue_command(C.ReportMetricData, {"type": "FINAL"})
    assert advisor.default_command_queue.qsize() == 3 and advisor.assessor_command_queue.qsize() == 0


def test_budgets_follow_the_plan_over_a_whole_iteration():
    advisor = make(R=27, exec_mode="serial")
    advisor.process_command(C.RequestTrialJobs, 1)
    plan = iteration_plan(27, 3)
    total = sum(st.n for bracket in plan for st in bracket)
    for k in range(total):
        t = new_trials(advisor)[k]
        succeed(advisor, t, t["parameters"]["x"])
        advisor.process_command(C.RequestTrialJobs, 1)
    budgets = [t["parameters"]["TRIAL_BUDGET"] for t in new_trials(advisor)[:total]]
    assert budgets == [st.budget for bracket in plan for st in bracket for _ in range(st.n)]
    best = max(t["parameters"]["x"] for t in new_trials(advisor)[:total] if t["parameters"]["TRIAL_BUDGET"] == 27)
    assert math.isclose(-advisor.engine.evidence.incumbent[0], best)


def test_after_ten_failed_trials_in_a_row_the_experiment_stops_and_says_why():
    advisor = make(max_consecutive_failures=10)
    advisor.process_command(C.RequestTrialJobs, 9)
    for k in range(9):
        t = new_trials(advisor)[k]
        advisor.process_command(C.ReportMetricData, metric_message(t["parameter_id"], f"j{k}", {"loss": 0.3}))
        advisor.process_command(C.TrialEnd, trial_end_message(f"j{k}", "SUCCEEDED", t))
        advisor.process_command(C.RequestTrialJobs, 1)
    assert not [s for s in advisor.sent if s.name == "Error"]
    t = new_trials(advisor)[9]
    advisor.process_command(C.TrialEnd, trial_end_message("j9", "FAILED", t))
    (error,) = [s for s in advisor.sent if s.name == "Error"]
    assert "10 trials in a row" in error.data and "trial j0" in error.data and "'default'" in error.data
    assert advisor.sent[-2].name == "NoMoreTrialJobs"
    issued = len(new_trials(advisor))
    advisor.process_command(C.RequestTrialJobs, 5)
    assert len(new_trials(advisor)) == issued, "no more work after the stop"


def test_a_usable_result_resets_the_failure_count():
    advisor = make(max_consecutive_failures=3)
    advisor.process_command(C.RequestTrialJobs, 9)
    trials = new_trials(advisor)
    for k, t in enumerate(trials[:5]):
        if k == 2:
            succeed(advisor, t, 0.5)
        else:
            advisor.process_command(C.TrialEnd, trial_end_message(f"j{k}", "FAILED", t))
    assert not [s for s in advisor.sent if s.name == "Error"]
