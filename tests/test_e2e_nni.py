"""A real NNI experiment (NNI manager, local training service, web server) with the registered advisor."""
import ast
import socket
import sys
from pathlib import Path

import pytest
from nni.experiment import AlgorithmConfig, Experiment

from hyperjump_advisor.schedule import bracket_plan

TRIAL_DIR = Path(__file__).parent / "e2e_trial"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parameters_the_trial_ran(trial_log: Path) -> dict:
    """From the trial's own log: NNI's job list can show another trial's parameters (NNI issue 5726).
    The last run counts: after a resume NNI can give a trial job id that was running at the stop to
    another parameter, appending that run to the same trial.log."""
    received = [line.split("parameters received:", 1)[1].strip()
                for line in trial_log.read_text().splitlines() if "parameters received:" in line]
    assert received, f"{trial_log} has no parameters line"
    return ast.literal_eval(received[-1])


@pytest.mark.e2e
def test_registered_advisor_runs_a_real_experiment_to_done(nni_home, tmp_path):
    exp = Experiment("local")
    exp.config.experiment_name = "hyperjump-e2e"
    exp.config.search_space = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}
    exp.config.trial_command = f"{sys.executable} trial.py"
    exp.config.trial_code_directory = str(TRIAL_DIR)
    exp.config.trial_concurrency = 2
    exp.config.max_trial_number = 13  # exactly the first bracket of R=9, eta=3: 9 + 3 + 1
    exp.config.max_experiment_duration = "5m"
    exp.config.experiment_working_directory = str(tmp_path)
    exp.config.advisor = AlgorithmConfig(name="HyperJump", class_args={
        "R": 9, "eta": 3, "exec_mode": "serial", "optimize_mode": "maximize", "seed": 3})
    try:
        assert exp.run(free_port()) is True
        status = exp.get_status()
        jobs = exp.list_trial_jobs()
    finally:
        exp.stop()
    assert status == "DONE"
    assert len(jobs) == 13
    assert not [j for j in jobs if j.status in ("WAITING", "RUNNING", "UNKNOWN")], "no trial stayed waiting"

    plan = bracket_plan(2, 9, 3)
    trial_root = Path(tmp_path, exp.id, "environments", "local-env", "trials")
    by_budget = {}
    for job in jobs:
        params = parameters_the_trial_ran(trial_root / job.trialJobId / "trial.log")
        by_budget.setdefault(params["TRIAL_BUDGET"], []).append((job, params["x"]))
    assert {b: len(v) for b, v in by_budget.items()} == {st.budget: st.n for st in plan}

    first = by_budget[1]
    failed = [x for job, x in first if job.status == "FAILED"]
    assert all(x < 0.15 for x in failed) and all(job.status == "SUCCEEDED" for job, x in first if x >= 0.15)
    best3 = sorted((x for job, x in first if job.status == "SUCCEEDED"), reverse=True)[:3]
    assert sorted(x for _, x in by_budget[3]) == sorted(best3), "successive halving promoted the best three"
    assert [x for _, x in by_budget[9]] == [max(best3)]

    log = Path(tmp_path, exp.id, "log", "dispatcher.log").read_text()
    assert "new incumbent" in log and "Traceback" not in log
