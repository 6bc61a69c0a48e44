"""Regression tests of issue "Nothing a trial, a user, NNI or the disk does may end, stall or corrupt an
experiment": each defect found there, by the behaviour that must hold now.

Others live beside the code they concern: hostile payloads, invalid search-space updates, a full disk,
5726 swaps and customized trials in test_advisor_messages.py; spaces in test_searchspace.py; metric
parsing in test_metrics.py.
"""
import copy
import json
import logging
import math

import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump, journal
from hyperjump_advisor.inprocess import build_offline, metric_message, tick, trial_end_message
from hyperjump_advisor.persistence import STATE_FILE

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}, "y": {"_type": "choice", "_value": [1, 2, 4]}}


def new_trials(advisor):
    return [s.data for s in advisor.sent if s.name == "NewTrialJob"]


def report(advisor, trial, value, job=None, end=True):
    job = job or f"job{trial['parameter_id']}"
    advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, value))
    if end:
        advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))


def drive(advisor, values, space=SPACE):
    """Initialize, then one trial at a time: each gets the next value (a callable of its parameters)."""
    advisor.process_command(C.Initialize, space)
    advisor.process_command(C.RequestTrialJobs, 1)
    for k, value in enumerate(values):
        trial = new_trials(advisor)[k]
        report(advisor, trial, value(trial["parameters"]) if callable(value) else value)
        advisor.process_command(C.RequestTrialJobs, 1)
    return advisor


@pytest.mark.parametrize("huge", [1e200, 1e308, -1e308])
def test_a_diverged_metric_never_ends_the_experiment(huge):
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, optimize_mode="minimize", exec_mode="serial")
    values = [lambda p: p["x"]] * 3 + [huge] + [lambda p: p["x"]] * 30
    drive(advisor, values)
    assert not [s for s in advisor.sent if s.name == "Error"]
    assert len(new_trials(advisor)) == len(values) + 1, "it goes on issuing work"
    assert any(b.jumped for b in advisor.engine.scheduler.brackets) or advisor.engine.evidence.model.ready


@pytest.mark.parametrize("space", [
    {"q": {"_type": "qlognormal", "_value": [2, 0.5, 10]}},          # rounds to 0 for about 22% of draws
    {"u": {"_type": "uniform", "_value": [-1e308, 1e308]}},
    {"l": {"_type": "lognormal", "_value": [-800, 1]}},
    {"b": {"_type": "qlognormal", "_value": [700, 10, 1]}},
])
def test_spaces_nni_accepts_run_from_the_first_request(space):
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, exec_mode="serial")
    drive(advisor, [0.5] * 12, space=space)
    assert len(new_trials(advisor)) == 13 and not [s for s in advisor.sent if s.name == "Error"]


def test_a_choice_with_nan_is_refused_at_initialize_naming_the_key():
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0)
    with pytest.raises(Exception, match='"c"'):
        advisor.process_command(C.Initialize, {"c": {"_type": "choice", "_value": [float("nan"), 1.0]}})


@pytest.mark.parametrize("R", [10_000, 100_000])
@pytest.mark.parametrize("exec_mode", ["parallelism", "async"])
def test_a_huge_R_starts_at_once_and_stays_responsive(R, exec_mode):
    advisor = build_offline(HyperJump, R=R, eta=3, seed=0, exec_mode=exec_mode)
    advisor.process_command(C.Initialize, {"x": {"_type": "uniform", "_value": [0, 1]}})
    advisor.process_command(C.RequestTrialJobs, 8)
    for k, trial in enumerate(new_trials(advisor)[:7]):
        report(advisor, trial, trial["parameters"]["x"])
        advisor.process_command(C.RequestTrialJobs, 1)
    if exec_mode == "parallelism":
        bracket = advisor.engine.scheduler.brackets[0]
        assert len(bracket.current) > 729 and not bracket.jumped, "a huge stage runs as Hyperband runs it"
    else:
        assert new_trials(advisor)[0]["parameters"]["TRIAL_BUDGET"] == R, "async's first start is at R"
    assert len(new_trials(advisor)) == 15


def test_a_periodical_budget_too_large_for_a_float_is_ignored():
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0)
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 1)
    trial = new_trials(advisor)[0]
    advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], "j", {"default": 0.5,
                                                                                           "budget": 10 ** 400},
                                                               kind="PERIODICAL"))
    assert advisor.engine.evidence.observations == []


