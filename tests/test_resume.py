"""State that survives nnictl resume: round trip, NNI's resume messages, broken state files."""
import json
import logging
import os

import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor import id_block, journal, persistence
from hyperjump_advisor.persistence import STATE_FILE

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}
ARGS = {"R": 9, "eta": 3, "seed": 0, "exec_mode": "serial", "threshold": 0.1, "p_no_jump": 1.0}


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    return tmp_path


def new_trials(advisor):
    return [s.data for s in advisor.sent if s.name == "NewTrialJob"]


def finish(advisor, trial, job):
    advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, trial["parameters"]["x"]))
    advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))


def half_a_bracket():
    """Stage 0 (9 configs) done, stage 1 running two of its three trials."""
    advisor = build_offline(HyperJump, **ARGS)
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 2)
    k = 0
    while len(new_trials(advisor)) < 11:
        finish(advisor, new_trials(advisor)[k], f"old{k}")
        advisor.process_command(C.RequestTrialJobs, 1)
        k += 1
    return advisor, k


def resumed():
    advisor = build_offline(HyperJump, **ARGS)
    advisor.load_checkpoint()
    advisor.process_command(C.Initialize, SPACE)
    return advisor


def test_the_state_is_written_after_every_command(checkpoint):
    advisor, _ = half_a_bracket()
    document = journal.load(str(checkpoint))  # the snapshot and the journal of what changed since
    assert document["next_parameter_id"] == 11 and len(document["trials"]) == 11
    assert document == json.loads(json.dumps(persistence.document(advisor.engine) | {"journal_seq": 1}))
    assert [b["stage"] for b in document["brackets"]] == [1]
    assert not list(checkpoint.glob(".hyperjump-state-*")), "no temporary file left behind"


def test_resume_continues_the_same_bracket_and_stage_without_repeating_work(checkpoint):
    before, finished = half_a_bracket()
    sent_before = new_trials(before)
    running = [t for t in sent_before if not before.engine.ledger.trials[t["parameter_id"]].ended]
    assert len(running) == 2

    after = resumed()
    assert after.restored and after.engine.scheduler.brackets[0].stage == 1
    # NNI's resume: finished trials as IMPORT_DATA (pairing may be wrong), running ones re-run under their ids
    after.process_command(C.ImportData, [{"parameter": {"x": 0.5, "TRIAL_BUDGET": 1}, "value": "0.9"}])
    after.process_command(C.AddCustomizedTrialJob, [dict(t, parameter_source="resumed") for t in running])
    after.process_command(C.RequestTrialJobs, 2)
    new = new_trials(after)
    assert len(new) == 1, "only the third trial of stage 1 is new"
    assert new[0]["parameter_id"] == id_block.BLOCK, "ids continue past the block reserved before the stop"
    done = {(t["parameters"]["x"], t["parameters"]["TRIAL_BUDGET"]) for t in sent_before[:finished]}
    assert (new[0]["parameters"]["x"], new[0]["parameters"]["TRIAL_BUDGET"]) not in done
    assert new[0]["parameters"]["TRIAL_BUDGET"] == 3
    # the re-run trials report under new job ids; the stage completes and the bracket goes on
    for k, trial in enumerate(running + new):
        finish(after, trial, f"new{k}")
    after.process_command(C.RequestTrialJobs, 1)
    last = new_trials(after)[-1]
    assert last["parameters"]["TRIAL_BUDGET"] == 9 and last["parameter_id"] == id_block.BLOCK + 1
    assert after.engine.evidence.observations[:finished] == before.engine.evidence.observations[:finished]
    assert after.engine.evidence.model.n_observations == len(after.engine.evidence.observations), "the model relearns every result"


def test_a_silent_failure_of_a_re_run_trial_does_not_stall(checkpoint):
    before, _ = half_a_bracket()
    running = [t for t in new_trials(before) if not before.engine.ledger.trials[t["parameter_id"]].ended]
    after = resumed()
    after.process_command(C.RequestTrialJobs, 2)
    for k, trial in enumerate(running):
        after.process_command(C.TrialEnd, trial_end_message(f"again{k}", "FAILED", trial))
    finish(after, new_trials(after)[0], "third")
    assert after.engine.scheduler.brackets[0].stage == 2


