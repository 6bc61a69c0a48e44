"""HyperJump's jumps through the real advisor: when they happen, what they keep, what they kill, what they log."""
import json

import numpy as np
import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.records import Records
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.runs import run_one
from hyperjump_advisor.replay.simulator import SimConfig
from hyperjump_advisor.replay.tables import auto_time_limit, resolve_R_eta
from hyperjump_advisor.schedule import iteration_plan

from conftest import shared_table

SPACE = {"a": {"_type": "uniform", "_value": [0.0, 1.0]}, "b": {"_type": "uniform", "_value": [0.0, 1.0]}}


def error_rate(params, R=81):
    """A smooth multi-fidelity problem: the optimum at (0.7, 0.3), curves that converge with budget."""
    final = 0.05 + 0.5 * ((params["a"] - 0.7) ** 2 + (params["b"] - 0.3) ** 2)
    return final + 0.3 * (1 - params["TRIAL_BUDGET"] / R) ** 2 * (0.5 + params["a"])


def run_serial(advisor, n_trials):
    """One worker; returns the NewTrialJob payloads that ran, in order."""
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 1)
    ran = []
    for k in range(n_trials):
        trial = [s.data for s in advisor.sent if s.name == "NewTrialJob"][k]
        ran.append(trial)
        job = f"job{k}"
        advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job,
                                                                   1 - error_rate(trial["parameters"])))
        advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))
        advisor.process_command(C.RequestTrialJobs, 1)
    return ran


def test_threshold_zero_is_exactly_hyperband():
    hj = run_serial(build_offline(HyperJump, R=81, eta=3, seed=4, threshold=0, exec_mode="serial"), 200)
    plan = iteration_plan(81, 3)
    expected = [st.budget for bracket in plan for st in bracket for _ in range(st.n)]
    assert [t["parameters"]["TRIAL_BUDGET"] for t in hj] == expected[:200]


def test_jumps_skip_stages_log_an_audit_trail_and_find_a_good_config_sooner(tmp_path):
    advisor = build_offline(HyperJump, R=81, eta=3, seed=1, exec_mode="serial", p_no_jump=0.0)
    advisor.records = Records(str(tmp_path))
    ran = run_serial(advisor, 150)
    jumped = [b for b in advisor.engine.scheduler.brackets if b.jumped]
    assert jumped, "on a smooth problem the model becomes confident enough to jump"
    records = [json.loads(line) for line in open(advisor.records.audit_path)]
    jumps = [r for r in records if r["event"] == "promotion" and r["kind"] == "jump"]
    assert len(jumps) >= len(jumped)
    for r in jumps:
        hops = len(r["rear_per_hop"])
        if not r["finishes_bracket"]:
            assert hops == r["to_stage"] - r["stage"], "rear_per_hop holds the accepted hops only"
        assert hops >= 1 and sum(r["rear_per_hop"]) <= r["threshold"] + 1e-12, "accepted hops stay under lambda"
        if r["rejected_rear"] is not None:
            assert sum(r["rear_per_hop"]) + r["rejected_rear"] > r["threshold"], "the next hop was rejected"
        assert set(r["kept_config_ids"]).isdisjoint(r["discarded_config_ids"])
        for c in r["discarded_config_ids"]:
            assert str(c) in r["discarded_parameter_ids"]
    # a discarded config never runs again in its bracket
    for r in jumps:
        bracket = advisor.engine.scheduler.brackets[r["bracket"]]
        later = {x.config_id for stage in bracket.slots[r["stage"] + 1:] for x in stage}
        assert later.isdisjoint(r["discarded_config_ids"])
    # and HyperJump reaches a near-optimal full-budget config with less budget than Hyperband
    def budget_to_reach(trials, target=0.06):
        spent = 0
        for t in trials:
            spent += t["parameters"]["TRIAL_BUDGET"]
            if t["parameters"]["TRIAL_BUDGET"] == 81 and error_rate(t["parameters"]) < target:
                return spent
        return np.inf
    hb = run_serial(build_offline(HyperJump, R=81, eta=3, seed=1, threshold=0, exec_mode="serial"), 250)
    assert budget_to_reach(ran) < budget_to_reach(hb)


def test_p_no_jump_one_never_jumps():
    advisor = build_offline(HyperJump, R=81, eta=3, seed=1, exec_mode="serial", p_no_jump=1.0)
    ran = run_serial(advisor, 150)
    assert not any(b.jumped for b in advisor.engine.scheduler.brackets)
    plan = iteration_plan(81, 3)
    expected = [st.budget for bracket in plan for st in bracket for _ in range(st.n)]
    assert [t["parameters"]["TRIAL_BUDGET"] for t in ran] == expected[:150]


@pytest.mark.slow
def test_jumps_kill_running_trials_whose_workers_go_straight_to_new_work():
    """8 simulated workers on a real learning-curve table: jumps kill trials of skipped stages."""
    table = shared_table("mnist_epochs")
    budget_map = resolve_R_eta(table)
    limit = auto_time_limit(table, budget_map, 8, iterations=1)
    run = run_one(advisors.get("hyperjump:exec_mode=parallelism"), table, budget_map, 1, SimConfig(workers=8, time_limit=limit))
    assert run["error"] is None and run["queued_trials"] == 0
    killed = [t for t in run["trials"] if t["status"] == "KILLED"]
    assert killed, "seed 1 jumps while trials of the skipped stage run"
    started = run["trials"] + run["unfinished"]  # trials still running at the time limit are listed apart
    for victim in killed:
        assert victim["loss"] is None and victim["end"] < victim["start"] + table_time(table, victim)
        assert any(t["start"] == victim["end"] for t in started), "freed workers take new work at the kill time"
    busy = sorted([(t["start"], 1) for t in started] + [(t["end"], -1) for t in run["trials"]], key=lambda e: (e[0], e[1]))
    running, peak = 0, 0
    for _, step in busy:
        running += step
        peak = max(peak, running)
    assert peak <= 8


def table_time(table, trial_record):
    return table.lookup(trial_record["config"], table.levels.index(trial_record["budget"])).time
