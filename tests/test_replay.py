"""The replay benchmark: simulator rules, budget mapping, advisors by name, results schema."""
from __future__ import annotations

import json
import math

import pytest

import nni
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from hyperjump_advisor.inprocess import build_offline
from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.__main__ import main as replay_main, parse_class_arg
from hyperjump_advisor.replay.faults import Faults
from hyperjump_advisor.replay.runs import run_one
from hyperjump_advisor.replay.shared_tables import load_table, shared_tables_dir
from hyperjump_advisor.replay.simulator import SimConfig, Simulator
from hyperjump_advisor.replay.table_csv import load_generic, write_generic
from hyperjump_advisor.replay.tables import BudgetMap, TableError, auto_time_limit, resolve_R_eta
from hyperjump_advisor.schedule import iteration_plan

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast

LEVELS = [1, 2, 4, 8]          # eta 2 -> R = 8
XS, YS = [0, 1, 2, 3, 4, 5], ["a", "b"]


def synthetic_records(holes=(), intermediate=False):
    """12 configurations x 4 budgets; loss falls with budget, time = budget * (1 + x) (distinct per config)."""
    records = []
    for x in XS:
        for y in YS:
            for i, b in enumerate(LEVELS):
                if (x, y, b) in holes:
                    continue
                loss = 0.1 + 0.05 * abs(x - 2) + (0.03 if y == "b" else 0.0) + 0.4 / b
                record = {"x": x, "y": y, "budget": b, "loss": loss, "time": b * (1.0 + x) + (0.5 if y == "b" else 0)}
                if intermediate:
                    record["intermediate"] = [0.1 + 0.05 * abs(x - 2) + 0.4 / LEVELS[j] for j in range(i)]
                records.append(record)
    return records


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "toy.csv"
    write_generic(path, ["x", "y"], synthetic_records())
    return load_generic(path)


def simulate(advisor, table, workers=1, time_limit=math.inf, **options):
    budget_map = resolve_R_eta(table)
    return Simulator(advisor, table, budget_map, SimConfig(workers=workers, time_limit=time_limit, **options)).run()


def build(name, table, seed=0, **class_args):
    budget_map = resolve_R_eta(table)
    return advisors.get(name).build(R=budget_map.R, eta=budget_map.eta, seed=seed, class_args=class_args)


def plan_sequence(R, eta):
    return [stage.budget for bracket in iteration_plan(R, eta) for stage in bracket for _ in range(stage.n)]


# ---- a scripted advisor ------------------------------------------------------------------------------
class Scripted(MsgDispatcherBase):
    """Sends one trial per request (configs in order, all at ``budget``); kills on cue; logs everything."""

    def __init__(self, configs, budget, kill_parameter=None):
        super().__init__()
        self.configs, self.budget, self.kill_parameter = configs, budget, kill_parameter
        self.next_id, self.log = 0, []

    def handle_initialize(self, data):
        self.log.append(("initialize", data))
        self.send(CommandType.Initialized, "")

    def handle_request_trial_jobs(self, data):
        self.log.append(("request", data))
        for _ in range(data):
            if self.next_id >= len(self.configs):
                self.send(CommandType.NoMoreTrialJobs, "")
                return
            params = dict(self.configs[self.next_id], TRIAL_BUDGET=self.budget)
            self.send(CommandType.NewTrialJob, nni.dump({"parameter_id": self.next_id, "parameter_source": "algorithm",
                                                         "parameters": params, "parameter_index": 0}))
            self.next_id += 1

    def handle_report_metric_data(self, data):
        self.log.append((data["type"], data["parameter_id"], nni.load(data["value"]), data["trial_job_id"]))
        if data["type"] == "PERIODICAL" and data["parameter_id"] == self.kill_parameter:
            self.send(CommandType.KillTrialJob, nni.dump(data["trial_job_id"]))

    def handle_trial_end(self, data):
        self.log.append(("end", nni.load(data["hyper_params"])["parameter_id"], data["event"]))


