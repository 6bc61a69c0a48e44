"""Ablations as settings: ``NAME:KEY=VALUE,...`` advisor names, checked through the advisor's own settings."""
from __future__ import annotations

import json

import pytest

from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.__main__ import main as replay_main
from hyperjump_advisor.replay.overrides import REPLAY_OWNED, OverrideError, ReplaySwitches, split_name
from hyperjump_advisor.settings import Settings


def test_overrides_reach_the_built_advisors_settings():
    spec = advisors.get("hyperjump:threshold=0,random_fraction=1,exec_mode=parallelism")
    assert spec.name == "hyperjump:threshold=0,random_fraction=1,exec_mode=parallelism"
    settings = spec.build(R=9, eta=3, seed=4).settings
    assert (settings.threshold, settings.random_fraction, settings.exec_mode, settings.seed) == (0, 1, "parallelism", 4)
    assert advisors.get("hyperjump").build(R=9, eta=3, seed=0).settings.threshold == Settings().threshold


def test_overrides_apply_on_top_of_a_named_advisors_class_args():
    settings = advisors.get("hyperband:exec_mode=async").build(R=9, eta=3, seed=0).settings
    assert settings.exec_mode == "async" and settings.threshold == 0 and settings.pause_resume is False


def test_every_classarg_the_advisor_accepts_is_an_override():
    """Any classArg of Settings (including ones added later) resolves; its default value round-trips."""
    for key in Settings.allowed_keys():
        if key in REPLAY_OWNED:
            continue
        default = getattr(Settings(), key)
        if default is None:
            continue
        spec = advisors.get(f"hyperjump:{key}={json.dumps(default)}")
        assert spec.class_args == {key: default}


@pytest.mark.parametrize("name, words", [
    ("hyperjump:treshold=0", ["treshold", "classArgs: ", "threshold"]),
    ("hyperjump:threshold=-1", ["classArgs.threshold", ">= 0"]),
    ("hyperjump:exec_mode=asha", ["classArgs.exec_mode", "parallelism", "async"]),
    ("hyperjump:R=27", ["R is set by the replay", "--R"]),
    ("hyperjump:seed=3", ["seed is set by the replay"]),
    ("random:threshold=0", ["random takes no overrides", "hyperjump"]),
    ("hyperjump:several_brackets=0", ["several_brackets must be true or false"]),
    ("hyperjump:jump_guard=-1", ["jump_guard must be an integer >= 0"]),
    ("hyperjump:threshold", ["'threshold' is not KEY=VALUE"]),
    ("hyperjump:threshold=0,threshold=1", ["threshold is given twice"]),
])
def test_a_bad_override_names_the_key_and_the_fix(name, words):
    with pytest.raises(OverrideError) as error:
        advisors.get(name)
    assert all(w in str(error.value) for w in words), str(error.value)


def test_values_are_json_or_text():
    assert split_name("hyperjump:a=0,b=0.5,c=true,d=parallelism,e=\"x\"") == \
        ("hyperjump", {"a": 0, "b": 0.5, "c": True, "d": "parallelism", "e": "x"})
    assert split_name("syne-asha") == ("syne-asha", {})


def test_replay_switches_are_set_on_the_engine():
    advisor = advisors.get("hyperjump:several_brackets=false,explain_jumps=false,pending_aware=true").build(
        R=9, eta=3, seed=0)
    scheduler = advisor.engine.scheduler
    assert scheduler.several_brackets is False and scheduler.explain_jumps is False
    assert scheduler.promote_challengers is ReplaySwitches().promote_challengers
    assert advisor.engine.searcher.options.pending_aware is True
    plain = advisors.get("hyperjump").build(R=9, eta=3, seed=0)
    assert plain.engine.scheduler.several_brackets is True and type(plain).__name__ == "HyperJump"
    assert plain.engine.scheduler.config_batch == 10
    assert advisors.get("hyperjump:config_batch=1").build(R=9, eta=3, seed=0).engine.scheduler.config_batch == 1


def test_the_cli_refuses_a_typo_before_replaying(capsys, tmp_path):
    code = replay_main(["--table", "x.csv", "--advisor", "hyperjump:random_fractoin=1", "--out", str(tmp_path)])
    assert code == 2 and "random_fractoin" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
