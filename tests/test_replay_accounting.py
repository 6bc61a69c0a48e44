"""Bench truth: the replay's accounting rules, each on a tiny generic table (seconds per test)."""
from __future__ import annotations

import itertools
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import nni
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from hyperjump_advisor.inprocess import build_offline
from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.__main__ import main as replay_main
from hyperjump_advisor.replay.checkpoint import CHECKPOINT_ENV
from hyperjump_advisor.replay.faults import Faults
from hyperjump_advisor.replay.measures import (comparison, median_all, quantile_all, ratio, summarize,
                                               time_to_target)
from hyperjump_advisor.replay.render import render_report
from hyperjump_advisor.replay.simulator import SimConfig, Simulator
from hyperjump_advisor.replay.table_csv import load_generic, write_generic
from hyperjump_advisor.replay.tables import LIST_KEY, BudgetMap, TableError, resolve_R_eta
from hyperjump_advisor.replay.trial_cost import resume_floor, trial_timing

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast

REPO = Path(__file__).resolve().parents[1]


def simulate(advisor, table, workers=1, time_limit=math.inf, **options):
    options.setdefault("checkpoint", False)
    sim = Simulator(advisor, table, resolve_R_eta(table), SimConfig(workers=workers, time_limit=time_limit, **options))
    advisor.clock = lambda: sim.now
    return sim.run()


def build(name, table, seed=0):
    budget_map = resolve_R_eta(table)
    return advisors.get(name).build(R=budget_map.R, eta=budget_map.eta, seed=seed)


class Scripted(MsgDispatcherBase):
    """Sends ``plan`` trials in order (dicts of parameters); logs (time, event) with the simulated clock."""

    def __init__(self, plan):
        super().__init__()
        self.plan, self.next_id, self.log = plan, 0, []
        self.clock = lambda: 0.0

    def handle_initialize(self, data):
        self.space = data
        self.send(CommandType.Initialized, "")

    def handle_request_trial_jobs(self, data):
        for _ in range(data):
            if self.next_id >= len(self.plan):
                self.send(CommandType.NoMoreTrialJobs, "")
                return
            self.send(CommandType.NewTrialJob, nni.dump({"parameter_id": self.next_id, "parameter_source": "algorithm",
                                                         "parameters": self.plan[self.next_id], "parameter_index": 0}))
            self.next_id += 1

    def handle_report_metric_data(self, data):
        self.log.append((self.clock(), data["type"], data["parameter_id"], data["sequence"]))

    def handle_trial_end(self, data):
        self.log.append((self.clock(), "end", nni.load(data["hyper_params"])["parameter_id"], data["event"]))


def scripted(plan):
    return build_offline(Scripted, plan=plan)


# times per level of config x: NOT proportional to the budget, and not monotone for x == 2
TIMES = {0: [5.0, 6.0, 10.0, 30.0], 1: [2.0, 7.0, 8.0, 9.0], 2: [3.0, 12.0, 11.0, 20.0]}
LEVELS = [1, 2, 4, 8]


def curve_table(tmp_path, configs=(0, 1, 2), levels=LEVELS, times=TIMES, intermediate=True, name="curve"):
    records = []
    for x in configs:
        for i, b in enumerate(levels):
            record = {"x": x, "budget": b, "loss": 0.1 * (x + 1) + 1.0 / b, "time": times[x][i]}
            if intermediate:
                record["intermediate"] = [0.1 * (x + 1) + 1.0 / levels[j] for j in range(i)]
            records.append(record)
    path = tmp_path / f"{name}.csv"
    write_generic(path, ["x"], records)
    return load_generic(path)


# ---- 1. medians count unreached seeds as infinite --------------------------------------------------
def _document(incumbents: dict[str, list]) -> dict:
    runs = [{"advisor": name, "seed": k, "incumbent": inc, "trials": [], "advisor_seconds": 0.0, "decisions": 0,
             "end_reason": "time_limit"} for name, seq in incumbents.items() for k, inc in enumerate(seq)]
    return {"table": "toy", "optimum_loss": 0.0, "worst_loss": 1.0, "levels": [1, 2], "R": 2, "eta": 2,
            "workers": 1, "time_limit": 1000.0, "oracle": {}, "runs": runs}


