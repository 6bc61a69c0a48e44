"""A real NNI experiment with the mnist example: promoted configurations resume from their checkpoints."""
import re
import sys
from pathlib import Path

import pytest
from nni.experiment import AlgorithmConfig, Experiment

from test_e2e_nni import free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist-hyperjump"


@pytest.mark.e2e
def test_promoted_configurations_resume_from_their_checkpoints(nni_home, tmp_path):
    exp = Experiment("local")
    exp.config.search_space_file = str(EXAMPLE / "search_space.json")
    # the checkpoint folder is the test's; trials find it through the environment
    exp.config.trial_command = f"env HYPERJUMP_CHECKPOINT_DIR={tmp_path / 'ckpt'} {sys.executable} mnist.py"
    exp.config.trial_code_directory = str(EXAMPLE)
    exp.config.trial_concurrency = 2
    exp.config.max_trial_number = 13  # bracket 0 of R=9: 9 x 1 epoch, 3 x 3, 1 x 9
    exp.config.max_experiment_duration = "5m"
    exp.config.experiment_working_directory = str(tmp_path)
    exp.config.advisor = AlgorithmConfig(name="HyperJump", class_args={
        "R": 9, "eta": 3, "exec_mode": "serial", "threshold": 0, "seed": 2, "optimize_mode": "maximize"})
    try:
        assert exp.run(free_port()) is True
        assert exp.get_status() == "DONE"
        jobs = exp.list_trial_jobs()
    finally:
        exp.stop()
    starts, trained = [], []
    for job in jobs:
        log = (tmp_path / exp.id / "environments" / "local-env" / "trials" / job.trialJobId / "trial.log").read_text()
        resumed = re.search(r"resumed from epoch (\d+)", log)
        starts.append(int(resumed.group(1)) if resumed else 0)
        trained.append(int(re.search(r"\((\d+) trained in this trial\)", log).group(1)))
    assert sorted(s for s in starts if s > 0) == [1, 1, 1, 3], "the 3 configs at 3 epochs and the 1 at 9 resume"
    assert sum(s + t for s, t in zip(starts, trained)) == 9 * 1 + 3 * 3 + 1 * 9, "every trial reached its budget"
    assert sum(trained) == 9 * 1 + 3 * 2 + 6, "epochs trained with resume: 21 instead of 27 from scratch"
