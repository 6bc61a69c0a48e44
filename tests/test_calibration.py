"""Calibration of the jumps in the replay: realised losses from a table's truth, the tap, the bins, the report."""
from __future__ import annotations

import dataclasses
import json

import pytest

from hyperjump_advisor.records import AUDIT_FILE, Records
from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.calibration import (CalibrationTap, best_true_loss, calibration_markdown,
                                                  calibration_rows, realised_loss, realised_rungs)
from hyperjump_advisor.replay.report import results_document, write_outputs
from hyperjump_advisor.replay.runs import run_one
from hyperjump_advisor.replay.simulator import SimConfig
from hyperjump_advisor.replay.table_csv import load_generic, write_generic
from hyperjump_advisor.replay.tables import BudgetMap, Row, Table, resolve_R_eta

# ---- a tiny hand-made table: x in 0..3, levels 1, 2, 4 (R=4, eta=2); x=3 has no row at the top -----------------
LOSSES = {0: (0.60, 0.45, 0.30), 1: (0.50, 0.40, 0.20), 2: (0.55, 0.42, 0.25), 3: (0.50, 0.35, None)}
IDS = {10: 0, 11: 1, 12: 2, 13: 3}   # the advisor's config ids -> x


@pytest.fixture
def tiny():
    rows = {((float(x),), level): Row(loss, 1.0 + level)
            for x, losses in LOSSES.items() for level, loss in enumerate(losses) if loss is not None}
    table = Table("tiny", ["x"], [1, 2, 4], 2, rows, {"x": [0, 1, 2, 3]},
                  {(float(x),): {"x": x} for x in LOSSES})
    return table, BudgetMap(table, 4, 2)


def tap_of(tiny):
    table, budget_map = tiny
    return CalibrationTap(table, budget_map, lambda c: {"x": IDS[c]}, clock=lambda: 12.5)


def key(x):
    return (float(x),)


def test_realised_loss_is_how_much_better_the_best_discarded_really_was(tiny):
    table, _ = tiny
    assert best_true_loss(table, [key(0), key(3)]) == 0.30          # x=3 has no top-level row: left out
    assert best_true_loss(table, [key(3)]) is None
    assert best_true_loss(table, [key(3), key(2)], level=1) == 0.35
    assert best_true_loss(table, [None, key(1)]) == 0.20            # a configuration the table lacks
    assert realised_loss(0.30, 0.20, 0.5) == pytest.approx(0.2)
    assert realised_loss(0.20, 0.30, 0.5) == 0.0                     # the kept side was better: nothing lost
    assert realised_loss(None, 0.2, 0.5) is None and realised_loss(0.3, None, 0.5) is None
    # async: per skipped rung, the configuration's true loss at that rung's level against the rung's bar
    assert realised_rungs(table, key(3), [1, 0], [0.30, 0.55], 0.25) == pytest.approx([0.2, 0.0])
    assert realised_rungs(table, key(3), [1], [None], 0.25) == [0.0]   # a failed result's bar cannot be missed
    assert realised_rungs(table, key(3), [2], [0.1], 0.25) == [None]   # no row: unknown


def test_tap_scores_a_synchronous_jump_against_the_true_top_level_losses(tiny):
    tap = tap_of(tiny)
    tap({"event": "promotion", "kind": "jump", "bracket": 3, "stage": 0, "to_stage": 2, "finishes_bracket": False,
         "from_budget": 1, "to_budget": 4, "rear_per_hop": [0.01, 0.02], "rejected_rear": None, "threshold": 0.1,
         "incumbent_loss": 0.28, "scale": 0.5, "kept_config_ids": [10], "discarded_config_ids": [11, 12, 13]})
    assert tap.error is None and len(tap.records) == 1
    r = tap.records[0]
    assert r["kind"] == "jump" and r["predicted"] == pytest.approx(0.03) and r["scale"] == 0.5
    assert r["kept_best"] == 0.30 and r["discarded_best"] == 0.20
    assert r["realised"] == pytest.approx((0.30 - 0.20) / 0.5)
    assert r["realised_vs_incumbent"] == pytest.approx((0.28 - 0.20) / 0.5)
    assert r["best_discarded_config"] == {"x": 1} and (r["n_kept"], r["n_discarded"]) == (1, 3)
    assert r["time"] == 12.5
    # the kept configuration was the best one: nothing was lost
    tap({"event": "promotion", "kind": "jump", "stage": 0, "to_stage": 1, "finishes_bracket": False,
         "rear_per_hop": [0.04], "threshold": 0.1, "incumbent_loss": None, "scale": 1.0,
         "kept_config_ids": [11], "discarded_config_ids": [10, 12]})
    assert tap.records[1]["realised"] == 0.0 and tap.records[1]["predicted"] == pytest.approx(0.04)


