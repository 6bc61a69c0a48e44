"""The advisor's own clock in a real NNI 3.0 experiment (issue 20): NNI never delivers PING, so a trial
that exits 0 without a final metric, the last of its stage in serial mode, stalled the experiment for good.
Its stage must go on once the (short) final_grace_seconds passed, with no command from NNI."""
import sys
from pathlib import Path

import pytest
from nni.experiment import AlgorithmConfig, Experiment

from test_e2e_nni import TRIAL_DIR, free_port

MAX_TRIALS = 4  # the first bracket of R=3, eta=3: three trials at budget 1, then one at budget 3


@pytest.mark.e2e
def test_trials_without_a_final_metric_never_stall_a_serial_experiment(nni_home, tmp_path):
    exp = Experiment("local")
    exp.config.experiment_name = "hyperjump-e2e-clock"
    exp.config.search_space = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}
    exp.config.trial_command = f"{sys.executable} no_final_trial.py"
    exp.config.trial_code_directory = str(TRIAL_DIR)
    exp.config.trial_concurrency = 2
    exp.config.max_trial_number = MAX_TRIALS
    exp.config.max_experiment_duration = "4m"  # a stall ends here, DONE but with fewer trials
    exp.config.experiment_working_directory = str(tmp_path)
    exp.config.advisor = AlgorithmConfig(name="HyperJump", class_args={
        "R": 3, "eta": 3, "exec_mode": "serial", "optimize_mode": "maximize", "seed": 3,
        "final_grace_seconds": 2, "max_consecutive_failures": 0})
    try:
        assert exp.run(free_port()) is True
        status = exp.get_status()
        jobs = exp.list_trial_jobs()
    finally:
        exp.stop()
    log = Path(tmp_path, exp.id, "log", "dispatcher.log").read_text()
    assert status == "DONE"
    assert len(jobs) == MAX_TRIALS, f"the experiment stalled after {len(jobs)} trials:\n{log[-3000:]}"
    assert all(job.status == "SUCCEEDED" for job in jobs)
    assert log.count("its final metric never came") >= MAX_TRIALS - 1  # the last may end after DONE
    assert "Traceback" not in log
