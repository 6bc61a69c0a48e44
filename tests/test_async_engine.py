"""exec_mode async through the advisor: credit, pause-resume keys, resume round trip, replay smoke and determinism."""
import json

import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump, id_block, persistence
from hyperjump_advisor.async_schedule import AsyncScheduler
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.keys import RESUME_KEY
from hyperjump_advisor.persistence import STATE_FILE
from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.faults import Faults
from hyperjump_advisor.replay.simulator import SimConfig, Simulator
from hyperjump_advisor.replay.table_csv import load_generic, write_generic
from hyperjump_advisor.replay.tables import resolve_R_eta
from hyperjump_advisor.settings import ClassArgsError, parse_class_args

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}, "y": {"_type": "choice", "_value": ["a", "b"]}}
ARGS = {"R": 9, "eta": 3, "seed": 0, "exec_mode": "async", "threshold": 0.1}


def new_trials(advisor):
    return [s.data for s in advisor.sent if s.name == "NewTrialJob"]


def finish(advisor, trial, job):
    advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, trial["parameters"]["x"]))
    advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))


def started(**overrides):
    advisor = build_offline(HyperJump, **dict(ARGS, **overrides))
    advisor.process_command(C.Initialize, SPACE)
    return advisor


def test_async_is_an_exec_mode_and_builds_the_async_scheduler():
    assert parse_class_args(exec_mode="async").exec_mode == "async"
    with pytest.raises(ClassArgsError, match="serial, parallelism, async"):
        parse_class_args(exec_mode="asha")
    assert isinstance(started().engine.scheduler, AsyncScheduler)


def test_never_more_trials_than_requested():
    advisor = started()
    advisor.process_command(C.RequestTrialJobs, 5)
    assert len(new_trials(advisor)) == 5
    for k, trial in enumerate(new_trials(advisor)[:3]):      # results make promotions possible, not credit
        finish(advisor, trial, f"j{k}")
    assert len(new_trials(advisor)) == 5
    advisor.process_command(C.RequestTrialJobs, 2)
    assert len(new_trials(advisor)) == 7


def test_a_promoted_configuration_resumes_from_its_largest_completed_budget():
    advisor = started(threshold=0)
    advisor.process_command(C.RequestTrialJobs, 1)
    completed, promotions = {}, 0
    for k in range(40):
        trial = new_trials(advisor)[-1]
        params = trial["parameters"]
        config = json.dumps({n: params[n] for n in SPACE}, sort_keys=True)
        assert params[RESUME_KEY] == completed.get(config, 0)
        promotions += config in completed
        finish(advisor, trial, f"j{k}")
        completed[config] = params["TRIAL_BUDGET"]
        advisor.process_command(C.RequestTrialJobs, 1)
    assert promotions > 0


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    return tmp_path


def test_resume_round_trip_continues_the_same_rungs(checkpoint):
    # trial durations come from a clock; a fixed one keeps learned_brackets' choices the same in both runs
    # (a trial running across the resume is not measured after it; the durations' own round trip is below)
    before = build_offline(HyperJump, **ARGS)
    before.use_trial_clock(lambda: 0.0)
    before.process_command(C.Initialize, SPACE)
    before.process_command(C.RequestTrialJobs, 2)
    k = 0
    while len(new_trials(before)) < 14:
        finish(before, new_trials(before)[k], f"old{k}")
        before.process_command(C.RequestTrialJobs, 1)
        k += 1
    saved = json.loads((checkpoint / STATE_FILE).read_text())
    assert "async_rungs" in saved and saved["brackets"] == []
    after = build_offline(HyperJump, **ARGS)
    after.use_trial_clock(lambda: 0.0)
    after.load_checkpoint()
    after.process_command(C.Initialize, SPACE)
    assert after.restored
    restored, saved_document = persistence.document(after.engine), persistence.document(before.engine)
    assert restored.pop("next_parameter_id") == id_block.BLOCK, "ids continue past the block reserved before"
    saved_document.pop("next_parameter_id")
    assert restored == saved_document
    running = [t for t in new_trials(before) if not before.engine.ledger.trials[t["parameter_id"]].ended]
    assert len(running) == 2
    after.process_command(C.AddCustomizedTrialJob, [dict(t, parameter_source="resumed") for t in running])
    for j, trial in enumerate(running):                          # re-run trials report under new jobs
        finish(after, trial, f"new{j}")
    after.process_command(C.RequestTrialJobs, 1)
    new = new_trials(after)
    assert [t["parameter_id"] for t in new] == [id_block.BLOCK], "parameter ids continue past the reserved block"
    # continuing after the resume is the same as never having stopped
    for j, trial in enumerate(running):
        finish(before, trial, f"new{j}")
    before.process_command(C.RequestTrialJobs, 1)
    assert new_trials(before)[-1]["parameters"] == new[0]["parameters"]


