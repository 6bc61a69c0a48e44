"""``hyperjump-results``: reads the advisor's records from a (fake) experiment log folder."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hyperjump_advisor import records, results
from hyperjump_advisor.results import report
from hyperjump_advisor.results import main

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast

T0 = 1_700_000_000.0
HEADER = {"event": "header", "time": T0, "class_args": {"R": 9, "eta": 3, "optimize_mode": "maximize"},
          "R": 9, "eta": 3, "plan": [[[9, 1], [3, 3], [1, 9]], [[5, 3], [1, 9]], [[3, 9]]]}


def trial(pid, job, config, bracket, stage, budget, status, metric, jumped=0, killed=0, t=0.0, **params):
    loss = "" if metric == "" else 1 - metric
    return [pid, job, config, bracket, stage, budget, status, metric, loss, jumped, killed, T0 + t,
            json.dumps(params or {"lr": 0.01 * (config + 1), "units": 32})]


TRIAL_ROWS = (
    [trial(p, f"job{p:02d}", p, 0, 0, 1, "DONE", 0.5 + 0.01 * p, t=1 + p) for p in range(9)]
    + [trial(9, "job09", 3, 0, 1, 3, "DONE", 0.80, t=12),
       trial(10, "job10", 0, 0, 1, 3, "DONE", 0.70, t=13),
       trial(11, "job11", 5, 0, 1, 3, "SKIPPED", "", jumped=1, killed=1, t=14),
       trial(12, "job12", 3, 0, 2, 9, "DONE", 0.95, t=20),
       trial(13, "job13", 9, 1, 0, 3, "DONE", 0.99, t=15),      # best metric overall, but at budget 3
       trial(14, "job14", 10, 1, 0, 3, "DONE", 0.60, t=16),
       trial(15, "job15", 11, 1, 1, 9, "FAILED", "", t=22),     # revised below by a late result
       trial(16, "job16", 12, 1, 0, 3, "SKIPPED", "", jumped=1, t=17),
       trial(15, "job15", 11, 1, 1, 9, "DONE", 0.97, t=23)]
)

EVENTS = [
    HEADER,
    {"event": "bracket", "bracket": 0, "iteration": 0, "s": 2, "no_jump": False,
     "config_ids": list(range(9)), "time": T0 + 0.5},
    {"event": "bracket", "bracket": 1, "iteration": 0, "s": 1, "no_jump": False,
     "config_ids": [9, 10, 11, 12, 13], "time": T0 + 11},
    {"event": "bracket", "bracket": 2, "iteration": 0, "s": 0, "no_jump": True,
     "config_ids": [14, 15, 16], "time": T0 + 24},
    {"event": "promotion", "bracket": 0, "stage": 0, "to_stage": 1, "from_budget": 1, "to_budget": 3,
     "kept_config_ids": [3, 0, 5], "discarded_config_ids": [1, 2, 4, 6, 7, 8], "kind": "successive_halving",
     "time": T0 + 10},
    {"event": "no_jump", "bracket": 0, "stage": 1, "rear_per_hop": [0.4], "threshold": 0.1, "time": T0 + 12.5},
    {"event": "promotion", "bracket": 0, "stage": 1, "to_stage": 2, "from_budget": 3, "to_budget": 9,
     "kept_config_ids": [3], "discarded_config_ids": [0, 5], "kind": "jump", "rear_per_hop": [0.0123],
     "rejected_rear": None, "threshold": 0.1, "finishes_bracket": False, "time": T0 + 14},
    {"event": "promotion", "bracket": 1, "stage": 0, "to_stage": 1, "from_budget": 3, "to_budget": 9,
     "kept_config_ids": [11], "discarded_config_ids": [9, 10, 12, 13], "kind": "successive_halving",
     "time": T0 + 18},
    {"event": "incumbent", "config_id": 3, "parameter_id": 12, "metric": 0.95, "budget": 9, "time": T0 + 20},
    {"event": "incumbent", "config_id": 11, "parameter_id": 15, "metric": 0.97, "budget": 9, "time": T0 + 23},
]


def write_csv(path: Path, rows) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(records.TRIAL_COLUMNS)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def write_jsonl(path: Path, events) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


@pytest.fixture
def experiment(tmp_path, monkeypatch) -> Path:
    """~/nni-experiments/abc123/log with both record files (HOME is a temporary folder)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    log = tmp_path / "nni-experiments" / "abc123" / "log"
    log.mkdir(parents=True)
    (log / "dispatcher.log").write_text("")
    write_csv(log / records.TRIALS_FILE, TRIAL_ROWS)
    write_jsonl(log / records.AUDIT_FILE, EVENTS)
    return log.parent


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_report_by_experiment_id(experiment, capsys):
    code, out, err = run(capsys, "abc123")
    assert code == 0, err
    assert "R=9, eta=3" in out
    assert "job12" in out and "lr=0.04" in out                    # NNI trial id and the true configuration
    killed = next(line for line in out.splitlines() if line.startswith("job11"))
    assert "killed by a jump" in killed and "SKIPPED" in killed
    assert "jumped over" in next(line for line in out.splitlines() if line.startswith("job16"))
    assert "bracket 2 (iteration 0, s=0): 3 configurations [14, 15, 16]  [no-jump" in out
    assert "bracket 0 (iteration 0, s=2): 9 configurations [0, 1, 2, 3, 4, 5, 6, 7, 8]\n" in out
    jump = next(line for line in out.splitlines() if "JUMP" in line)
    assert "stage 1 -> stage 2 (budget 3 -> 9)" in jump and "rEAR per hop 0.0123" in jump
    assert "threshold 0.1" in jump and "kept [3], discarded [0, 5]" in jump
    assert "promotion bracket 0: stage 0 -> stage 1 (budget 1 -> 3): kept [3, 0, 5]" in out
    assert "(2 successive-halving promotions, 1 jump):" in out
    assert "1 sampled risk evaluation did not jump" in out
    assert "after 23.0 s: config 11 (parameter id 15): metric 0.97" in out


