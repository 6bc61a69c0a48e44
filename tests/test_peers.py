"""Peer advisors (other libraries' schedulers) under the replay: each runs in its family's
environment, obeys the worker limit, uses only the Hyperband budget levels, and returns a run
record of the common schema. A peer whose environment is missing is skipped with the setup
command as the reason (``python -m hyperjump_advisor.replay --setup-peers``)."""
from __future__ import annotations

import itertools
import json

import pytest

from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.__main__ import main as replay_main
from hyperjump_advisor.replay.peers import PEERS, envs
from hyperjump_advisor.replay.peers.runner import PeerEnvironmentMissing, PeerSpec
from hyperjump_advisor.replay.simulator import SimConfig
from hyperjump_advisor.replay.table_csv import load_generic, write_generic
from hyperjump_advisor.replay.tables import resolve_R_eta

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast

LEVELS = [1, 3, 9, 27]                   # eta 3, R = 27
A, B, C = [1, 2, 3, 4], [0.1, 0.2, 0.3], ["x", "y"]
WORKERS = 3
TODAY = ["hyperjump", "hyperband", "nni-hyperband", "nni-bohb", "random"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """24 configurations x 4 levels; a loss that falls with the budget, intermediate losses,
    times that differ per configuration."""
    records = []
    for a, b, c in itertools.product(A, B, C):
        base = 0.1 * abs(a - 2.6) + abs(b - 0.2) + (0.05 if c == "y" else 0.0)
        losses = [base + 0.5 / budget for budget in LEVELS]
        for i, budget in enumerate(LEVELS):
            records.append({"a": a, "b": b, "c": c, "budget": budget, "loss": losses[i],
                            "time": budget * (5.0 + a) + (1.0 if c == "y" else 0.0), "intermediate": losses[:i]})
    path = tmp_path_factory.mktemp("peers") / "tiny.csv"
    write_generic(path, ["a", "b", "c"], records)
    table = load_generic(path)
    return table, resolve_R_eta(table)


def _needs_env(name):
    ready, why = envs.status(PEERS[name].family)
    return pytest.mark.skipif(not ready, reason=why)


def _peak_concurrency(run) -> int:
    end = run["end_time"]
    spans = [(t["start"], t["end"]) for t in run["trials"]] + [(u["start"], end) for u in run["unfinished"]]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])  # an end before a start at a tie
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", [pytest.param(n, marks=_needs_env(n)) for n in PEERS])
def test_peer_replays_within_the_rules(tiny, name, seed):
    table, budget_map = tiny
    config = SimConfig(workers=WORKERS, time_limit=1500, max_trials=14)
    run = advisors.get(name).run(table, budget_map, seed, config)
    assert run["error"] is None, run["error"]
    assert run["end_reason"] in ("time_limit", "max_trials", "no_more_trials"), run["end_reason"]
    assert run["trials"] and run["initialized"]
    # the worker limit: never more than W trials at once, never a queued NewTrialJob
    assert run["queued_trials"] == 0 and _peak_concurrency(run) <= WORKERS
    assert {t["worker"] for t in run["trials"]} <= set(range(WORKERS))
    # only the Hyperband budget levels
    for trial in run["trials"] + run["unfinished"]:
        assert trial["trial_budget"] in budget_map.budgets
    for trial in run["trials"]:
        assert trial["budget"] in LEVELS and trial["status"] in ("SUCCEEDED", "KILLED", "FAILED")
        assert set(trial["config"]) == {"a", "b", "c"} and table.lookup(trial["config"], 0) is not None
        assert (trial["loss"] is None) == (trial["status"] != "SUCCEEDED")
        assert trial.get("killed_by", "advisor") == "advisor" and trial["status"] != "FAILED"
    # the schema of every run, plus the peer's fields
    assert isinstance(run["advisor_seconds"], float) and run["advisor_seconds"] >= 0
    assert isinstance(run["decisions"], int) and len(run["decision_ms"]) == run["decisions"]
    times = [at for at, _ in run["incumbent"]]
    losses = [loss for _, loss in run["incumbent"]]
    assert times == sorted(times) and losses == sorted(losses, reverse=True)
    assert run["resumes"] is PEERS[name].resumes
    assert run["peer"]["family"] == PEERS[name].family
    assert all(run["peer"]["versions"][lib] for lib in PEERS[name].libraries)
    json.dumps(run)
    # resumes: only peers that pause and resume send the resume key, always from a real checkpoint
    assert run["resume_without_checkpoint"] == 0
    if not PEERS[name].resumes:
        assert run["resumed_trials"] == 0 and not any("resumed_from" in t for t in run["trials"])
    if name in ("syne-asha-stop", "optuna-hyperband"):       # trials aim at R and are stopped on the way
        assert {t["trial_budget"] for t in run["trials"]} == {budget_map.R}