def test_measured_trial_seconds_survive_a_resume(checkpoint):
    now = [0.0]
    before = build_offline(HyperJump, **ARGS)
    before.use_trial_clock(lambda: now[0])
    before.process_command(C.Initialize, SPACE)
    before.process_command(C.RequestTrialJobs, 3)
    for k in range(12):
        trial = new_trials(before)[k]
        now[0] += 7.0 * trial["parameters"]["TRIAL_BUDGET"]
        finish(before, trial, f"j{k}")
        before.process_command(C.RequestTrialJobs, 1)
    measured = {key: sorted(v) for key, v in before.engine.diagnostics.state.seconds.items()}
    assert sum(len(v) for v in measured.values()) == 12
    after = build_offline(HyperJump, **ARGS)
    after.load_checkpoint()
    after.process_command(C.Initialize, SPACE)
    assert after.restored
    assert {key: sorted(v) for key, v in after.engine.diagnostics.state.seconds.items()} == measured
    chooser = before.engine.scheduler.choose_bracket
    assert chooser is not None and after.engine.scheduler.choose_bracket.seconds() == chooser.seconds()


def test_the_journal_replays_to_exactly_the_live_async_state_after_every_command(checkpoint):
    from hyperjump_advisor import journal
    advisor = started()
    advisor.process_command(C.RequestTrialJobs, 3)
    for k in range(40):
        trial = new_trials(advisor)[k]
        if k % 7 == 3:
            advisor.process_command(C.TrialEnd, trial_end_message(f"j{k}", "FAILED", trial))
        else:
            finish(advisor, trial, f"j{k}")
        advisor.process_command(C.RequestTrialJobs, 1)
        stored = journal.load(str(checkpoint))
        stored.pop("journal_seq")
        assert stored == json.loads(json.dumps(persistence.document(advisor.engine))), f"after trial {k}"
    assert (checkpoint / journal.JOURNAL_FILE).stat().st_size > 0, "the journal was used, not only snapshots"


def test_a_synchronous_state_keeps_its_format_and_is_not_read_as_async(checkpoint):
    sync = started(exec_mode="parallelism")
    sync.process_command(C.RequestTrialJobs, 2)
    assert "async_rungs" not in json.loads((checkpoint / STATE_FILE).read_text())
    advisor = build_offline(HyperJump, **ARGS)
    advisor.load_checkpoint()
    assert not advisor.restored, "a synchronous state cannot continue as async rungs: a clean start"


# ---- replay on a tiny generic table ---------------------------------------------------------------------------
LEVELS = [1, 3, 9]


@pytest.fixture
def table(tmp_path):
    records = []
    for x in range(8):
        for y in "abc":
            for i, b in enumerate(LEVELS):
                loss = 0.1 + 0.08 * abs(x - 5) + 0.05 * "abc".index(y) + 0.3 / (i + 1)
                records.append({"x": x, "y": y, "budget": b, "loss": loss, "time": b * (1 + x % 3)})
    path = tmp_path / "tiny.csv"
    write_generic(path, ["x", "y"], records)
    return load_generic(path)


def replay(table, name, seed, workers, faults=Faults()):
    bm = resolve_R_eta(table)
    advisor = advisors.get(name).build(R=bm.R, eta=bm.eta, seed=seed)
    return Simulator(advisor, table, bm, SimConfig(workers=workers, time_limit=400.0, faults=faults)).run()


@pytest.mark.parametrize("name", ["hyperjump", "hyperjump:threshold=0"])
@pytest.mark.parametrize("workers", [1, 4])
def test_replay_smoke(table, name, workers):
    run = replay(table, name, 0, workers)
    assert run["error"] is None and run["end_reason"] == "time_limit" and not run["advisor_errors"]
    assert run["incumbent"], "a full-budget result comes"
    assert run["queued_trials"] == 0, "never more trials than workers asked for"
    budgets = {t["trial_budget"] for t in run["trials"]}
    assert budgets <= set(LEVELS) and 9 in budgets
    assert any(t.get("resumed_from") is not None for t in run["trials"]), "promotions resume from checkpoints"


def test_replay_is_deterministic_per_seed_and_survives_faults(table):
    faults = Faults(fail=0.1, cancel=0.05, duplicate_final=0.05, final_after_end=0.1, seed=3)
    a, b = (replay(table, "hyperjump", 7, 3, faults) for _ in range(2))
    assert a["error"] is None and a["queued_trials"] == 0
    strip = lambda run: [{k: v for k, v in t.items()} for t in run["trials"]]  # noqa: E731
    assert strip(a) == strip(b) and a["incumbent"] == b["incumbent"]
    c = replay(table, "hyperjump", 8, 3, faults)
    assert strip(c) != strip(a)
