"""What the advisor tells the user: the audit trail and the trial table beside dispatcher.log."""
import csv
import json

import pytest

from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.records import Records

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}


def run(tmp_path, n_results, **args):
    settings = {"R": 9, "eta": 3, "seed": 0, "exec_mode": "serial", "threshold": 0}
    settings.update(args)
    advisor = build_offline(HyperJump, **settings)
    advisor.records = Records(str(tmp_path))
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 1)
    for k in range(n_results):
        trial = [s.data for s in advisor.sent if s.name == "NewTrialJob"][k]
        job = f"job{k}"
        advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, trial["parameters"]["x"]))
        advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))
        advisor.process_command(C.RequestTrialJobs, 1)
    audit = [json.loads(line) for line in open(tmp_path / "hyperjump-audit.jsonl")]
    with open(tmp_path / "hyperjump-trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return advisor, audit, rows


@pytest.mark.parametrize("exec_mode,plan", [
    ("parallelism", [[[9, 1], [3, 3], [1, 9]], [[5, 3], [1, 9]], [[3, 9]]]),   # Hyperband's brackets
    ("async", [[[9, 1], [3, 3], [1, 9]]]),                                    # the rungs
])
def test_the_audit_starts_with_a_header_before_any_trial(tmp_path, exec_mode, plan):
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, exec_mode=exec_mode)
    advisor.records = Records(str(tmp_path))
    advisor.process_command(C.Initialize, SPACE)
    (header,) = [json.loads(line) for line in open(tmp_path / "hyperjump-audit.jsonl")]
    assert header["event"] == "header" and header["R"] == 9 and header["eta"] == 3
    assert header["plan"] == plan
    assert header["class_args"]["threshold"] == 0.1


def test_every_successive_halving_promotion_is_recorded_with_what_stayed_behind(tmp_path):
    advisor, audit, rows = run(tmp_path, 12)
    brackets = [r for r in audit if r["event"] == "bracket"]
    assert brackets[0]["bracket"] == 0 and len(brackets[0]["config_ids"]) == 9
    promotion = [r for r in audit if r["event"] == "promotion"][0]
    ran = {int(r["config_id"]): float(r["metric"]) for r in rows if r["stage"] == "0"}
    best3 = sorted(ran, key=lambda c: -ran[c])[:3]
    assert promotion["kind"] == "successive_halving" and (promotion["from_budget"], promotion["to_budget"]) == (1, 3)
    assert sorted(promotion["kept_config_ids"]) == sorted(best3)
    assert sorted(promotion["discarded_config_ids"]) == sorted(set(ran) - set(best3))
    assert promotion["kept_parameter_ids"] and promotion["discarded_parameter_ids"]


def test_the_trial_table_holds_the_true_parameters_budget_and_metric(tmp_path):
    advisor, audit, rows = run(tmp_path, 12)
    assert len(rows) == 12
    for row in rows:
        x = json.loads(row["parameters"])["x"]
        assert float(row["metric"]) == x and row["status"] == "DONE" and row["jumped"] == "0"
        assert int(row["budget"]) == advisor.engine.ledger.trials[int(row["parameter_id"])].slot.budget
    top = [r for r in audit if r["event"] == "incumbent"]
    assert top == [] or top[-1]["budget"] == 9


def test_jumps_record_accepted_hops_only_and_mark_no_jump_brackets(tmp_path):
    advisor, audit, rows = run(tmp_path, 60, R=27, threshold=0.5, p_no_jump=0.5, seed=0)
    brackets = [r for r in audit if r["event"] == "bracket"]
    assert {b["no_jump"] for b in brackets} == {True, False}, "both kinds of bracket were drawn"
    jumps = [r for r in audit if r["event"] == "promotion" and r["kind"] == "jump"]
    assert jumps, "threshold 0.5 jumps on a smooth problem"
    no_jump_ids = {b["bracket"] for b in brackets if b["no_jump"]}
    for r in jumps:
        assert r["bracket"] not in no_jump_ids
        assert sum(r["rear_per_hop"]) <= r["threshold"]
    skipped = [r for r in rows if r["jumped"] == "1"]
    assert all(r["status"] == "SKIPPED" for r in skipped)
