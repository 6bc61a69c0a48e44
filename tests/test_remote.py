"""HyperJump on NNI's *remote* training service, against an SSH server this test starts on 127.0.0.1.

What it does (Linux; about 20 s):

1. starts ``sshd -D -e -f <tmp>/sshd_config`` on 127.0.0.1:<free port> with a host key, a client key and
   an authorized_keys file made by the test (tests/remote/local_sshd.py); nothing in /etc/ssh is used;
2. points the remote machine's ``pythonPath`` at a stand-in for the remote host's Python (this venv's
   interpreter with ``HOME`` in tmp, because NNI 3.0 puts its files in ``~/nni-experiments`` on the remote
   host, and a no-op for the ``pip install nni --upgrade`` NNI runs there at every start);
3. runs a 4-trial HyperJump experiment (R=3, eta=3: one bracket, 3 trials at budget 1, the best at 3) on
   ``trainingService: platform: remote`` to DONE, and checks the trials ran through the remote worker;
4. stops the experiment, checks NNI's trial keeper daemon on the "remote" host exited, and stops sshd and
   every process it forked.

Skipped, with the reason, when sshd cannot run here (not installed: run tests/remote/ensure_sshd.sh; not
Linux; the server does not start or does not accept the test key).
"""
import importlib.util
import json
import socket
import sys
import time
from pathlib import Path

import pytest

REMOTE_DIR = Path(__file__).resolve().parent / "remote"