@pytest.mark.parametrize("name", [pytest.param(n, marks=_needs_env(n)) for n in ("syne-asha", "syne-hyperband")])
def test_resuming_peer_pays_only_the_extra_time(tiny, name):
    table, _ = tiny
    budget_map = resolve_R_eta(table, R=9)   # budgets 1, 3, 9: promotions come within the 24 configurations
    run = advisors.get(name).run(table, budget_map, 0, SimConfig(workers=2, time_limit=3000, max_trials=30))
    assert run["error"] is None, run["error"]
    resumed = [t for t in run["trials"] if "resumed_from" in t]
    assert resumed and run["resumed_trials"] >= len(resumed)
    for t in resumed:
        below = table.lookup(t["config"], t["resumed_from"]).time
        full = table.lookup(t["config"], LEVELS.index(t["budget"])).time
        assert t["end"] - t["start"] == pytest.approx(full - below)


def test_peer_seeds_are_reproducible(tiny):
    name = next((n for n in ("optuna-hyperband", "syne-asha", "dehb") if envs.status(PEERS[n].family)[0]), None)
    if name is None:
        pytest.skip(f"no peer environment; create them with: {envs.SETUP_COMMAND}")
    table, budget_map = tiny
    config = SimConfig(workers=2, time_limit=800, max_trials=10)
    first, second = (advisors.get(name).run(table, budget_map, 3, config) for _ in range(2))
    assert [t["config"] for t in first["trials"]] == [t["config"] for t in second["trials"]]


# ---- without environments ----------------------------------------------------------------------------
def test_every_peer_is_registered_after_todays_advisors():
    names = list(advisors.REGISTRY)
    assert set(TODAY) <= set(names) and set(PEERS) <= set(names)
    assert max(names.index(n) for n in TODAY) < min(names.index(n) for n in PEERS)
    assert all(isinstance(advisors.get(n), PeerSpec) for n in PEERS)


def test_list_advisors_names_missing_environments(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(envs.DIR_VARIABLE, str(tmp_path / "none"))
    assert replay_main(["--list-advisors"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == list(advisors.REGISTRY)
    assert envs.SETUP_COMMAND in err
    for family in envs.FAMILIES:
        assert f"family {family!r} is missing" in err


def test_a_peer_without_environment_fails_clearly(tmp_path, monkeypatch, capsys, tiny):
    monkeypatch.setenv(envs.DIR_VARIABLE, str(tmp_path / "none"))
    code = replay_main(["--table", "hyperjump:cnn", "--advisor", "hyperjump", "--advisor", "dehb",
                        "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'dehb'" in err and envs.SETUP_COMMAND in err and not (tmp_path / "out").exists()
    with pytest.raises(PeerEnvironmentMissing, match="--setup-peers"):
        advisors.get("syne-asha").build(R=27, eta=3, seed=0)
    table, budget_map = tiny
    run = advisors.get("optuna-hyperband").run(table, budget_map, 0, SimConfig())
    assert "--setup-peers" in run["error"] and run["trials"] == [] and run["end_reason"] == "error"


def test_an_environment_with_other_pins_is_outdated(tmp_path, monkeypatch):
    monkeypatch.setenv(envs.DIR_VARIABLE, str(tmp_path))
    python = envs.env_python("modern")
    python.parent.mkdir(parents=True)
    python.write_text("")
    marker = envs.env_dir("modern") / envs.MARKER
    marker.write_text(json.dumps({"fingerprint": envs.FAMILIES["modern"].fingerprint()}))
    assert envs.status("modern") == (True, "")
    marker.write_text(json.dumps({"fingerprint": "something else"}))
    ready, why = envs.status("modern")
    assert not ready and "outdated" in why and f"{envs.SETUP_COMMAND} modern" in why


def test_replay_arguments_are_required_only_to_replay(capsys):
    with pytest.raises(SystemExit):
        replay_main(["--table", "hyperjump:cnn"])
    assert "required to replay: --advisor, --out" in capsys.readouterr().err
    assert replay_main(["--setup-peers", "no-such-family"]) == 2
    assert "unknown peer family" in capsys.readouterr().err