def scripted(configs, budget, **kw):
    return build_offline(Scripted, configs=configs, budget=budget, **kw)


# ---- tables and budgets ------------------------------------------------------------------------------
def test_generic_table_search_space_and_defaults(table):
    assert table.search_space() == {"x": {"_type": "choice", "_value": XS}, "y": {"_type": "choice", "_value": YS}}
    assert table.levels == [1.0, 2.0, 4.0, 8.0] and table.eta == 2
    budget_map = resolve_R_eta(table)
    assert (budget_map.R, budget_map.eta) == (8, 2)
    assert [budget_map.level(b) for b in (1, 2, 4, 8)] == [0, 1, 2, 3]
    assert table.optimum_loss == pytest.approx(0.15)


def test_R_eta_overrides_must_match_the_levels(table):
    assert BudgetMap(table, 4, 2).level(4) == 3            # R=4 uses the top three levels
    assert BudgetMap(table, 8, 8).budgets == [1, 8]         # eta a power of the table's eta
    with pytest.raises(TableError, match="not a level"):
        BudgetMap(table, 60, 3)
    with pytest.raises(TableError, match="not a level"):
        BudgetMap(table, 16, 2)                             # more levels than the table has


def test_cli_rejects_inconsistent_R(tmp_path, capsys):
    path = tmp_path / "toy.csv"
    write_generic(path, ["x", "y"], synthetic_records())
    assert replay_main(["--table", str(path), "--advisor", "hyperband", "--R", "60", "--eta", "3",
                        "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "not a level" in capsys.readouterr().err


def test_class_arg_values_are_json_when_possible():
    assert parse_class_arg("threshold=0") == ("threshold", 0)
    assert parse_class_arg("exec_mode=serial") == ("exec_mode", "serial")
    assert parse_class_arg("p_no_jump=0.5") == ("p_no_jump", 0.5)


# ---- the simulator's rules ------------------------------------------------------------------------------
def test_hyperband_one_worker_follows_the_iteration_plan(table):
    plan = plan_sequence(8, 2)
    result = simulate(build("hyperband", table), table, max_trials=len(plan) + 1)
    assert result["error"] is None and result["end_reason"] == "max_trials"
    assert [t["trial_budget"] for t in result["trials"][:len(plan)]] == plan


def test_one_worker_time_adds_up(table):
    result = simulate(build("hyperjump:threshold=0", table), table, time_limit=400)
    trials = result["trials"]
    assert len(trials) > 20 and result["end_reason"] == "time_limit"
    for previous, trial in zip(trials, trials[1:]):
        assert trial["start"] == pytest.approx(previous["end"])
    resumed = 0
    for trial in trials:
        assert trial["status"] == "SUCCEEDED"
        full = table.lookup(trial["config"], LEVELS.index(trial["budget"])).time
        if "resumed_from" in trial:  # pause-resume: a promoted config pays only for the extra budget
            resumed += 1
            full -= table.lookup(trial["config"], trial["resumed_from"]).time
        assert trial["end"] - trial["start"] == pytest.approx(full)
        assert trial["end"] <= 400
    assert resumed > 5, "promoted configurations resume from the budget they completed"
    assert result["unfinished"] and result["unfinished"][0]["start"] == pytest.approx(trials[-1]["end"])


def test_plain_hyperband_pays_the_full_time_of_every_trial(table):
    result = simulate(build("hyperband", table), table, time_limit=400)
    for trial in result["trials"]:
        assert "resumed_from" not in trial
        assert trial["end"] - trial["start"] == pytest.approx(table.lookup(trial["config"], LEVELS.index(
            trial["budget"])).time)


def test_several_workers_never_overdraw(table):
    result = simulate(build("hyperband", table), table, workers=3, time_limit=300)
    assert result["queued_trials"] == 0 and result["error"] is None
    events = sorted([(t["start"], 1) for t in result["trials"]] + [(t["end"], -1) for t in result["trials"]],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 3
    assert sorted({t["worker"] for t in result["trials"]}) == [0, 1, 2]


def test_kill_frees_the_worker_at_once(tmp_path):
    path = tmp_path / "curve.csv"
    write_generic(path, ["x", "y"], synthetic_records(intermediate=True))
    table = load_generic(path)
    configs = [{"x": 1, "y": "a"}, {"x": 2, "y": "a"}]
    advisor = scripted(configs, budget=8, kill_parameter=0)
    result = simulate(advisor, table)
    first, second = result["trials"]
    full = table.lookup(configs[0], 3).time
    assert first["status"] == "KILLED" and first["killed_by"] == "advisor" and first["loss"] is None
    assert first["end"] == pytest.approx(full / 8)          # its first PERIODICAL (level 0) came at 1/8 of the run
    assert second["start"] == pytest.approx(first["end"])    # the one worker took the next trial at once
    assert second["status"] == "SUCCEEDED"
    log = advisor.log
    kill_at = log.index(("end", 0, "USER_CANCELED"))
    assert log[kill_at + 1] == ("request", 1)
    periodicals = [e for e in log if e[0] == "PERIODICAL" and e[1] == 1]
    assert [e[2]["budget"] for e in periodicals] == [1, 2, 4]
    assert log.index(("FINAL", 1, {"default": table.lookup(configs[1], 3).loss, "budget": 8}, "T00001")) < \
        log.index(("end", 1, "SUCCEEDED"))
    assert result["end_reason"] == "no_more_trials"


def test_initialize_then_request_workers(table):
    advisor = scripted([{"x": 0, "y": "a"}] * 5, budget=1)
    simulate(advisor, table, workers=3)
    assert advisor.log[0] == ("initialize", table.search_space())
    assert advisor.log[1] == ("request", 3)
    assert [e for e in advisor.log if e[0] == "request"][1:] == [("request", 1)] * 5


def test_missing_row_fails_at_once(tmp_path):
    path = tmp_path / "holes.csv"
    write_generic(path, ["x", "y"], synthetic_records(holes={(3, "b", 8)}))
    table = load_generic(path)
    advisor = scripted([{"x": 3, "y": "b"}, {"x": 0, "y": "a"}], budget=8)
    result = simulate(advisor, table)
    failed, ok = result["trials"]
    assert failed["status"] == "FAILED" and failed["start"] == failed["end"] == 0 and "no table row" in failed["reason"]
    assert ("end", 0, "FAILED") in advisor.log and not any(e[0] == "FINAL" and e[1] == 0 for e in advisor.log)
    assert ok["start"] == 0 and ok["status"] == "SUCCEEDED"


def test_faults_are_deterministic_and_follow_the_protocol(table):
    configs = [{"x": x, "y": y} for x in XS for y in YS]

    def run(seed, **fractions):
        advisor = scripted(configs, budget=4)
        result = simulate(advisor, table, workers=2, faults=Faults(seed=seed, **fractions))
        return advisor.log, result

    log_a, res_a = run(7, fail=0.3, cancel=0.2, duplicate_final=0.2, final_after_end=0.2)
    log_b, res_b = run(7, fail=0.3, cancel=0.2, duplicate_final=0.2, final_after_end=0.2)
    assert res_a["trials"] == res_b["trials"] and log_a == log_b
    kinds = {t.get("fault") for t in res_a["trials"]}
    assert {"fail", "cancel"} <= kinds
    for t in res_a["trials"]:
        pid = t["parameter_id"]
        finals = [i for i, e in enumerate(log_a) if e[0] == "FINAL" and e[1] == pid]
        end = next(i for i, e in enumerate(log_a) if e[0] == "end" and e[1] == pid)
        if t.get("fault") == "fail":
            assert t["status"] == "FAILED" and not finals and log_a[end][2] == "FAILED"
        elif t.get("fault") == "cancel":
            assert t["status"] == "KILLED" and t["killed_by"] == "user" and log_a[end][2] == "USER_CANCELED"
        elif t.get("fault") == "duplicate_final":
            assert len(finals) == 2 and all(i < end for i in finals)
        elif t.get("fault") == "final_after_end":
            assert len(finals) == 1 and finals[0] > end
        else:
            assert len(finals) == 1 and finals[0] < end
    _, all_fail = run(1, fail=1.0)
    assert {t["status"] for t in all_fail["trials"]} == {"FAILED"}


def test_resume_hook_charges_only_the_extra_time(table):
    config = {"x": 2, "y": "a"}

    class Resumer(Scripted):
        def handle_request_trial_jobs(self, data):
            for _ in range(data):
                if self.next_id >= 2:
                    self.send(CommandType.NoMoreTrialJobs, "")
                    return
                params = dict(config, TRIAL_BUDGET=2 if self.next_id == 0 else 8)
                if self.next_id == 1:
                    params["RESUME_FROM"] = 2
                self.send(CommandType.NewTrialJob, nni.dump({"parameter_id": self.next_id, "parameters": params,
                                                             "parameter_source": "algorithm", "parameter_index": 0}))
                self.next_id += 1

    result = simulate(build_offline(Resumer, configs=[], budget=0), table, resume_key="RESUME_FROM")
    first, second = result["trials"]
    assert second["resumed_from"] == 1
    assert second["end"] - second["start"] == pytest.approx(table.lookup(config, 3).time - table.lookup(config, 1).time)


# ---- the advisors by name ---------------------------------------------------------------------------------
def test_nni_hyperband_runs_with_its_plan(table):
    result = simulate(build("nni-hyperband", table), table, time_limit=600)
    assert result["error"] is None and result["end_reason"] == "time_limit"
    plan = plan_sequence(8, 2)
    assert [t["trial_budget"] for t in result["trials"][:len(plan)]] == plan
    assert all(isinstance(t["parameter_id"], str) for t in result["trials"])   # ids like '0-3_0_4'
    assert result["incumbent"]


def test_random_runs_at_the_maximum_budget_only(table):
    result = simulate(build("random", table), table, workers=2)
    assert result["error"] is None
    assert {t["trial_budget"] for t in result["trials"]} == {8}
    assert len(result["trials"]) == len(XS) * len(YS)           # the 12-point space, then NoMoreTrialJobs
    assert result["end_reason"] == "no_more_trials"


def test_seeds_make_runs_reproducible(table):
    a = simulate(build("nni-hyperband", table, seed=3), table, time_limit=200)
    b = simulate(build("nni-hyperband", table, seed=3), table, time_limit=200)
    assert a["trials"] == b["trials"]


def test_nni_bohb_runs(table):
    pytest.importorskip("ConfigSpace")
    pytest.importorskip("statsmodels")
    result = simulate(build("nni-bohb", table), table, workers=2, time_limit=800)
    assert result["error"] is None and result["incumbent"]
    assert {t["trial_budget"] for t in result["trials"]} <= {1, 2, 4, 8}


# ---- the command and its files -------------------------------------------------------------------------------
def test_command_writes_results_report_and_plot(tmp_path):
    path = tmp_path / "toy.csv"
    write_generic(path, ["x", "y"], synthetic_records())
    out = tmp_path / "out"
    code = replay_main(["--table", str(path), "--advisor", "hyperband", "--advisor", "random", "--seeds", "2",
                        "--workers", "2", "--time-limit", "300", "--out", str(out), "--quiet"])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["table"] == "toy" and isinstance(doc["optimum_loss"], float) and isinstance(doc["worst_loss"], float)
    assert [(r["advisor"], r["seed"]) for r in doc["runs"]] == [("hyperband", 0), ("hyperband", 1),
                                                                 ("random", 0), ("random", 1)]
    for run in doc["runs"]:
        assert run["workers"] == 2 and isinstance(run["advisor_seconds"], float) and isinstance(run["decisions"], int)
        assert run["trials"]
        for trial in run["trials"]:
            assert set(trial) >= {"config", "budget", "start", "end", "loss", "status"}
            assert trial["status"] in ("SUCCEEDED", "KILLED", "FAILED")
            assert isinstance(trial["config"], dict) and set(trial["config"]) == {"x", "y"}
            assert (trial["loss"] is None) == (trial["status"] != "SUCCEEDED")
        times = [at for at, _ in run["incumbent"]]
        losses = [loss for _, loss in run["incumbent"]]
        assert times == sorted(times) and losses == sorted(losses, reverse=True)
    report = (out / "report.md").read_text()
    assert "hyperband" in report and "oracle" in report and "ms/decision" in report
    assert (out / "regret.png").stat().st_size > 1000


# ---- a shared table, briefly ---------------------------------------------------------------------------------
needs_shared = pytest.mark.skipif(not shared_tables_dir().is_dir(), reason="shared HyperJump tables not present")


@needs_shared
def test_shared_tables_follow_the_readme():
    cnn = load_table("hyperjump:cnn")
    assert cnn.levels == [3750, 7500, 15000, 30000, 60000] and cnn.eta == 2
    assert len(cnn.configs) == cnn.grid_size == 288
    assert 1 - cnn.optimum_loss == pytest.approx(0.98873, abs=1e-5)
    time3 = load_table("hyperjump:cnn_time3")
    assert time3.levels == [7, 22, 66, 200, 600] and time3.eta == 3
    assert all(row.time == time3.levels[level] for (_, level), row in time3.rows.items())
    mnist = load_table("hyperjump:mnist_epochs")
    assert mnist.levels == [1, 2, 4, 8, 16] and len(mnist.configs) == 256 and mnist.optimum_loss == pytest.approx(0.0096)
    unet = load_table("hyperjump:unet")
    assert "sync" in unet.hyperparameters and len(unet.configs) == 99 and unet.grid_size == 144
    assert 1 - unet.optimum_loss == pytest.approx(0.96015, abs=1e-5)
    assert (resolve_R_eta(unet).R, resolve_R_eta(unet).eta) == (81, 3)


@needs_shared
def test_shared_table_replay_briefly():
    table = load_table("hyperjump:mnist_epochs")
    budget_map = resolve_R_eta(table)
    limit = auto_time_limit(table, budget_map, 4, iterations=1)
    for name in ("hyperband", "nni-hyperband"):
        run = run_one(advisors.get(name), table, budget_map, 0, SimConfig(workers=4, time_limit=limit))
        assert run["error"] is None and run["queued_trials"] == 0 and run["incumbent"]
        assert {t["trial_budget"] for t in run["trials"]} == {1, 2, 4, 8, 16}


def test_hyperjump_runs_under_the_replay(table):
    result = simulate(build("hyperjump", table), table, workers=2, time_limit=600)
    assert result["error"] is None and result["end_reason"] == "time_limit"
    assert result["queued_trials"] == 0 and result["incumbent"]


def test_lcbench_189908_loads_as_a_generic_csv_beside_the_shared_tables():
    table = load_table("lcbench:189908")
    assert table.name == "lcbench:189908" and table.is_full_grid and len(table.configs) == 2187
    assert table.levels == [2.0, 6.0, 17.0, 51.0] and table.eta == 3 and resolve_R_eta(table).R == 27
    assert len(table.hyperparameters) == 7 and table.space == "grid"
    top = [row for (key, level), row in table.rows.items() if level == 3]
    assert all([lvl for lvl, _ in row.intermediate] == [0, 1, 2] for row in top[:50])
    assert min(r.loss for r in top) == pytest.approx(0.11449, abs=1e-5)   # the README's optimum
    with pytest.raises(TableError, match="lcbench:189908"):
        load_table("lcbench:1")