def test_tap_scores_bracket_ends_and_rung_stops_against_the_incumbent(tiny):
    tap = tap_of(tiny)
    tap({"event": "promotion", "kind": "jump", "stage": 1, "to_stage": None, "finishes_bracket": True,
         "rear_per_hop": [0.003, 0.004], "threshold": 0.1, "incumbent_loss": 0.22, "scale": 0.22,
         "kept_config_ids": [], "discarded_config_ids": [11, 12]})
    tap({"event": "promotion", "kind": "rung_stop", "stage": 1, "to_stage": None, "rear_per_hop": [0.05],
         "threshold": 0.1, "risk_budget": 0.06, "incumbent_loss": 0.28, "scale": 0.28, "kept_config_ids": [],
         "discarded_config_ids": [12]})
    tap({"event": "promotion", "kind": "rung_stop", "stage": 1, "to_stage": None, "rear_per_hop": [0.01],
         "threshold": 0.1, "incumbent_loss": 0.28, "scale": 0.28, "kept_config_ids": [],
         "discarded_config_ids": [10]})
    finish, stop, harmless = tap.records
    assert finish["kind"] == "finish" and finish["predicted"] == pytest.approx(0.007)
    assert finish["realised"] == pytest.approx((0.22 - 0.20) / 0.22)
    assert stop["kind"] == "rung_stop" and stop["realised"] == pytest.approx((0.28 - 0.25) / 0.28)
    assert finish["realised_vs_incumbent"] == finish["realised"] and stop["realised_vs_incumbent"] == stop["realised"]
    assert harmless["realised"] == 0.0


def test_tap_scores_an_async_jump_per_skipped_rung(tiny):
    tap = tap_of(tiny)
    # x=3 promoted out of rung 0 to rung 2: rung 1 skipped (rEAR 0.02); the second rung weighed was rejected
    tap({"event": "async_jump_risk", "config_id": 13, "stage": 0, "to_stage": 2, "rear_per_rung": [0.02, 0.5],
         "threshold": 0.1, "scale": 0.25, "incumbent_loss": 0.25, "rung_budgets": [2, 4], "bars": [0.30, 0.2],
         "bar_measured": [True, False]})
    # an advisor without the bars in its record: nothing to measure the realised loss against
    tap({"event": "async_jump_risk", "config_id": 12, "stage": 0, "to_stage": 2, "rear_per_rung": [0.01],
         "threshold": 0.1})
    r, old = tap.records
    assert r["kind"] == "async_jump" and r["predicted"] == pytest.approx(0.02) and r["rear"] == [0.02]
    assert r["bars"] == [0.30] and r["bar_measured"] == [True]
    assert r["realised_per_rung"] == pytest.approx([(0.35 - 0.30) / 0.25]) and r["realised"] == pytest.approx(0.2)
    assert old["realised"] is None and old["predicted"] == pytest.approx(0.01)


def test_tap_ignores_other_records_and_never_raises_into_the_advisor(tiny):
    tap = tap_of(tiny)
    for record in ({"event": "promotion", "kind": "successive_halving", "kept_config_ids": [10],
                    "discarded_config_ids": [11]},
                   {"event": "promotion", "kind": "asha", "kept_config_ids": [10], "discarded_config_ids": []},
                   {"event": "no_jump", "rear_per_hop": [], "threshold": 0.1},
                   {"event": "incumbent", "config_id": 10}):
        tap(record)
    assert tap.records == [] and tap.error is None
    tap({"event": "promotion", "kind": "jump", "rear_per_hop": [0.01], "threshold": 0.1, "scale": 1.0,
         "kept_config_ids": [99], "discarded_config_ids": [10]})   # an id the searcher does not know
    assert tap.records == [] and "KeyError" in tap.error