def test_best_is_at_the_full_budget_and_uses_the_revised_row(experiment, capsys):
    _, out, _ = run(capsys, "abc123")
    best = out.split("Best configuration at the full budget R=9: ")[1].splitlines()[0]
    assert best.startswith("metric 0.97 (config 11, trial job15, parameter id 15)")   # not 0.99 at budget 3


def test_last_row_of_a_parameter_id_wins(experiment):
    records = results.load_records(experiment / "log")
    rows = [t for t in records.trials if t.parameter_id == 15]
    assert len(rows) == 1 and rows[0].status == "DONE" and rows[0].metric == 0.97
    assert len(records.trials) == 17


def test_csv_output_is_one_row_per_trial(experiment, capsys):
    code, out, _ = run(capsys, "--dir", str(experiment), "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 17 and tuple(rows[0].keys()) == records.TRIAL_COLUMNS
    by_id = {row["parameter_id"]: row for row in rows}
    assert by_id["15"]["status"] == "DONE" and by_id["11"]["killed"] == "1"
    assert json.loads(by_id["12"]["parameters"]) == {"lr": 0.04, "units": 32}


def test_json_output_has_everything(experiment, capsys):
    code, out, _ = run(capsys, "--dir", str(experiment / "log"), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["full_budget"] == 9 and data["header"]["eta"] == 3
    assert data["best_at_full_budget"]["parameter_id"] == 15
    assert len(data["trials"]) == 17 and len(data["brackets"]) == 3
    assert [p["kind"] for p in data["promotions"]] == ["successive_halving", "jump", "successive_halving"]
    assert len(data["no_jump"]) == 1 and len(data["incumbents"]) == 2


def test_html_page_is_self_contained(experiment, capsys, tmp_path):
    page = tmp_path / "report.html"
    code, out, err = run(capsys, "abc123", "--html", str(page))
    assert code == 0 and f"wrote {page}" in err and out == ""     # quiet on stdout
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 2
    assert "http://" not in text and "https://" not in text
    assert "job15" in text


def test_a_truncated_last_line_is_ignored_with_a_note(experiment, capsys):
    log = experiment / "log"
    with open(log / records.TRIALS_FILE, "a") as f:
        f.write("17,job17,13,1,1,9,DO")                            # the advisor is writing this row
    with open(log / records.AUDIT_FILE, "a") as f:
        f.write('{"event": "incumbent", "config_id": 1')
    code, out, _ = run(capsys, "abc123")
    assert code == 0
    assert "job17" not in out and "metric 0.97 (config 11" in out
    assert "last line of the trials file is incomplete" in out
    assert "last line of the audit file is incomplete" in out


def test_a_running_experiment_without_finished_trials(tmp_path, capsys):
    write_jsonl(tmp_path / records.AUDIT_FILE, EVENTS[:2])
    code, out, _ = run(capsys, "--dir", str(tmp_path))
    assert code == 0
    assert "none yet" in out and "no hyperjump-trials.csv yet" in out


def test_minimize_mode_picks_the_lowest_metric_by_loss(tmp_path, capsys):
    header = dict(HEADER, class_args={"R": 9, "eta": 3, "optimize_mode": "minimize"})
    rows = [[1, "a", 1, 0, 0, 9, "DONE", 0.2, 0.2, 0, 0, T0, "{}"],
            [2, "b", 2, 0, 0, 9, "DONE", 0.1, 0.1, 0, 0, T0, "{}"]]
    write_csv(tmp_path / records.TRIALS_FILE, rows)
    write_jsonl(tmp_path / records.AUDIT_FILE, [header])
    assert results.best_at_full_budget(results.load_records(tmp_path)).parameter_id == 2


def test_unknown_experiment_lists_where_it_looked(experiment, capsys):
    code, _, err = run(capsys, "nosuchid")
    assert code == 2
    assert "Unknown experiment 'nosuchid'" in err
    assert str(experiment.parent / "nosuchid" / "log") in err


def test_an_experiment_in_a_custom_working_directory_is_found_through_nnis_list(experiment, tmp_path, capsys):
    custom = tmp_path / "elsewhere"
    (custom / "xyz789" / "log").mkdir(parents=True)
    write_csv(custom / "xyz789" / "log" / records.TRIALS_FILE, TRIAL_ROWS[:2])
    (experiment.parent / ".experiment").write_text(json.dumps({"xyz789": {"logDir": str(custom)}}))
    code, out, err = run(capsys, "xyz789")
    assert code == 0, err
    assert "job01" in out


def test_an_experiment_without_hyperjump_records(tmp_path, capsys):
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "dispatcher.log").write_text("")
    code, _, err = run(capsys, "--dir", str(tmp_path))
    assert code == 2
    assert "No HyperJump records" in err and "did not use the HyperJump advisor" in err


def test_an_audit_from_an_older_advisor_is_named_as_such(tmp_path, capsys):
    write_jsonl(tmp_path / records.AUDIT_FILE, [{"event": "jump", "bracket": 0, "stage": 0}])
    code, _, err = run(capsys, "--dir", str(tmp_path))
    assert code == 2 and "older version" in err


def test_a_folder_that_is_not_an_experiment(tmp_path, capsys):
    code, _, err = run(capsys, "--dir", str(tmp_path))
    assert code == 2 and "neither an NNI experiment folder nor its log folder" in err


def test_plan_gives_one_iteration_trial_count(capsys):
    code, out, _ = run(capsys, "--plan", "27", "3")
    assert code == 0
    assert "R=27, eta=3: 69 trials in 4 brackets" in out
    assert "s=3: 27 x 1, 9 x 3, 3 x 9, 1 x 27   (40 trials)" in out


def test_module_entry_point(experiment):
    done = subprocess.run([sys.executable, "-m", "hyperjump_advisor.results", "--dir", str(experiment), "--csv"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("parameter_id,trial_job_id,config_id")


def test_a_jump_that_finishes_its_bracket_says_so():
    line = report.promotion_line({"bracket": 4, "stage": 0, "to_stage": None, "from_budget": 3, "to_budget": None,
                                   "kept_config_ids": [], "discarded_config_ids": [26, 27], "kind": "jump",
                                   "rear_per_hop": [0.08, 0.01], "rejected_rear": None, "threshold": 0.1,
                                   "finishes_bracket": True})
    assert "stage 0 -> end of bracket (from budget 3; no larger budget is trained)" in line
    assert "rEAR per hop 0.08, 0.01" in line and "None" not in line


def test_a_killed_trial_that_finished_first_counts_once_as_completed(tmp_path, capsys):
    """The kill came after the trial's end (NNI says SUCCEEDED): its result is real, counted once."""
    rows = [[1, "a", 1, 0, 2, 9, "DONE", 0.80, -0.80, 0, 0, T0 + 1, "{}"],
            [2, "b", 2, 0, 2, 9, "SKIPPED", "", "", 1, 1, T0 + 2, "{}"],          # the kill is recorded ...
            [2, "b", 2, 0, 2, 9, "SKIPPED", 0.90, "", 1, 1, T0 + 3, "{}"],        # ... then its FINAL arrives
            [3, "c", 3, 0, 2, 9, "SKIPPED", "", "", 1, 1, T0 + 4, "{}"]]          # killed for real
    write_csv(tmp_path / records.TRIALS_FILE, rows)
    write_jsonl(tmp_path / records.AUDIT_FILE, [dict(HEADER, plan=[[[9, 1], [3, 3], [1, 9]]],
                                                     class_args={"R": 9, "eta": 3, "exec_mode": "async"})])
    loaded = results.load_records(tmp_path)
    late = next(t for t in loaded.trials if t.parameter_id == 2)
    assert (late.status, late.fate, late.jumped) == ("DONE", "completed after a late kill", False)
    assert results.best_at_full_budget(loaded).parameter_id == 2
    assert [(r.results, r.killed, r.late_kills) for r in loaded.rungs] == [(0, 0, 0), (0, 0, 0), (1, 1, 1)]
    _, out, _ = run(capsys, "--dir", str(tmp_path))
    lines = [line for line in out.splitlines() if line.startswith(("a ", "b ", "c "))]
    assert len(lines) == 3
    assert "DONE" in lines[1] and "completed after a late kill" in lines[1]
    assert "SKIPPED" in lines[2] and "killed by a rung stop" in lines[2]
    _, out, _ = run(capsys, "--dir", str(tmp_path), "--csv")
    assert [row["status"] for row in csv.DictReader(io.StringIO(out))] == ["DONE", "DONE", "SKIPPED"]
