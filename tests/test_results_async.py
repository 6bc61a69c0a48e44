"""``hyperjump-results`` on an async run: every promotion, jump and stop of the audit, counted alike in the
text, JSON, CSV and HTML outputs; the halt and the classArgs refusal at the top; workload diagnostics."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from html import escape
from pathlib import Path

import pytest

from async_run import run_async
from hyperjump_advisor import records
from hyperjump_advisor.results import main

pytestmark = pytest.mark.slow


RECORDED = Path(__file__).resolve().parent / "data" / "quickstart-async"   # a real `nnictl` quick-start run


@pytest.fixture(scope="module")
def async_log(tmp_path_factory):
    """An in-process async run with promotions, jumps and a rung stop (seed 7, 100 results, 4 workers)."""
    folder = tmp_path_factory.mktemp("async-log")
    run_async(folder, trials=100, workers=4, seed=7)
    return folder


@pytest.fixture(params=["in-process", "recorded quick start"])
def any_log(request, async_log):
    return async_log if request.param == "in-process" else RECORDED


def audit_counts(folder) -> Counter:
    kinds = Counter()
    for line in (folder / records.AUDIT_FILE).read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "promotion":
            kinds[event["kind"]] += 1
    return kinds


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_move_of_the_audit_is_counted_alike_in_the_four_outputs(any_log, capsys, tmp_path):
    async_log = any_log
    kinds = audit_counts(async_log)
    promotions, jumps, stops = kinds["asha"] + kinds["challenger"], kinds["async_jump"], kinds["rung_stop"]
    assert promotions and jumps and stops   # each run exercises all three
    assert set(kinds) <= {"asha", "challenger", "async_jump", "rung_stop"}

    _, text, _ = run(capsys, "--dir", str(async_log))
    summary = next(line for line in text.splitlines() if line.startswith("Summary:"))
    assert f"{promotions} promotions ({kinds['asha']} by ASHA's top 1/eta" in summary
    assert f"{jumps} jump{'s' if jumps != 1 else ''} past rungs" in summary
    assert f"{stops} rung stop{'s' if stops != 1 else ''}" in summary
    assert sum(" s  JUMP " in line for line in text.splitlines()) == jumps
    assert sum(" s  STOP " in line for line in text.splitlines()) == stops
    assert sum(" s  promotion " in line for line in text.splitlines()) == promotions
    assert "Brackets (" not in text and "Rungs (3;" in text

    _, out, _ = run(capsys, "--dir", str(async_log), "--json")
    data = json.loads(out)
    assert (data["counts"]["promotions"], data["counts"]["jumps"], data["counts"]["stops"]) == (promotions, jumps,
                                                                                                stops)
    assert Counter(m["kind"] for m in data["moves"]) == {"promotion": promotions, "jump": jumps, "stop": stops}
    for move in (m for m in data["moves"] if m["kind"] == "jump"):
        assert move["to_stage"] - move["stage"] >= 2 and len(move["rear"]) == move["to_stage"] - move["stage"] - 1
        assert sum(move["rear"]) <= move["threshold"] and move["skipped_budgets"] == [3]
        assert move["rule"] in ("asha", "challenger")
    assert sum(r["results"] + r["killed"] + r["late_kills"] for r in data["rungs"]) == len(data["trials"])
    assert [r["budget"] for r in data["rungs"]] == [1, 3, 9]

    _, out, _ = run(capsys, "--dir", str(async_log), "--csv-moves")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert Counter(row["kind"] for row in rows) == {"promotion": promotions, "jump": jumps, "stop": stops}

    page = tmp_path / "report.html"
    code, out, _ = run(capsys, "--dir", str(async_log), "--html", str(page))
    html = page.read_text()
    assert code == 0 and out == ""
    assert escape(summary.removeprefix("Summary: ").rstrip(".")) in html
    assert "Configurations up the rungs" in html and "Bracket and stage timeline" not in html
    assert html.count('src="data:image/png;base64,') == 2


def test_a_halt_is_shown_first_and_the_exit_is_non_zero(async_log, tmp_path, capsys):
    log = tmp_path / "log"
    log.mkdir()
    for name in (records.AUDIT_FILE, records.TRIALS_FILE):
        (log / name).write_text((async_log / name).read_text())
    reason = "HyperJump stopped the experiment: 10 trials in a row gave no usable result.\nIts stderr ends with:\n" \
             "ModuleNotFoundError: No module named 'nonexistent_module'"
    with open(log / records.AUDIT_FILE, "a") as f:
        f.write(json.dumps({"event": "halted", "reason": reason}) + "\n")
    code, out, err = run(capsys, "--dir", str(log))
    assert code == 1 and "ended in error" in err
    assert out.splitlines()[:3] == ["THE EXPERIMENT ENDED IN ERROR:", f"  {reason.splitlines()[0]}",
                                    "  Its stderr ends with:"]
    code, out, _ = run(capsys, "--dir", str(log), "--json")
    data = json.loads(out)
    assert code == 1 and data["halt"] == reason and data["warnings"][0].startswith("the experiment ended in error")


def test_a_classargs_refusal_is_read_from_the_dispatcher_log(tmp_path, capsys):
    (tmp_path / "dispatcher.log").write_text(
        "[2026-12-07 16:00:00] ERROR (nni.runtime.msg_dispatcher_base/MainThread) Report error to NNI manager: "
        "HyperJump: unknown classArgs treshold; allowed: R, eta\n"
        "hyperjump_advisor.settings.ClassArgsError: unknown classArgs treshold; allowed: R, eta\n")
    code, out, err = run(capsys, "--dir", str(tmp_path))
    assert code == 1
    assert out.splitlines()[:2] == ["THE EXPERIMENT ENDED IN ERROR:", "  the advisor refused its classArgs: unknown "
                                    "classArgs treshold; allowed: R, eta"]
    assert "did not use the HyperJump advisor" not in out + err


def test_the_last_workload_diagnostics_event_is_shown(async_log, tmp_path, capsys):
    log = tmp_path / "log"
    log.mkdir()
    (log / records.TRIALS_FILE).write_text((async_log / records.TRIALS_FILE).read_text())
    old = {"event": "workload_diagnostics", "time": 10.0, "calibration": {"n": 3, "coverage_90": 0.1}}
    last = {"event": "workload_diagnostics", "time": 42.0,
            "rank_correlation": [{"low_budget": 1, "high_budget": 9, "n": 12, "spearman": 0.81, "ci_low": 0.5,
                                  "ci_high": 0.93}, {"low_budget": 3}],        # a row missing fields
            "cost_per_budget": [{"budget": 1, "n": 30, "median_seconds": 2.04}],
            "calibration": {"n": 20},
            "brackets": [{"bracket": 0, "start_budget": 9, "seconds_per_start": 18.0, "samples_per_hour": 200.0,
                          "share": 0.25}, {"bracket": 1, "start_budget": 3, "seconds_per_start": 9.5,
                                           "samples_per_hour": None, "share": 0.75}]}
    (log / records.AUDIT_FILE).write_text((async_log / records.AUDIT_FILE).read_text()
                                         + json.dumps(old) + "\n" + json.dumps(last) + "\n")
    _, out, _ = run(capsys, "--dir", str(log))
    section = out.split("Workload diagnostics (at 42 s):\n")[1].split("\n\n")[0]
    assert "budget 1 -> 9: 0.81 [0.5, 0.93] (n=12)" in section
    assert "budget 3 -> ?: ? (n=?)" in section
    assert "budget 1: 2.04 s (n=30)" in section
    assert "held ? of n=20 results" in section and "0.1" not in section
    assert "from budget 9: 25% of the seconds, 18 s per start, worth 200 per hour" in section
    assert "from budget 3: 75% of the seconds, 9.5 s per start, worth not measured yet" in section
    _, out, _ = run(capsys, "--dir", str(log), "--json")
    assert json.loads(out)["workload_diagnostics"] == last
    page = tmp_path / "page.html"
    run(capsys, "--dir", str(log), "--html", str(page))
    assert "Workload diagnostics" in page.read_text() and "0.81 [0.5, 0.93]" in page.read_text()
