"""nnictl stop in the middle of a bracket, nnictl resume, and the advisor carries on where it was."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from nni.experiment import Experiment

from test_e2e_nni import TRIAL_DIR, free_port, parameters_the_trial_ran

NNICTL = str(Path(sys.executable).with_name("nnictl"))


def nnictl(*args):
    result = subprocess.run([NNICTL, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for(predicate, timeout, what):
    """Returns as soon as predicate() holds; the timeout only bounds a hang (generous: no speed claim)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
def test_nnictl_stop_and_resume_continue_the_same_bracket(nni_home, tmp_path):
    config = {
        "searchSpace": {"x": {"_type": "uniform", "_value": [0.0, 1.0]}},
        "trialCommand": f"{sys.executable} slow_trial.py",
        "trialCodeDirectory": str(TRIAL_DIR),
        "trialConcurrency": 2,
        "maxTrialNumber": 16,  # the first bracket (9 + 3 + 1) plus the trials re-run after the resume
        "maxExperimentDuration": "5m",
        "experimentWorkingDirectory": str(tmp_path),
        "advisor": {"name": "HyperJump",
                    "classArgs": {"R": 9, "eta": 3, "exec_mode": "serial", "threshold": 0, "seed": 5}},
        "trainingService": {"platform": "local"},
    }
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    nnictl("create", "--config", str(tmp_path / "config.yml"), "--port", str(port))
    exp_id = next(p.name for p in tmp_path.iterdir() if p.is_dir() and p.name != "_latest")
    try:
        exp = Experiment.connect(port)
        wait_for(lambda: sum(j.status == "SUCCEEDED" for j in exp.list_trial_jobs()) >= 5, 600, "5 trials")
        nnictl("stop", exp_id)
        assert (tmp_path / exp_id / "checkpoint" / "hyperjump-state.json").exists()

        port = free_port()
        nnictl("resume", exp_id, "--port", str(port))
        exp = Experiment.connect(port)
        wait_for(lambda: exp.get_status() in ("DONE", "ERROR"), 900, "DONE after the resume")
        assert exp.get_status() == "DONE"
        jobs = exp.list_trial_jobs()
    finally:
        subprocess.run([NNICTL, "stop", exp_id], capture_output=True, timeout=120)

    log = (tmp_path / exp_id / "log" / "dispatcher.log").read_text()
    assert "resume: restored 1 brackets" in log and "Traceback" not in log
    trial_root = tmp_path / exp_id / "environments" / "local-env" / "trials"
    succeeded = []
    for job in jobs:
        if job.status == "SUCCEEDED":
            params = parameters_the_trial_ran(trial_root / job.trialJobId / "trial.log")
            succeeded.append((params["x"], params["TRIAL_BUDGET"]))
    assert len(succeeded) == len(set(succeeded)), "no configuration ran twice at a budget it had finished"
    first_stage = [x for x, budget in succeeded if budget == 1]
    # NNI issue 5726 also strikes the trials NNI re-runs at a resume: a job may run another re-run's parameters,
    # and the stall guard (on the advisor's own clock) then fails the parameter no job ran, after min_lost_seconds.
    lost = re.findall(r"parameter \d+ \(config \d+, budget 1\) has had no job", log)
    assert len(first_stage) + len(lost) == 9, "the resumed advisor finished bracket 0 instead of starting over"
    promoted = sorted(x for x, budget in succeeded if budget == 3 and x in first_stage)
    assert promoted == sorted(first_stage)[-3:], "successive halving across the resume kept the best three"
    assert [x for x, budget in succeeded if budget == 9] == [max(sorted(first_stage)[-3:])]
