"""examples/quickstart: the trial function run directly (no NNI) and its config."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hyperjump_advisor.schedule import iteration_plan

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
PARAMS = {"alpha": 1e-4, "eta0": 0.01, "HYPERJUMP_CONFIG_KEY": "c7-quickstart", "HYPERJUMP_RESUME_FROM": 0}


@pytest.fixture(scope="module")
def trial():
    spec = importlib.util.spec_from_file_location("quickstart_trial", QUICKSTART / "trial.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def run(trial, budget, folder, **extra):
    intermediate, final = [], []
    start, accuracy = trial.run(dict(PARAMS, TRIAL_BUDGET=budget, **extra), intermediate.append, final.append,
                                checkpoint_folder=folder)
    return start, accuracy, [r["budget"] for r in intermediate], final


def test_a_promoted_configuration_resumes_from_its_checkpoint(trial, tmp_path):
    start, _, budgets, final = run(trial, 1, tmp_path)
    assert (start, budgets, len(final)) == (0, [1], 1)
    start, resumed, budgets, final = run(trial, 3, tmp_path, HYPERJUMP_RESUME_FROM=1)
    assert start == 1 and budgets == [2, 3]          # only the missing epochs, each with its budget
    assert final == [resumed]
    _, uninterrupted, budgets, _ = run(trial, 3, tmp_path / "fresh")
    assert budgets == [1, 2, 3] and resumed == pytest.approx(uninterrupted)


def test_without_a_configuration_key_it_trains_from_scratch(trial, tmp_path):
    params = {"alpha": 1e-4, "eta0": 0.01, "TRIAL_BUDGET": 2}
    intermediate, final = [], []
    assert trial.run(params, intermediate.append, final.append, checkpoint_folder=tmp_path)[0] == 0
    assert [r["budget"] for r in intermediate] == [1, 2] and list(tmp_path.iterdir()) == []


def test_the_trial_stays_short():
    assert len((QUICKSTART / "trial.py").read_text().splitlines()) < 60


def test_the_config_uses_hyperjump_and_leaves_room_for_one_iteration():
    from nni.experiment import ExperimentConfig

    config = ExperimentConfig.load(str(QUICKSTART / "config.yml"))
    algorithm = config.advisor or config.tuner
    assert algorithm.name == "HyperJump"
    R, eta = algorithm.class_args["R"], algorithm.class_args["eta"]
    one_iteration = sum(stage.n for bracket in iteration_plan(R, eta) for stage in bracket)
    assert config.max_trial_number >= one_iteration
    assert set(config.search_space) == {"alpha", "eta0"}