def test_medians_count_unreached_seeds_as_infinite():
    reach = lambda at: [[at, 0.0]]   # noqa: E731  (regret 0 at ``at``)
    never = [[5.0, 0.5]]             # regret 0.5: reaches 10%? no
    doc = _document({"hyperjump": [reach(10), reach(20), never],          # 2/3 reached: median 20
                     "hyperband": [reach(1), never, never],                # 1/3: median never
                     "random": [reach(30), reach(40), never, never],       # 2/4: midpoint of 40 and inf: never
                     "nni-bohb": [never, never]})
    s = summarize(doc)
    assert s["hyperjump"]["targets"][0.1]["median"] == 20 and s["hyperjump"]["targets"][0.1]["reached"] == 2
    assert math.isinf(s["hyperband"]["targets"][0.1]["median"]) and s["hyperband"]["targets"][0.1]["reached"] == 1
    assert math.isinf(s["random"]["targets"][0.1]["median"])
    assert median_all([1.0, 2.0, math.inf]) == 2.0 and math.isinf(median_all([]))
    assert quantile_all([1.0, 3.0, math.inf, math.inf], 0.25) == pytest.approx(2.5)
    assert math.isinf(quantile_all([1.0, 3.0, math.inf, math.inf], 0.75))
    # ranking: by median to 10% (finite first), then 1%, 0.1%, final regret
    assert list(s)[0] == "hyperjump"
    # ratios: explicit infinities
    assert ratio(40.0, 20.0) == 2.0
    assert math.isinf(ratio(math.inf, 20.0)) and ratio(20.0, math.inf) == 0.0 and ratio(math.inf, math.inf) is None
    comp = comparison(s)
    assert comp["best_peer"] in ("hyperband", "random", "nni-bohb")
    assert math.isinf(comp["targets"][0.1]["hyperband_ratio"])
    report = render_report(doc)
    assert "20 s (2/3)" in report and "never (1/3)" in report and "∞ (hyperband never)" in report


def test_time_to_target_is_a_binary_search_over_the_incumbent():
    run = {"incumbent": [[1.0, 0.9], [2.0, 0.5], [3.0, 0.05], [7.0, 0.0]]}
    doc = {"optimum_loss": 0.0, "worst_loss": 1.0}
    assert time_to_target(run, doc, 0.1) == 3.0 and time_to_target(run, doc, 0.0) == 7.0
    assert time_to_target(run, doc, 0.5) == 2.0 and math.isinf(time_to_target({"incumbent": []}, doc, 0.1))


# ---- 2. PERIODICAL at the table's time of each level, resumed trials included -------------------------
def test_periodical_results_arrive_at_the_tables_times(tmp_path):
    table = curve_table(tmp_path)
    advisor = scripted([{"x": 0, "TRIAL_BUDGET": 8}])
    simulate(advisor, table)
    periodical = [(at, seq) for at, kind, pid, seq in advisor.log if kind == "PERIODICAL"]
    assert periodical == [(5.0, 0), (6.0, 1), (10.0, 2)]          # T(x=0, j), not budget fractions of 30
    assert [at for at, kind, *_ in advisor.log if kind == "FINAL"] == [30.0]


def test_periodical_of_a_resumed_trial_starts_from_the_resumed_level(tmp_path):
    table = curve_table(tmp_path)
    advisor = scripted([{"x": 0, "TRIAL_BUDGET": 2}, {"x": 0, "TRIAL_BUDGET": 8, "HYPERJUMP_RESUME_FROM": 2}])
    result = simulate(advisor, table)
    second = result["trials"][1]
    assert second["resumed_from"] == 1 and second["start"] == 6.0
    assert second["end"] - second["start"] == pytest.approx(30.0 - 6.0)
    periodical = [(at, seq) for at, kind, pid, seq in advisor.log if kind == "PERIODICAL" and pid == 1]
    assert periodical == [(6.0 + (10.0 - 6.0), 2)]                 # level 2 at T(2) - T(1) after the start


def test_periodical_times_are_clamped_where_the_table_is_not_monotone(tmp_path):
    table = curve_table(tmp_path)
    key = table.key({"x": 2})                                       # times 3, 12, 11, 20
    duration, offsets, floored = trial_timing(table, key, 3, None)
    assert duration == 20.0 and offsets == {0: 3.0, 1: 12.0, 2: 12.0} and not floored
    duration, offsets, _ = trial_timing(table, key, 2, None)        # T(2) = 11 < T(1) = 12
    assert duration == 11.0 and offsets == {0: 3.0, 1: 11.0}       # never after the trial's end


