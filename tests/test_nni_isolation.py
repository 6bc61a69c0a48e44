"""Tests that start NNI leave the user's NNI alone: their experiments are listed in the test's own registry."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import USER_HOME, USER_REGISTRY, read_registry
from nni.experiment import AlgorithmConfig, Experiment
from test_e2e_nni import TRIAL_DIR, free_port

NNICTL = str(Path(sys.executable).with_name("nnictl"))


def listed_for_the_user() -> str:
    """`nnictl experiment list --all` as the user runs it (the user's HOME, the venv's NNI config)."""
    env = {k: v for k, v in os.environ.items() if k != "NNI_CONFIG_DIR"}
    env["HOME"] = str(USER_HOME)
    return subprocess.run([NNICTL, "experiment", "list", "--all"], env=env, capture_output=True, text=True,
                          timeout=120).stdout


def test_nni_home_points_nnictl_and_the_launcher_at_the_tests_own_registry(nni_home):
    from nni.runtime.config import get_config_directory
    from nni.tools.nnictl.config_utils import Experiments

    assert Path(Experiments().experiment_file) == nni_home.registry != USER_REGISTRY
    assert get_config_directory() == nni_home.config_dir
    assert "HyperJump" in (nni_home.config_dir / "registered_algorithms.yml").read_text()


@pytest.mark.e2e
def test_a_real_experiment_is_listed_in_the_tests_registry_and_not_in_the_users(nni_home, tmp_path):
    users_before = read_registry(USER_REGISTRY)
    exp = Experiment("local")
    exp.config.experiment_name = "hyperjump-e2e-isolation"
    exp.config.search_space = {"x": {"_type": "uniform", "_value": [0.5, 1.0]}}
    exp.config.trial_command = f"{sys.executable} trial.py"
    exp.config.trial_code_directory = str(TRIAL_DIR)
    exp.config.trial_concurrency = 1
    exp.config.max_trial_number = 2
    exp.config.max_experiment_duration = "5m"
    exp.config.experiment_working_directory = str(tmp_path / "experiments")
    exp.config.advisor = AlgorithmConfig(name="HyperJump", class_args={"R": 1, "eta": 3, "seed": 1})
    try:
        assert exp.run(free_port()) is True
    finally:
        exp.stop()

    ours = read_registry(nni_home.registry)
    assert exp.id in ours and ours[exp.id]["logDir"] == str(tmp_path / "experiments")
    assert (tmp_path / "experiments" / exp.id / "log" / "dispatcher.log").exists()
    users_after = read_registry(USER_REGISTRY)
    assert exp.id not in users_after
    # the user's finished experiments are as they were (running ones of other NNI users may change meanwhile)
    finished = {k: v for k, v in users_before.items() if v.get("status") == "STOPPED"}
    assert {k: v for k, v in users_after.items() if k in finished} == finished
    assert exp.id not in listed_for_the_user()