@pytest.mark.parametrize("content", ["{not json", json.dumps({"version": 99}), json.dumps({"version": 1})])
def test_a_corrupt_state_file_warns_and_starts_afresh(checkpoint, caplog, content):
    (checkpoint / STATE_FILE).write_text(content)
    with caplog.at_level(logging.WARNING, logger="hyperjump_advisor"):
        advisor = resumed()
    assert "starting afresh" in caplog.text and not advisor.restored
    advisor.process_command(C.RequestTrialJobs, 1)
    assert new_trials(advisor)[0]["parameter_id"] == 0


def test_a_missing_state_file_warns_and_imported_results_only_teach_the_model(checkpoint, caplog):
    with caplog.at_level(logging.WARNING, logger="hyperjump_advisor"):
        advisor = resumed()
    assert "no HyperJump state" in caplog.text
    advisor.process_command(C.ImportData, [{"parameter": {"x": 0.25, "TRIAL_BUDGET": 3, "HYPERJUMP_RESUME_FROM": 1,
                                                          "HYPERJUMP_CONFIG_KEY": "c0-abc"}, "value": 0.8},
                                           {"parameter": {"x": 2.0, "TRIAL_BUDGET": 1}, "value": "bad"}])
    assert advisor.engine.evidence.observations == [(0, 3, -0.8)] and advisor.engine.searcher.configs == [{"x": 0.25}]
    assert advisor.engine.scheduler.brackets == []


def test_state_of_another_schedule_is_refused(checkpoint, caplog):
    half_a_bracket()
    advisor = build_offline(HyperJump, **dict(ARGS, R=27))
    with caplog.at_level(logging.WARNING, logger="hyperjump_advisor"):
        advisor.load_checkpoint()
    assert "classArgs.R=9" in caplog.text and not advisor.restored


def test_the_journal_keeps_the_bytes_written_per_command_bounded(checkpoint):
    """Each command appends what it changed; the snapshot is rewritten only when the journal outgrows it."""
    advisor, _ = half_a_bracket()
    snapshot = (checkpoint / STATE_FILE).stat().st_size
    lines = (checkpoint / journal.JOURNAL_FILE).read_text().splitlines()
    assert len(lines) > 20 and max(len(line) for line in lines) < 4 * snapshot


