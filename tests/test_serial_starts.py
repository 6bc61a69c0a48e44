"""serial_starts: one trial at a time waits for its parameters in NNI's local training service (issue 5726)."""
import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.settings import ClassArgsError, parse_class_args

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}


def make(**class_args):
    args = {"R": 9, "eta": 3, "seed": 0, "threshold": 0, "serial_starts": True}
    args.update(class_args)
    advisor = build_offline(HyperJump, **args)
    advisor.process_command(C.Initialize, SPACE)
    return advisor


def sent_ids(advisor):
    return [s.data["parameter_id"] for s in advisor.sent if s.name == "NewTrialJob"]


def intermediate(parameter_id, job):
    return metric_message(parameter_id, job, {"default": 0.5, "budget": 1}, kind="PERIODICAL")


def test_the_next_trial_is_sent_once_the_previous_one_names_its_job():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 4)
    assert sent_ids(advisor) == [0]
    advisor.process_command(C.ReportMetricData, intermediate(0, "jobA"))
    assert sent_ids(advisor) == [0, 1]
    advisor.process_command(C.ReportMetricData, intermediate(0, "jobA"))  # same job again: no new trial
    assert sent_ids(advisor) == [0, 1]
    advisor.process_command(C.ReportMetricData, metric_message(1, "jobB", 0.7))  # a FINAL names jobB
    assert sent_ids(advisor) == [0, 1, 2]
    # a trial that ends without any metric releases the next one too
    advisor.process_command(C.TrialEnd, trial_end_message("jobC", "FAILED",
                                                          {"parameter_id": 2, "parameters": {}}))
    assert sent_ids(advisor) == [0, 1, 2, 3]
    assert advisor.engine.credit == 0


def test_without_serial_starts_all_credit_is_spent_at_once():
    advisor = make(serial_starts=False)
    advisor.process_command(C.RequestTrialJobs, 4)
    assert sent_ids(advisor) == [0, 1, 2, 3]


def test_serial_starts_is_on_by_default_and_turning_it_off_says_what_is_lost(caplog):
    assert parse_class_args().serial_starts is True
    with caplog.at_level("WARNING", logger="hyperjump_advisor"):
        make(serial_starts=False)
    warning = next(r.getMessage() for r in caplog.records if "serial_starts" in r.getMessage())
    assert "issue 5726" in warning and "another trial's parameters" in warning and "hyperjump-results" in warning
    caplog.clear()
    with caplog.at_level("WARNING", logger="hyperjump_advisor"):
        build_offline(HyperJump, R=9, eta=3, seed=0)
    assert not any("serial_starts" in r.getMessage() for r in caplog.records)


def test_serial_starts_is_a_boolean_class_arg():
    with pytest.raises(ClassArgsError, match="serial_starts"):
        parse_class_args(serial_starts="yes")