def test_calibration_rows_bin_by_predicted_rear():
    def rec(predicted, realised, kind="jump"):
        return {"kind": kind, "predicted": predicted, "realised": realised, "threshold": 0.1}
    records = [rec(0.005, 0.0), rec(0.02, 0.05), rec(0.03, 0.0, "finish"), rec(0.07, 0.2), rec(0.1, None),
               rec(-1e-15, 0.0)]
    rows = {row["label"]: row for row in calibration_rows(records)}
    assert [rows[b]["jumps"] for b in ("[0, 0.01)", "[0.01, 0.05)", "[0.05, 0.1)", ">= 0.1")] == [2, 2, 1, 1]
    mid = rows["[0.01, 0.05)"]
    assert mid["predicted_mean"] == pytest.approx(0.025) and mid["realised_mean"] == pytest.approx(0.025)
    assert mid["above_zero"] == 0.5 and mid["above_threshold"] == 0.0 and mid["realised_max"] == 0.05
    assert rows["[0.05, 0.1)"]["above_threshold"] == 1.0
    assert rows[">= 0.1"]["unknown"] == 1 and rows[">= 0.1"]["realised_mean"] is None
    assert rows["all"]["jumps"] == 6 and rows["all"]["unknown"] == 1 and rows["all"]["vs_incumbent_mean"] is None
    assert rows["kind jump"]["jumps"] == 5 and rows["kind finish"]["jumps"] == 1 and "kind rung_stop" not in rows


def test_calibration_markdown_lists_the_tapped_advisors():
    jump = {"kind": "jump", "predicted": 0.02, "realised": 0.3, "threshold": 0.1}
    document = {"runs": [{"advisor": "hyperjump", "calibration": [jump, jump]},
                         {"advisor": "hyperjump", "calibration": [jump]},
                         {"advisor": "hyperband", "calibration": []},
                         {"advisor": "nni-bohb"}]}
    text = "\n".join(calibration_markdown(document))
    assert "**hyperjump** (3 jumps over 2 seeds" in text
    assert "| [0.01, 0.05) | 3 | 0.0200 | 0.3000 | 100% | 100% | 0.3000 | — | 0 |" in text
    assert "No jumps: hyperband" in text and "nni-bohb" not in text
    assert calibration_markdown({"runs": [{"advisor": "nni-bohb"}]}) == []


# ---- a short replay on a synthetic table ---------------------------------------------------------------
LEVELS = [1, 2, 4, 8]          # eta 2 -> R = 8, TRIAL_BUDGET b is level b


def truth(x, y, budget):
    return 0.1 + 0.05 * abs(x - 2) + (0.03 if y == "b" else 0.0) + 0.4 / budget


@pytest.fixture
def toy(tmp_path):
    records = [{"x": x, "y": y, "budget": b, "loss": truth(x, y, b), "time": b * (1.0 + x) + (0.5 if y == "b" else 0)}
               for x in range(6) for y in ("a", "b") for b in LEVELS]
    path = tmp_path / "toy.csv"
    write_generic(path, ["x", "y"], records)
    return load_generic(path)


def replay_with_audit(name, table, folder, workers=2):
    """A run through run_one, the advisor writing its audit file to ``folder``; (run, advisor)."""
    built = []
    spec = advisors.get(name)

    def builder(**kw):
        advisor = spec.builder(**kw)
        advisor.records = Records(str(folder))   # as in an experiment: hyperjump-audit.jsonl
        built.append(advisor)
        return advisor

    budget_map = resolve_R_eta(table)
    run = run_one(dataclasses.replace(spec, builder=builder), table, budget_map, 0,
                  SimConfig(workers=workers, time_limit=600, checkpoint=False))
    audit = [json.loads(line) for line in (folder / AUDIT_FILE).read_text().splitlines()]
    return run, built[0], audit