# ---- 3. a resumed trial never costs zero or less ----------------------------------------------------------
def test_resumed_trial_cost_is_floored_where_times_fall(tmp_path):
    table = curve_table(tmp_path)
    key = table.key({"x": 2})                                       # steps +9, -1, +9: cheapest positive = 9
    assert resume_floor(table, key, 2) == 9.0
    duration, _, floored = trial_timing(table, key, 2, 1)            # 12 -> 11: the table says -1
    assert floored and duration == pytest.approx(min(11.0, 9.0)) and duration > 0
    advisor = scripted([{"x": 2, "TRIAL_BUDGET": 2}, {"x": 2, "TRIAL_BUDGET": 4, "HYPERJUMP_RESUME_FROM": 2}])
    result = simulate(advisor, table)
    second = result["trials"][1]
    assert second["end"] - second["start"] == pytest.approx(9.0) and second["cost_rule"] == "resume_floor"
    assert result["resume_floored"] == 1 and result["resumed_trials"] == 1


def test_resume_floor_never_binds_where_times_increase(tmp_path):
    table = curve_table(tmp_path)
    for x in (0, 1):
        key = table.key({"x": x})
        times = TIMES[x]
        for r, level in itertools.combinations(range(4), 2):
            duration, _, floored = trial_timing(table, key, level, r)
            assert not floored and duration == pytest.approx(times[level] - times[r])


def test_resume_floor_without_any_increase_is_one_percent(tmp_path):
    flat = {0: [4.0, 4.0, 4.0, 4.0]}
    table = curve_table(tmp_path, configs=(0,), times=flat, name="flat")
    duration, _, floored = trial_timing(table, table.key({"x": 0}), 3, 1)
    assert floored and duration == pytest.approx(0.04)


# ---- 4. generic tables: optional intermediate, non-geometric levels, list of configurations ------------------
def test_intermediate_column_is_optional(tmp_path):
    table = curve_table(tmp_path, intermediate=False)
    assert all(not row.intermediate for row in table.rows.values())
    advisor = scripted([{"x": 1, "TRIAL_BUDGET": 8}])
    simulate(advisor, table)
    assert [kind for _, kind, *_ in advisor.log] == ["FINAL", "end"]


def test_non_geometric_levels_map_by_rank(tmp_path):
    levels = [1, 3, 10, 50]
    table = curve_table(tmp_path, levels=levels, name="ranked")
    assert not table.geometric and table.eta == 4                    # round(50 ** (1/3)) = 4
    budget_map = resolve_R_eta(table)
    assert (budget_map.R, budget_map.eta) == (64, 4)
    assert [budget_map.level(b) for b in (1, 4, 16, 64)] == [0, 1, 2, 3]
    assert [budget_map.trial_budget(j) for j in range(4)] == [1, 4, 16, 64]
    assert BudgetMap(table, 9, 3).budgets == [1, 3, 9] and BudgetMap(table, 9, 3).level(1) == 1
    with pytest.raises(TableError, match="by rank"):
        BudgetMap(table, 81, 3)                                      # 5 budgets, 4 levels
    result = simulate(build("hyperband", table), table, time_limit=3000)
    assert result["error"] is None and {t["budget"] for t in result["trials"]} == set(map(float, levels))


def _partial_table(tmp_path):
    """6 of the 12 grid points of x in 0..5, y in {a, b}: a list, not a grid."""
    records = []
    for x, y in [(0, "a"), (1, "b"), (2, "a"), (3, "b"), (4, "a"), (5, "b")]:
        for b in LEVELS:
            records.append({"x": x, "y": y, "budget": b, "loss": 0.1 * x + 1.0 / b, "time": b * (1 + x)})
    path = tmp_path / "partial.csv"
    write_generic(path, ["x", "y"], records)
    return path


def test_list_table_samples_only_existing_configurations(tmp_path):
    table = load_generic(_partial_table(tmp_path))
    assert table.space == "list" and not table.is_full_grid
    assert table.search_space() == {LIST_KEY: {"_type": "choice", "_value": list(range(6))}}
    for name in ("hyperband", "random", "nni-hyperband"):
        result = simulate(build(name, table), table, workers=2, time_limit=400)
        assert result["error"] is None and result["missing_config_proposals"] == 0
        assert all(t["status"] == "SUCCEEDED" for t in result["trials"])
        assert {(t["config"]["x"], t["config"]["y"]) for t in result["trials"]} <= \
            {(0, "a"), (1, "b"), (2, "a"), (3, "b"), (4, "a"), (5, "b")}
    bad = scripted([{LIST_KEY: 6, "TRIAL_BUDGET": 8}, {LIST_KEY: 2, "TRIAL_BUDGET": 8}])
    result = simulate(bad, table)
    assert result["missing_config_proposals"] == 1 and result["trials"][1]["config"] == {"x": 2, "y": "a"}