@pytest.mark.parametrize("damage", ["torn last line", "garbage in the middle", "another schema"])
def test_a_damaged_journal_resumes_from_its_last_good_line(checkpoint, caplog, damage):
    caplog.set_level(logging.WARNING, logger="hyperjump_advisor")
    before, _ = half_a_bracket()
    path = checkpoint / journal.JOURNAL_FILE
    lines = path.read_text().splitlines()
    good = lines[:-3]
    if damage == "torn last line":
        path.write_text("\n".join(lines[:-1] + [lines[-1][:len(lines[-1]) // 2]]) + "\n")
        good = lines[:-1]
    elif damage == "garbage in the middle":
        path.write_text("\n".join(lines[:-3] + ["{oops"] + lines[-2:]) + "\n")
    else:
        path.write_text("\n".join(lines[:-3] + [lines[-3].replace('"v":1', '"v":99')] + lines[-2:]) + "\n")
    intact = checkpoint / "intact"
    intact.mkdir()
    (intact / STATE_FILE).write_bytes((checkpoint / STATE_FILE).read_bytes())
    (intact / journal.JOURNAL_FILE).write_text("\n".join(good) + "\n")
    expected = journal.load(str(intact))
    after = resumed()
    assert after.restored and "unusable" in caplog.text
    assert persistence.document(after.engine)["trials"] == expected["trials"], "the last good line's state"
    issued = {t["parameter_id"] for t in new_trials(before)}
    after.process_command(C.RequestTrialJobs, 2)
    assert issued.isdisjoint(t["parameter_id"] for t in new_trials(after)), "ids of lost lines are never reused"


@pytest.mark.parametrize("exec_mode", ["parallelism", "async"])
@pytest.mark.parametrize("compaction", ["none", "in small pieces"])
def test_the_journal_replays_to_exactly_the_live_state_after_every_command(checkpoint, monkeypatch, compaction,
                                                                          exec_mode):
    """Under faults and 8 workers (jumps, kills, late and duplicate FINALs), snapshot + journal == live state.

    "in small pieces": the journal is compacted every few kB, 5 items per save, so that the state is also
    read back while a compaction is under way (old snapshot + old journal + journal) and from fuzzy
    snapshots (pieces read at different saves) followed by the lines after their start."""
    if compaction != "none":
        monkeypatch.setattr(journal, "COMPACT_MIN_BYTES", 3000)
        monkeypatch.setattr(journal, "PIECE_ITEMS", 5)
    import golden_traces as golden
    from hyperjump_advisor.replay import advisors
    from hyperjump_advisor.replay.faults import Faults
    from hyperjump_advisor.replay.simulator import SimConfig, Simulator
    from hyperjump_advisor.replay.tables import auto_time_limit, resolve_R_eta

    table = golden.synthetic_table()
    budgets = resolve_R_eta(table)
    advisor = advisors.get("hyperjump").build(R=budgets.R, eta=budgets.eta, seed=4,
                                              class_args={"exec_mode": exec_mode})
    checked, compacting, kinds, rung_kinds = [], [], set(), set()

    class Checked:
        sent = advisor.sent

        def process_command(self, command, data):
            advisor.process_command(command, data)
            expected = json.loads(json.dumps(persistence.document(advisor.engine)))
            stored = journal.load(os.environ["NNI_CHECKPOINT_DIRECTORY"])  # the replay's folder for this run
            stored.pop("journal_seq")
            assert stored == expected, f"after {command.name} #{len(checked)}"
            checked.append(command)
            folder = os.environ["NNI_CHECKPOINT_DIRECTORY"]
            compacting.append(os.path.exists(os.path.join(folder, journal.OLD_JOURNAL_FILE)))
            path = os.path.join(folder, journal.JOURNAL_FILE)
            with open(path, encoding="utf-8") if os.path.exists(path) else open(os.devnull) as f:
                for entry in map(json.loads, f.read().splitlines()):
                    kinds.update(key for key in ("heads", "stages", "slots", "brackets", "async_rungs", "rungs")
                                 if entry.get(key))
                    rung_kinds.update(entry.get("rungs", {}))

    faults = Faults(fail=0.2, cancel=0.05, duplicate_final=0.1, final_after_end=0.1, seed=4)
    limit = auto_time_limit(table, budgets, 8, iterations=2.0)  # over 200 commands whatever the jumps decide
    config = SimConfig(workers=8, time_limit=limit, faults=faults)
    result = Simulator(Checked(), table, budgets, config).run()
    assert result["error"] is None and len(checked) > 200
    if exec_mode == "parallelism":
        assert any(b.jumped for b in advisor.engine.scheduler.brackets)
        assert kinds == {"heads", "stages", "slots", "brackets"}, "every kind of bracket record was replayed"
    else:
        assert kinds == {"rungs"} and any(advisor.engine.scheduler.rungs.moved_on[1:])
        assert rung_kinds >= {"slots", "changed", "results", "moved_on", "no_jump"}, "every kind of rung record"
    if compaction != "none":
        ended = sum(1 for a, b in zip(compacting, compacting[1:]) if a and not b)
        assert ended >= 3 and sum(compacting) > 20, "compactions ran over several commands, and ended"


def test_a_resume_keeps_the_results_the_rank_correlations_are_measured_on(checkpoint):
    before, _ = half_a_bracket()
    live = before.engine.diagnostics.state
    after = resumed().engine.diagnostics.state
    assert after.losses == live.losses and after.results == live.results > 0
