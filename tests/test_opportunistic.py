"""Advisor side of pause-resume (parameter keys) and opportunistic evaluation (intermediate metrics)."""
import logging

from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.keys import RESUME_KEY
from hyperjump_advisor.trial import configuration_key
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}


def make(**class_args):
    advisor = build_offline(HyperJump, **dict({"R": 27, "eta": 3, "seed": 0, "exec_mode": "serial",
                                                "threshold": 0}, **class_args))
    advisor.process_command(C.Initialize, SPACE)
    return advisor


def new_trials(advisor):
    return [s.data for s in advisor.sent if s.name == "NewTrialJob"]


def test_every_trial_gets_one_bookkeeping_key_the_budget_its_configuration_can_resume_from():
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 27)
    first = new_trials(advisor)
    assert all(set(t["parameters"]) - set(SPACE) == {"TRIAL_BUDGET", RESUME_KEY} for t in first)
    keys = {configuration_key(t["parameters"]) for t in first}
    assert len(keys) == 27 and all(t["parameters"][RESUME_KEY] == 0 for t in first)
    for k, t in enumerate(first):
        advisor.process_command(C.ReportMetricData, metric_message(t["parameter_id"], f"j{k}", t["parameters"]["x"]))
        advisor.process_command(C.TrialEnd, trial_end_message(f"j{k}", "SUCCEEDED", t))
    advisor.process_command(C.RequestTrialJobs, 9)
    promoted = new_trials(advisor)[27:]
    assert len(promoted) == 9
    by_key = {configuration_key(t["parameters"]): t for t in first}
    for t in promoted:
        before = by_key[configuration_key(t["parameters"])]
        assert before["parameters"]["x"] == t["parameters"]["x"], "same key, same configuration"
        assert t["parameters"][RESUME_KEY] == 1 and t["parameters"]["TRIAL_BUDGET"] == 3


def test_pause_resume_off_sends_no_extra_keys():
    advisor = make(pause_resume=False)
    advisor.process_command(C.RequestTrialJobs, 1)
    assert set(new_trials(advisor)[0]["parameters"]) == {"x", "TRIAL_BUDGET"}


def intermediate(advisor, trial, job, value):
    advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, value, "PERIODICAL"))


def test_intermediate_metrics_at_schedule_budgets_become_observations():
    advisor = make(R=9)
    advisor.process_command(C.RequestTrialJobs, 20)
    # bracket 0 runs 9 configs at budget 1; fake a trial at budget 9 reporting epochs 1..9
    trial = new_trials(advisor)[0]
    trial_at_9 = advisor.engine.ledger.trials[trial["parameter_id"]]
    trial_at_9.slot.budget = 9
    for epoch in range(1, 10):
        intermediate(advisor, trial, "j0", {"default": 0.1 * epoch, "budget": epoch})
    config = trial_at_9.slot.config_id
    assert advisor.engine.evidence.observations == [(config, 1, -0.1), (config, 3, -0.30000000000000004)], \
        "budgets 1 and 3 are in the schedule; 2, 4..8 are not; 9 is the trial's own (its final metric)"
    assert advisor.engine.evidence.model.n_observations == 2


def test_intermediate_metrics_without_a_usable_budget_are_ignored_with_a_debug_log(caplog):
    advisor = make(R=9)
    advisor.process_command(C.RequestTrialJobs, 1)
    trial = new_trials(advisor)[0]
    with caplog.at_level(logging.DEBUG, logger="hyperjump_advisor"):
        for value in (0.5, {"default": 0.5}, {"default": 0.5, "budget": "three"}, {"default": 0.5, "budget": 2.5},
                      {"default": 0.5, "budget": 1}):   # 1 is the trial's own budget
            intermediate(advisor, trial, "j0", value)
    assert advisor.engine.evidence.observations == []
    assert caplog.text.count("names no smaller budget of the schedule") == 5


def test_opportunistic_off_learns_only_from_final_metrics():
    advisor = make(R=9, opportunistic=False)
    advisor.process_command(C.RequestTrialJobs, 1)
    trial = new_trials(advisor)[0]
    advisor.engine.ledger.trials[trial["parameter_id"]].slot.budget = 9
    intermediate(advisor, trial, "j0", {"default": 0.5, "budget": 3})
    assert advisor.engine.evidence.observations == []


def test_a_budget_a_configuration_already_measured_is_not_recorded_again():
    """A promoted trial passing budget 1 again (no pause-resume checkpoint) reports what is already known."""
    advisor = make()
    advisor.process_command(C.RequestTrialJobs, 27)
    first = new_trials(advisor)
    for k, t in enumerate(first):
        advisor.process_command(C.ReportMetricData, metric_message(t["parameter_id"], f"j{k}", t["parameters"]["x"]))
        advisor.process_command(C.TrialEnd, trial_end_message(f"j{k}", "SUCCEEDED", t))
    advisor.process_command(C.RequestTrialJobs, 1)
    promoted = new_trials(advisor)[27]
    before = list(advisor.engine.evidence.observations)
    advisor.process_command(C.ReportMetricData, metric_message(promoted["parameter_id"], "p", {"default": 0.123,
                                                                                             "budget": 1},
                                                               kind="PERIODICAL"))
    assert advisor.engine.evidence.observations == before, "budget 1 of this configuration was measured already"