def test_grid_space_over_a_partial_table_counts_missing_proposals(tmp_path):
    path = _partial_table(tmp_path)
    table = load_generic(path, space="grid")
    assert set(table.search_space()) == {"x", "y"}
    result = simulate(build("random", table), table, time_limit=1e6)
    assert result["missing_config_proposals"] == 6                       # the 6 holes, each tried once
    failed = [t for t in result["trials"] if t["status"] == "FAILED"]
    assert len(failed) == 6 and all(t["end"] == t["start"] for t in failed)
    out = tmp_path / "out"
    assert replay_main(["--table", str(path), "--space", "grid", "--advisor", "random", "--seeds", "2",
                        "--time-limit", "1000000", "--out", str(out), "--quiet", "--no-checkpoint"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert [r["missing_config_proposals"] for r in doc["runs"]] == [6, 6]
    report = (out / "report.md").read_text()
    assert "missing configs" in report and "12 proposal(s) named a configuration the table lacks" in report


# ---- 5. NNI BOHB under failures -------------------------------------------------------------------------------
def test_nni_bohb_survives_failed_trials(tmp_path):
    pytest.importorskip("ConfigSpace")
    pytest.importorskip("statsmodels")
    records = [{"x": x, "y": y, "budget": b, "loss": 0.1 + 0.05 * abs(x - 2) + 0.4 / b, "time": b * (1.0 + x)}
               for x in range(6) for y in ("a", "b") for b in LEVELS]
    path = tmp_path / "toy.csv"
    write_generic(path, ["x", "y"], records)
    table = load_generic(path)
    for seed in range(3):
        result = simulate(build("nni-bohb", table, seed=seed), table, workers=2, time_limit=2000,
                          periodical=False, faults=Faults(fail=0.3, seed=seed))
        assert result["error"] is None, result["error"]
        assert any(t["status"] == "FAILED" for t in result["trials"])


# ---- 6. reference points in O(n log n) -------------------------------------------------------------------------
def test_oracle_matches_brute_force(tmp_path):
    """Its speed (O(n log n)) is measured by benchmarks/bench_small_costs.py, not asserted here."""
    rng = np.random.default_rng(0)
    records = [{"a": a, "b": b, "c": c, "budget": lv, "loss": float(rng.random()), "time": float(rng.random() * 100)}
               for a in range(12) for b in range(12) for c in range(12) for lv in (1, 2)]
    path = tmp_path / "big.csv"
    write_generic(path, ["a", "b", "c"], records)
    table = load_generic(path)
    top = [(row.loss, row.time) for (_, level), row in table.rows.items() if level == table.top]
    best, worst = min(l for l, _ in top), max(l for l, _ in top)
    for target in (0.1, 0.01, 0.001, 0.0):
        brute = min((t for l, t in top if (l - best) / (worst - best) <= target + 1e-12), default=None)
        assert table.oracle_time(target) == pytest.approx(brute)


# ---- 7. checkpointing on in the replay -----------------------------------------------------------------------------
def test_checkpointing_writes_the_advisor_state_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    table = curve_table(tmp_path)
    seen = []
    advisor = build("hyperjump", table)
    original = advisor.process_command

    def spy(command, data):
        seen.append(advisor.get_checkpoint_path())
        return original(command, data)

    advisor.process_command = spy
    result = simulate(advisor, table, time_limit=200, checkpoint=True)
    info = result["checkpoint"]
    assert "hyperjump-state.json" in info["files"] and info["bytes"] > 0
    assert set(seen) == {info["folder"]} and not os.path.exists(info["folder"])     # cleaned up afterwards
    assert CHECKPOINT_ENV not in os.environ

    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path))                 # off: unset for the run, then restored
    seen.clear()
    advisor = build("hyperjump", table)
    original = advisor.process_command
    advisor.process_command = spy
    off = simulate(advisor, table, time_limit=200, checkpoint=False)
    assert off["checkpoint"] is None and set(seen) == {None}
    assert os.environ[CHECKPOINT_ENV] == str(tmp_path) and not (tmp_path / "hyperjump-state.json").exists()
    assert [t["config"] for t in off["trials"]] == [t["config"] for t in result["trials"]]   # same decisions