@pytest.mark.slow
def test_replay_of_hyperjump_scores_each_audited_jump_with_the_tables_truth(toy, tmp_path):
    run, advisor, audit = replay_with_audit("hyperjump:exec_mode=parallelism", toy, tmp_path)
    assert run["error"] is None and "calibration_error" not in run
    jumps = [r for r in audit if r["event"] == "promotion" and r["kind"] == "jump"]
    records = run["calibration"]
    assert jumps and len(records) == len(jumps)
    configs = advisor.engine.searcher.configs
    by_parameter = {t["parameter_id"]: t["config"] for t in run["trials"]}
    for jump, record in zip(jumps, records):
        assert record["kind"] == ("finish" if jump["finishes_bracket"] else "jump")
        assert record["predicted"] == pytest.approx(sum(jump["rear_per_hop"]), abs=1e-12)
        assert record["predicted"] <= jump["threshold"] + 1e-12
        incumbent = jump["incumbent_loss"]
        assert record["scale"] == pytest.approx(1.0 if incumbent is None else incumbent)  # l* = incumbent - 0
        for side in ("kept", "discarded"):   # the searcher's configurations are the ones the trials ran
            for c, parameter_ids in jump[f"{side}_parameter_ids"].items():
                assert all(by_parameter[p] == {"x": configs[int(c)]["x"], "y": configs[int(c)]["y"]}
                           for p in parameter_ids)
        top = lambda c: truth(configs[c]["x"], configs[c]["y"], LEVELS[-1])  # noqa: E731
        discarded_best = min(top(c) for c in jump["discarded_config_ids"])
        kept_best = incumbent if jump["finishes_bracket"] else min(top(c) for c in jump["kept_config_ids"])
        assert record["realised"] == pytest.approx(max(0.0, kept_best - discarded_best) / record["scale"])
        anchor = kept_best if incumbent is None else min(kept_best, incumbent)
        assert record["realised_vs_incumbent"] == pytest.approx(max(0.0, anchor - discarded_best) / record["scale"])
    assert run["end_reason"] == "time_limit"
    # the report: a calibration table and plot beside the regret plot
    document = results_document(toy, resolve_R_eta(toy), [run], 600, 2)
    out = write_outputs(tmp_path / "out", document)
    report = out["report"].read_text()
    assert "Calibration of the jumps" in report and "**hyperjump:exec_mode=parallelism**" in report and "calibration.png" in report
    assert out["calibration_plot"].stat().st_size > 1000
    assert json.loads(out["results"].read_text())["runs"][0]["calibration"] == json.loads(json.dumps(records))


@pytest.mark.slow
def test_replay_of_hyperjump_async_scores_each_jump_past_rungs(toy, tmp_path):
    run, advisor, audit = replay_with_audit("hyperjump", toy, tmp_path)
    assert run["error"] is None and "calibration_error" not in run
    risky = [r for r in audit if r["event"] == "async_jump_risk"
             or (r["event"] == "promotion" and r["kind"] == "rung_stop")]
    records = run["calibration"]
    assert any(r["event"] == "async_jump_risk" for r in risky) and len(records) == len(risky)
    configs = advisor.engine.searcher.configs
    for source, record in zip(risky, records):
        if source["event"] == "promotion":
            assert record["kind"] == "rung_stop"
            continue
        skipped = source["to_stage"] - source["stage"] - 1
        assert skipped >= 1 and record["kind"] == "async_jump"
        assert record["predicted"] == pytest.approx(sum(source["rear_per_rung"][:skipped]), abs=1e-12)
        c = configs[source["config_id"]]
        expected = sum(0.0 if bar is None else max(0.0, truth(c["x"], c["y"], budget) - bar) / source["scale"]
                       for budget, bar in zip(source["rung_budgets"][:skipped], source["bars"][:skipped]))
        assert record["realised"] == pytest.approx(expected)