def test_a_final_metric_after_the_trial_end_of_a_stage_s_last_trial_is_promoted(monkeypatch):
    """NNI delivers FINAL and TrialEnd apart; the stage must not promote without the late FINAL."""
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, exec_mode="serial", threshold=0)
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 9)
    first = new_trials(advisor)
    for t in first[:8]:
        report(advisor, t, 0.1)
    last = first[8]
    advisor.process_command(C.TrialEnd, trial_end_message("late", "SUCCEEDED", last))
    advisor.process_command(C.RequestTrialJobs, 1)
    advisor.process_command(C.ReportMetricData, metric_message(last["parameter_id"], "late", 0.9))
    promoted = [t["parameters"]["x"] for t in new_trials(advisor)[9:]]
    assert last["parameters"]["x"] in promoted, "the best result of the stage moved up"


# ---- resume -------------------------------------------------------------------------------------
ARGS = {"R": 9, "eta": 3, "seed": 0, "exec_mode": "serial", "threshold": 0.1, "p_no_jump": 1.0}


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    return tmp_path


def half_a_stage():
    advisor = build_offline(HyperJump, **ARGS)
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 3)
    return advisor


def test_results_lost_at_a_stop_come_back_from_import_data_and_fill_their_slots(checkpoint):
    """nnictl stop dropped a trial's queued FINAL and TrialEnd; NNI's database has it SUCCEEDED, so it is not
    re-run, and its result comes back only in IMPORT_DATA."""
    before = half_a_stage()
    running = new_trials(before)
    after = build_offline(HyperJump, **ARGS)
    after.load_checkpoint()
    after.process_command(C.Initialize, SPACE)
    lost = running[0]
    after.process_command(C.ImportData, [{"parameter": lost["parameters"], "value": json.dumps(0.7)}])
    trial = after.engine.ledger.trials[lost["parameter_id"]]
    assert trial.slot.status.value == "DONE" and trial.slot.loss == -0.7
    assert after.engine.evidence.observations == [(trial.slot.config_id, 1, -0.7)]


def corruptions(document):
    """Ways a state file goes bad that still parse as JSON, plus truncations."""
    out = []

    def mutate(fn):
        d = copy.deepcopy(document)
        fn(d)
        out.append(json.dumps(d))
    for key in list(document):
        mutate(lambda d, k=key: d.pop(k))
        mutate(lambda d, k=key: d.__setitem__(k, None))
        mutate(lambda d, k=key: d.__setitem__(k, "x"))
    mutate(lambda d: d.__setitem__("next_parameter_id", 0))
    mutate(lambda d: d.__setitem__("next_parameter_id", -5))
    mutate(lambda d: d["trials"].append(list(d["trials"][0])))
    mutate(lambda d: d["trials"][0].__setitem__(0, 10 ** 6))
    mutate(lambda d: d["trials"][0].__setitem__(3, 999))
    mutate(lambda d: d["brackets"][0].__setitem__("bracket_id", 3))
    mutate(lambda d: d["brackets"][0].__setitem__("stage", 9))
    mutate(lambda d: d["brackets"][0]["slots"][0][0].__setitem__(0, 999))
    mutate(lambda d: d["brackets"][0]["slots"][0][0].__setitem__(1, "BOGUS"))
    mutate(lambda d: d["brackets"][0]["slots"][0][0].__setitem__(1, "DONE"))
    mutate(lambda d: d["brackets"][0]["plan"].__setitem__(0, [1, 1]))
    mutate(lambda d: d["observations"].append([999, 1, 0.5]))
    mutate(lambda d: d["observations"].append([0, 10 ** 6, 0.5]))
    mutate(lambda d: d.__setitem__("incumbent", [0.1, 999]))
    mutate(lambda d: d.__setitem__("rng", {"bit_generator": "PCG64", "state": "no"}))
    mutate(lambda d: d.__setitem__("configs", [1, 2, 3]))
    text = json.dumps(document)
    out += [text[:n] for n in (1, len(text) // 3, len(text) // 2, len(text) - 2)]
    return out


def test_a_corrupt_state_file_never_crashes_nor_reuses_parameter_ids(checkpoint, caplog):
    caplog.set_level(logging.WARNING, logger="hyperjump_advisor")
    before = half_a_stage()
    for k, t in enumerate(new_trials(before)[:2]):
        report(before, t, 0.5)
    document = journal.load(str(checkpoint))
    (checkpoint / journal.JOURNAL_FILE).unlink()
    used = {t["parameter_id"] for t in new_trials(before)}
    cases = corruptions(document)
    assert len(cases) >= 38
    for text in cases:
        (checkpoint / STATE_FILE).write_text(text)
        (checkpoint / journal.JOURNAL_FILE).unlink(missing_ok=True)
        caplog.clear()
        after = build_offline(HyperJump, **ARGS)
        after.load_checkpoint()
        after.process_command(C.Initialize, SPACE)
        after.process_command(C.RequestTrialJobs, 3)
        for t in new_trials(after):
            report(after, t, 0.25)
            after.process_command(C.RequestTrialJobs, 1)
        assert not [s for s in after.sent if s.name == "Error"], text[:200]
        fresh = {t["parameter_id"] for t in new_trials(after)}
        if after.restored:
            assert fresh.isdisjoint(used), f"a restored state reused parameter ids: {text[:200]}"
        else:
            assert "starting afresh" in caplog.text


def test_a_parameter_no_job_runs_at_a_budget_nobody_finished_yet_is_resolved_from_smaller_budgets():
    """Two jobs ran the same parameters (5726) in the first full-budget stage: the other one never runs."""
    from hyperjump_advisor import stall_guard

    assert stall_guard.expected_run(9, {1: 10.0, 3: 20.0}) == 90.0  # the more cautious of the two
    assert stall_guard.expected_run(1, {3: 20.0, 9: 50.0}) == 20.0  # only larger budgets ran: the nearest, as it is
    assert stall_guard.expected_run(1, {}) is None
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, exec_mode="serial", threshold=0)
    now = [1000.0]
    advisor.engine.clock = lambda: now[0]
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 9)
    for t in new_trials(advisor)[:9]:
        now[0] += 10
        report(advisor, t, t["parameters"]["x"])
    advisor.process_command(C.RequestTrialJobs, 3)
    stage1 = new_trials(advisor)[9:12]
    report(advisor, stage1[0], 0.5, job="A")
    report(advisor, stage1[1], 0.5, job="A2")
    advisor.process_command(C.ReportMetricData, metric_message(stage1[1]["parameter_id"], "B", 0.6))  # B ran it too
    advisor.process_command(C.TrialEnd, trial_end_message("B", "SUCCEEDED", stage1[2]))
    lost = advisor.engine.ledger.trials[stage1[2]["parameter_id"]]
    assert lost.slot.status.value == "RUNNING" and lost.slot.budget == 3
    now[0] += stall_guard.LOST_FACTOR * 3 * 90 + 1
    tick(advisor)  # the advisor's own clock: NNI 3.0 sends no Ping
    assert lost.slot.status.value == "FAILED", "resolved with the budget-1 runs scaled to budget 3"