def test_cli_no_checkpoint_flag(tmp_path):
    table_path = tmp_path / "partial.csv"
    _partial_table(tmp_path)
    for flag, expected in (([], True), (["--no-checkpoint"], False)):
        out = tmp_path / f"out{len(flag)}"
        assert replay_main(["--table", str(table_path), "--advisor", "hyperband", "--seeds", "1",
                            "--time-limit", "200", "--out", str(out), "--quiet"] + flag) == 0
        doc = json.loads((out / "results.json").read_text())
        assert doc["settings"]["checkpoint"] is expected
        assert (doc["runs"][0]["checkpoint"] is not None) is expected


# ---- 8/9. run_bench: seeds per advisor, summary and README table ----------------------------------------------------
def test_run_bench_small_suite(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import run_bench
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    rules = run_bench.parse_seeds_for(["syne-*=5", "syne-mobster=0", "syne-mobster=3@cnn-w8"])
    assert run_bench.seeds_of("syne-bo", 20, rules, "unet-w1") == 5
    assert run_bench.seeds_of("hyperjump", 20, rules, "cnn-w8") == 20
    assert run_bench.seeds_of("syne-mobster", 20, rules, "cnn-w8") == 3
    assert run_bench.seeds_of("syne-mobster", 20, rules, "cnn-w1") == 0
    workers_for = run_bench.parse_workers_for(["synthetic:*=8", "synthetic:needle=1,32"])
    assert run_bench.workers_of("synthetic:dense", [1, 8, 32], workers_for) == [8]
    assert run_bench.workers_of("synthetic:needle", [1, 8, 32], workers_for) == [1, 32]
    assert run_bench.workers_of("hyperjump:cnn", [1, 8, 32], workers_for) == [1, 8, 32]
    assert run_bench.folder_name("synthetic:needle", 8) == "synthetic-needle-w8"
    assert run_bench.folder_name("lcbench:189908", 1) == "lcbench-189908-w1"
    table = _partial_table(tmp_path)
    out = tmp_path / "bench"
    assert run_bench.main(["--out", str(out), "--tables", str(table), "--workers", "2", "--seeds", "2",
                           "--seeds-for", "rand*=3", "--seeds-for", "hyperband=0@partial-w2",
                           "--advisors", "hyperjump", "hyperband", "random",
                           "hyperjump:threshold=0", "--iterations", "1"]) == 0
    assert json.loads((out / "partial-w2" / "runs" / "hyperjump:threshold=0.json").read_text())["runs"][0][
        "advisor"] == "hyperjump:threshold=0"
    assert run_bench.main(["--out", str(out), "--tables", str(table), "--advisors", "hyperjump:treshold=0"]) == 2
    chunk = json.loads((out / "partial-w2" / "runs" / "random.json").read_text())
    assert chunk["settings"]["seeds"] == [0, 1, 2] and chunk["wall_seconds"] >= 0
    assert [r["checkpoint"] is not None for r in chunk["runs"]] == [True, False, False]
    assert not (out / "partial-w2" / "runs" / "hyperband.json").exists()
    readme = (out / "README-table.md").read_text()
    assert readme.startswith("| table | W | HyperJump to 10% / 1% | mean rank (of N) | best peer")
    assert "Mean rank over time, averaged over the cells" in readme
    assert "| partial | 2 |" in readme
    summary = (out / "SUMMARY.md").read_text()
    assert "best peer" in summary and "partial-w2/regret.png" in summary
    assert "## Verdicts" in summary and "Verdict against hyperjump" in summary
    assert (out / "chunks.md").exists() and (out / "partial-w2" / "regret.png").exists()
    # a stopped chunk resumes after the seeds it saved (here: a partial file of a 4-seed chunk holding 3 runs)
    longer = dict(chunk["settings"], seeds=[0, 1, 2, 3])
    saved = [dict(r, resumed_marker=True) for r in chunk["runs"]]
    (out / "partial-w2" / "runs" / "random.partial.json").write_text(json.dumps({"settings": longer, "runs": saved}))
    assert run_bench.main(["--out", str(out), "--tables", str(table), "--workers", "2", "--seeds", "2",
                           "--seeds-for", "rand*=4", "--advisors", "random", "--iterations", "1"]) == 0
    resumed = json.loads((out / "partial-w2" / "runs" / "random.json").read_text())["runs"]
    assert [r.get("resumed_marker", False) for r in resumed] == [True, True, True, False]
    assert [r["seed"] for r in resumed] == [0, 1, 2, 3]
    assert not (out / "partial-w2" / "runs" / "random.partial.json").exists()