def _helper():
    spec = importlib.util.spec_from_file_location("hyperjump_test_local_sshd", REMOTE_DIR / "local_sshd.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


local_sshd = _helper()


def _skip(reason: str):
    pytest.skip(f"remote training service test skipped: {reason}")


@pytest.fixture
def sshd(tmp_path):
    if not sys.platform.startswith("linux"):
        _skip(f"needs Linux (/proc, OpenSSH sshd); this is {sys.platform}")
    server = local_sshd.LocalSshd(tmp_path / "sshd")
    try:
        server.start()
    except local_sshd.SshdUnavailable as e:
        _skip(str(e))
    try:
        r = server.ssh("echo login-ok")
    except local_sshd.SshdUnavailable as e:
        server.stop()
        _skip(str(e))
    if r.returncode != 0 or "login-ok" not in r.stdout:
        log = server.log_path.read_text(errors="replace")[-600:]
        server.stop()
        _skip(f"sshd started but key login as {server.user} failed: {r.stderr.strip()} | sshd log: {log}")
    yield server
    leftovers = server.stop()
    assert not [p for p in leftovers if local_sshd.alive(p)], f"could not stop sshd processes {leftovers}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _trial_keeper_pids(experiments_dir: Path) -> list[int]:
    pids = []
    for f in experiments_dir.glob("*/environments/*/trial_keeper*/trial_keeper.pid"):
        try:
            pids.append(int(f.read_text().strip()))
        except ValueError:
            pass
    return pids


@pytest.mark.e2e
def test_hyperjump_runs_on_remote_training_service(sshd, nni_home, tmp_path):
    from nni.experiment import AlgorithmConfig, Experiment, RemoteMachineConfig

    remote_home = tmp_path / "remote-home"
    python_dir = local_sshd.write_remote_python(tmp_path / "remote-python", sys.executable, remote_home)

    exp = Experiment("remote")
    exp.config.experiment_name = "hyperjump-remote-e2e"
    exp.config.search_space = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}
    exp.config.trial_command = "python3 trial.py"   # python3 = the stand-in, first on PATH via pythonPath
    exp.config.trial_code_directory = str(REMOTE_DIR)
    exp.config.trial_concurrency = 2
    exp.config.max_trial_number = 4                 # R=3, eta=3: bracket s=1 = 3 trials at 1 + 1 at 3
    exp.config.max_experiment_duration = "3m"
    exp.config.experiment_working_directory = str(tmp_path / "manager")
    exp.config.nni_manager_ip = "127.0.0.1"         # what the remote trial keeper connects back to
    exp.config.advisor = AlgorithmConfig(name="HyperJump", class_args={
        "R": 3, "eta": 3, "exec_mode": "serial", "optimize_mode": "maximize", "seed": 5})
    exp.config.training_service.machine_list = [RemoteMachineConfig(
        host="127.0.0.1", port=sshd.port, user=sshd.user,
        ssh_key_file=str(sshd.client_key), python_path=str(python_dir))]

    t0 = time.monotonic()
    keeper = {}
    try:
        ok = exp.run(_free_port())
        sshd.remember_children()
        status = exp.get_status()
        jobs = exp.list_trial_jobs()
    finally:
        # {pid: start time}: identifies NNI's trial keeper daemon(s) even if a pid is reused later
        keeper = local_sshd.snapshot(_trial_keeper_pids(remote_home / "nni-experiments"))
        exp.stop()
    elapsed = time.monotonic() - t0

    manager_log = Path(tmp_path, "manager", exp.id, "log", "nnimanager.log")
    context = manager_log.read_text(errors="replace")[-3000:] if manager_log.exists() else "(no nnimanager.log)"
    assert ok is True and status == "DONE", f"status {status}; nnimanager.log tail:\n{context}"
    assert len(jobs) == 4 and all(j.status == "SUCCEEDED" for j in jobs), [j.status for j in jobs]

    # The trials ran through the remote worker: their directories are on the "remote" host (under the
    # stand-in's HOME), with the uploaded code, and they saw that HOME.
    env_dirs = list((remote_home / "nni-experiments" / exp.id / "environments").glob("*"))
    assert [d.name for d in env_dirs] == ["remote-worker1"], env_dirs
    budgets = []
    for job in jobs:
        # the remote service keeps the trial's stdout in trial.stdout (trial.log has only NNI's own lines)
        trial_dir = env_dirs[0] / "trials" / job.trialJobId
        text = "".join((trial_dir / f).read_text() for f in ("trial.stdout", "trial.log") if (trial_dir / f).exists())
        line = next(l for l in text.splitlines() if "remote trial:" in l)
        info = json.loads(line.split("remote trial:", 1)[1])
        assert info["home"] == str(remote_home)
        assert Path(info["cwd"]).resolve().is_relative_to(remote_home.resolve())
        budgets.append(info["params"]["TRIAL_BUDGET"])
    assert sorted(budgets) == [1, 1, 1, 3]
    dispatcher_log = Path(tmp_path, "manager", exp.id, "log", "dispatcher.log").read_text()
    assert "Traceback" not in dispatcher_log

    # NNI's trial keeper daemon on the remote host must be gone after exp.stop(); kill it (by its pid
    # file) if not, so the test leaves nothing behind, and fail.
    assert keeper, "no running trial keeper (trial_keeper.pid) found on the remote side"
    same = lambda p: local_sshd.alive(p) and local_sshd.start_time(p) == keeper[p]  # noqa: E731
    deadline = time.monotonic() + 60  # a hang guard for a loaded machine, not a speed claim: usually gone at once
    while time.monotonic() < deadline and any(same(p) for p in keeper):
        time.sleep(0.2)
    survivors = [p for p in keeper if same(p)]
    if survivors:
        procs = local_sshd.snapshot(survivors + [d for p in survivors for d in local_sshd.descendants(p)])
        local_sshd.kill_pids(procs)
    assert not survivors, f"NNI's remote trial keeper outlived exp.stop(): killed {survivors}"
    print(f"remote experiment {exp.id}: 4 trials DONE in {elapsed:.1f}s via sshd on 127.0.0.1:{sshd.port}")


def test_remote_example_config_is_valid():
    """config/remote-hyperjump.yml loads as an NNI 3.0 remote experiment with HyperJump."""
    import yaml
    from nni.experiment.config import ExperimentConfig

    path = Path(__file__).resolve().parent.parent / "config" / "remote-hyperjump.yml"
    raw = yaml.safe_load(path.read_text())
    assert raw["trainingService"]["platform"] == "remote"
    assert raw["advisor"]["name"] == "HyperJump"
    machines = raw["trainingService"]["machineList"]
    assert machines and all({"host", "user", "sshKeyFile", "pythonPath"} <= set(m) for m in machines)
    config = ExperimentConfig(**raw)
    assert config.training_service.platform == "remote"
    assert len(config.training_service.machine_list) == len(machines)
    assert config.nni_manager_ip