def test_a_job_that_ended_is_never_killed_and_a_parameter_it_left_behind_is_resolved():
    """Job J reported parameter a, then parameter b (NNI mixed it up), and ended: a has no live job."""
    from hyperjump_advisor import stall_guard

    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, exec_mode="serial", threshold=0)
    now = [1000.0]
    advisor.engine.clock = lambda: now[0]
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 9)
    a, b = new_trials(advisor)[:2]
    advisor.process_command(C.ReportMetricData, metric_message(a["parameter_id"], "J", 0.3, kind="PERIODICAL"))
    report(advisor, b, 0.5, job="J")
    for t in new_trials(advisor)[2:9]:
        now[0] += 10
        report(advisor, t, 0.4)
    trial_a = advisor.engine.ledger.trials[a["parameter_id"]]
    assert trial_a.trial_job_id == "J" and trial_a.slot.status.value == "RUNNING"
    now[0] += stall_guard.MIN_LOST_SECONDS + stall_guard.LOST_FACTOR * 80
    tick(advisor)  # the advisor's own clock: NNI 3.0 sends no Ping
    assert trial_a.slot.status.value == "FAILED", "the job that spoke for it ended on another parameter"
    assert not [s for s in advisor.sent if s.name == "KillTrialJob"], "no kill for a job that ended"


def test_a_trial_killed_before_its_job_was_known_is_recorded_with_its_job_and_what_it_reported():
    """A jump can drop a running trial before any metric named its job (found by the nasbench e2e test: the
    trial's record kept an empty job id, and the result it reported after the kill never reached the record)."""
    from hyperjump_advisor.schedule import SlotStatus

    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, optimize_mode="minimize", exec_mode="parallelism")
    rows = []
    advisor.engine._trial_record = rows.append
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 3)
    finished, silent = new_trials(advisor)[:2]
    for trial in (finished, silent):
        slot = advisor.engine.ledger.trials[trial["parameter_id"]].slot
        slot.status = SlotStatus.SKIPPED                    # what a jump does to the stage it skips
        advisor.engine._kill([slot])
    assert not [s for s in advisor.sent if s.name == "KillTrialJob"], "no job is known yet"
    report(advisor, finished, 0.25, job="JF")               # it finished before the kill could reach it
    advisor.process_command(C.TrialEnd, trial_end_message("JS", "USER_CANCELED", silent))

    def last_row(trial):
        return [r for r in rows if r["parameter_id"] == trial["parameter_id"]][-1]
    assert (last_row(finished)["trial_job_id"], last_row(finished)["killed"], last_row(finished)["metric"]) \
        == ("JF", 1, 0.25)
    assert (last_row(silent)["trial_job_id"], last_row(silent)["killed"], last_row(silent)["metric"]) \
        == ("JS", 1, None)
    assert [s.data for s in advisor.sent if s.name == "KillTrialJob"] == ["JF"]
