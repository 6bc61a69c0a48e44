"""Fast tests of hyperjump_advisor.trial (pause-resume checkpoints) and its use in the mnist example."""

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hyperjump_advisor import trial
from hyperjump_advisor.trial import BUDGET_KEY, CONFIG_KEY, RESUME_KEY, Checkpoint, checkpoint_dir, hyperparameters

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "mnist-hyperjump"
sys.path.insert(0, str(EXAMPLE_DIR))

import data  # noqa: E402
import mnist  # noqa: E402

pytestmark = pytest.mark.slow  # subprocesses, replays or example trials: left out of make test-fast


def trial_params(key="c17-3fa2b91c", budget=9, resume=0, **hp):
    params = {"hidden_size": 32, "learning_rate_init": 0.01, "alpha": 1e-4, "batch_size": 128, **hp,
              BUDGET_KEY: budget}
    if key is not None:
        params.update({CONFIG_KEY: key, RESUME_KEY: resume})
    return params


def files(folder):
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------------
# helper module
# ---------------------------------------------------------------------------

def test_constants_and_import_without_nni():
    assert (trial.CONFIG_KEY, trial.RESUME_KEY, trial.BUDGET_KEY) == (
        "HYPERJUMP_CONFIG_KEY", "HYPERJUMP_RESUME_FROM", "TRIAL_BUDGET")
    code = "import sys, hyperjump_advisor.trial; assert 'nni' not in sys.modules, sorted(sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_round_trip(tmp_path):
    ckpt = Checkpoint.for_trial(trial_params(budget=9, resume=3), folder=tmp_path)
    assert ckpt.enabled and ckpt.resume_from == 3 and ckpt.max_budget == 9
    assert ckpt.load() == (0, None)  # nothing saved yet
    state = {"weights": np.arange(5.0), "rng": np.random.RandomState(3), "epoch": 4}
    path = ckpt.save(4, state)
    assert path == tmp_path / "c17-3fa2b91c@4.ckpt" and path.is_file()

    budget, loaded = Checkpoint.for_trial(trial_params(budget=9), folder=tmp_path).load()
    assert budget == 4 and type(budget) is int
    np.testing.assert_array_equal(loaded["weights"], state["weights"])
    assert loaded["rng"].randint(1 << 30) == state["rng"].randint(1 << 30)  # RNG state restored
    assert ckpt.saved_budgets() == [4]
    # another configuration in the same folder sees nothing
    assert Checkpoint.for_trial(trial_params(key="c18-00000000"), folder=tmp_path).load() == (0, None)


def test_budget_above_trial_budget_not_loaded(tmp_path):
    Checkpoint.for_trial(trial_params(budget=9), folder=tmp_path).save(9, "at 9")
    assert Checkpoint.for_trial(trial_params(budget=3), folder=tmp_path).load() == (0, None)
    assert Checkpoint.for_trial(trial_params(budget=9), folder=tmp_path).load() == (9, "at 9")
    assert Checkpoint.for_trial(trial_params(budget=27), folder=tmp_path).load() == (9, "at 9")
    # a smaller save never deletes a larger checkpoint (e.g. written by a concurrent trial)
    Checkpoint.for_trial(trial_params(budget=3), folder=tmp_path).save(3, "at 3")
    assert files(tmp_path) == ["c17-3fa2b91c@3.ckpt", "c17-3fa2b91c@9.ckpt"]
    assert Checkpoint.for_trial(trial_params(budget=3), folder=tmp_path).load() == (3, "at 3")
    assert Checkpoint.for_trial(trial_params(budget=8.0), folder=tmp_path).load() == (3, "at 3")
    # an explicit max_budget wins over TRIAL_BUDGET; no budget at all: no limit
    assert Checkpoint.for_trial(trial_params(budget=3), folder=tmp_path, max_budget=9).load() == (9, "at 9")
    no_budget = {CONFIG_KEY: "c17-3fa2b91c"}
    assert Checkpoint.for_trial(no_budget, folder=tmp_path).load() == (9, "at 9")


def test_disabled_without_config_key(tmp_path, monkeypatch):
    target = tmp_path / "never-created"
    monkeypatch.setenv(trial.ENV_CHECKPOINT_DIR, str(target))
    for params in (trial_params(key=None), {}, None, {CONFIG_KEY: ""}):
        ckpt = Checkpoint.for_trial(params)
        assert not ckpt.enabled
        assert ckpt.load() == (0, None)
        assert ckpt.save(3, "state") is None
        assert ckpt.saved_budgets() == []
    assert not target.exists()  # a disabled checkpoint does not even create the folder


def test_corrupt_checkpoint_warns_and_returns_nothing(tmp_path, capsys):
    ckpt = Checkpoint.for_trial(trial_params(budget=9), folder=tmp_path)
    ckpt.path(3).write_bytes(b"\x80\x05this is not a pickle")
    assert ckpt.load() == (0, None)
    err = capsys.readouterr().err
    assert "WARNING" in err and "c17-3fa2b91c@3.ckpt" in err

    # truncated file (a crash without the atomic save), wrong payload, other key's payload
    good = pickle.dumps({"format": 1, "config_key": "c17-3fa2b91c", "budget": 3, "state": "x"})
    for content in (good[: len(good) // 2], pickle.dumps([1, 2, 3]),
                    pickle.dumps({"format": 1, "config_key": "other", "budget": 3, "state": "x"}),
                    pickle.dumps({"format": 1, "config_key": "c17-3fa2b91c", "budget": 4, "state": "x"})):
        ckpt.path(3).write_bytes(content)
        assert ckpt.load() == (0, None)
        assert "WARNING" in capsys.readouterr().err
    ckpt.path(3).write_bytes(good)
    assert ckpt.load() == (3, "x")

    # a corrupt newest file falls back to an older valid one (left by a save that died before cleanup)
    ckpt.path(5).write_bytes(b"garbage")
    assert ckpt.load() == (3, "x")
    assert "c17-3fa2b91c@5.ckpt" in capsys.readouterr().err

    # an unreadable "file" (a directory) does not crash either
    ckpt.path(7).mkdir()
    assert ckpt.load() == (3, "x")


def test_atomic_save_leaves_no_temp_files(tmp_path, monkeypatch, capsys):
    ckpt = Checkpoint.for_trial(trial_params(), folder=tmp_path)
    for budget in range(1, 4):
        ckpt.save(budget, {"epoch": budget, "blob": os.urandom(1000)})
        assert files(tmp_path) == [f"c17-3fa2b91c@{budget}.ckpt"]

    # the rename fails (e.g. disk trouble): warning, None, no temp file, old checkpoint intact
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trial.os, "replace", broken_replace)
    assert ckpt.save(4, {"epoch": 4}) is None
    assert "could not save" in capsys.readouterr().err
    assert files(tmp_path) == ["c17-3fa2b91c@3.ckpt"]
    monkeypatch.undo()
    assert ckpt.load()[0] == 3

    # an unpicklable state is a bug in the trial: it raises, and nothing is left behind
    with pytest.raises(Exception):
        ckpt.save(4, {"f": lambda: 1})
    assert files(tmp_path) == ["c17-3fa2b91c@3.ckpt"]

    with pytest.raises(ValueError):
        ckpt.save(2.5, "fractional budget")
    with pytest.raises(ValueError):
        ckpt.save(-1, "negative budget")
    assert ckpt.save(np.int64(4), "numpy int") == tmp_path / "c17-3fa2b91c@4.ckpt"


def test_older_checkpoints_removed(tmp_path):
    other = Checkpoint.for_trial(trial_params(key="c2-aaaa"), folder=tmp_path)
    other.save(1, "other config")
    (tmp_path / "unrelated.txt").write_text("keep me")
    old_tmp = tmp_path / ".c17-3fa2b91c@2.killed.tmp"  # left by a trial killed while saving
    fresh_tmp = tmp_path / ".c17-3fa2b91c@2.inflight.tmp"  # maybe a concurrent save
    old_tmp.write_bytes(b"x")
    fresh_tmp.write_bytes(b"x")
    past = time.time() - 2 * 3600
    os.utime(old_tmp, (past, past))

    ckpt = Checkpoint.for_trial(trial_params(), folder=tmp_path)
    for budget in (1, 2, 3):
        ckpt.save(budget, budget)
    assert files(tmp_path) == [".c17-3fa2b91c@2.inflight.tmp", "c17-3fa2b91c@3.ckpt",
                               "c2-aaaa@1.ckpt", "unrelated.txt"]
    assert other.load() == (1, "other config")
    ckpt.clear()
    assert ckpt.saved_budgets() == [] and other.saved_budgets() == [1]


def test_unsafe_config_key_stays_in_folder(tmp_path):
    ckpt = Checkpoint.for_trial(trial_params(key="../../etc/passwd"), folder=tmp_path / "ck")
    path = ckpt.save(1, "x")
    assert path.parent == tmp_path / "ck" and "/" not in path.name and not path.name.startswith(".")
    assert Checkpoint.for_trial(trial_params(key="../../etc/passwd"), folder=tmp_path / "ck").load() == (1, "x")
    # two keys that sanitise alike do not collide
    assert Checkpoint.for_trial(trial_params(key="../../etc:passwd"), folder=tmp_path / "ck").load() == (0, None)


def test_hyperparameters_strips_reserved_keys():
    raw = trial_params(budget=9, resume=3)
    raw["HYPERJUMP_FUTURE_KEY"] = 1
    hp = hyperparameters(raw)
    assert hp == {"hidden_size": 32, "learning_rate_init": 0.01, "alpha": 1e-4, "batch_size": 128}
    assert raw[BUDGET_KEY] == 9 and CONFIG_KEY in raw  # the caller's dict is untouched
    assert hyperparameters(None) == {} and hyperparameters({}) == {}
    assert trial.is_reserved_key(BUDGET_KEY) and trial.is_reserved_key(RESUME_KEY)
    assert not trial.is_reserved_key("hidden_size") and not trial.is_reserved_key("hyperjump_bracket")


def test_checkpoint_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(trial.ENV_CHECKPOINT_DIR, raising=False)
    monkeypatch.setenv("NNI_EXP_ID", "abc123XY")
    expected = tmp_path / "home" / ".cache" / "hyperjump-advisor" / "abc123XY"
    assert checkpoint_dir(create=False) == expected and not expected.exists()
    assert checkpoint_dir() == expected and expected.is_dir()  # created on demand

    monkeypatch.delenv("NNI_EXP_ID")
    assert checkpoint_dir() == tmp_path / "home" / ".cache" / "hyperjump-advisor" / "standalone"

    monkeypatch.setenv(trial.ENV_CHECKPOINT_DIR, str(tmp_path / "ck" / "deep"))
    monkeypatch.setenv("NNI_EXP_ID", "abc123XY")
    assert checkpoint_dir() == tmp_path / "ck" / "deep" and (tmp_path / "ck" / "deep").is_dir()

    # for_trial uses it by default
    path = Checkpoint.for_trial(trial_params()).save(2, "x")
    assert path == tmp_path / "ck" / "deep" / "c17-3fa2b91c@2.ckpt"


def test_unusable_folder_disables_with_warning(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    ckpt = Checkpoint.for_trial(trial_params(), folder=blocker / "sub")
    assert not ckpt.enabled and ckpt.load() == (0, None) and ckpt.save(1, "x") is None
    assert "pause-resume disabled" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# the mnist example with pause-resume
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return data.load_digits_dataset()


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv(trial.ENV_CHECKPOINT_DIR, str(folder))
    return folder


def run(raw, ds, fail_at=None):
    inter, final, logs = [], [], []

    def report(metric):
        if metric["budget"] == fail_at:
            raise KeyboardInterrupt("trial killed")
        inter.append(metric)

    result = mnist.run_trial(raw, ds, report, final.append, log=logs.append)
    return result, inter, final, logs


def test_mnist_second_trial_continues_from_checkpoint(digits, ckpt_dir):
    _, full, full_final = _plain_train(trial_params(budget=9), 9, digits)

    first, inter1, final1, logs1 = run(trial_params(budget=3, resume=0), digits)
    assert "training from scratch" in logs1
    assert first.start_epoch == 0 and first.epochs_trained == 3 and first.saves == 3
    assert [m["budget"] for m in inter1] == [1, 2, 3]
    assert files(ckpt_dir) == ["c17-3fa2b91c@3.ckpt"]
    saved_loss_curve = list(first.state.model.loss_curve_)

    second, inter2, final2, logs2 = run(trial_params(budget=9, resume=3), digits)
    assert any(line.startswith("resumed from epoch 3 ") for line in logs2)
    assert second.start_epoch == 3 and second.epochs_trained == 6
    assert [m["budget"] for m in inter2] == [4, 5, 6, 7, 8, 9]
    assert sum(line.startswith("epoch ") for line in logs2) == 6  # 6 epochs trained, not 9
    model = second.state.model
    # (n_iter_ counts the iterations of the last partial_fit call only; t_ and loss_curve_ accumulate)
    assert len(model.loss_curve_) == 9 and model.t_ == 9 * len(digits.y_train)
    assert model.loss_curve_[:3] == saved_loss_curve  # the loaded model is the saved one
    assert second.state.val_accuracies[:3] == [m["default"] for m in inter1]
    # pausing after 3 epochs changes nothing: same path as one uninterrupted 9-epoch run
    assert inter1 + inter2 == full and final2 == full_final
    assert files(ckpt_dir) == ["c17-3fa2b91c@9.ckpt"]

    # a repeated trial with nothing left to do trains nothing and reports the saved accuracy
    third, inter3, final3, logs3 = run(trial_params(budget=9, resume=9), digits)
    assert third.start_epoch == 9 and third.epochs_trained == 0 and inter3 == [] and final3 == final2


def _plain_train(raw, epochs, ds):
    params, _, _ = mnist.resolve_params(raw)
    inter, final = [], []
    state = mnist.train(params, epochs, ds, inter.append, final.append, log=lambda m: None)
    return state, inter, final


def test_mnist_killed_trial_resumes_from_its_last_saved_epoch(digits, ckpt_dir):
    with pytest.raises(KeyboardInterrupt):
        run(trial_params(budget=9, resume=3), digits, fail_at=6)  # killed during epoch 6's report
    assert files(ckpt_dir) == ["c17-3fa2b91c@6.ckpt"]  # saved before the report

    # the advisor still thinks 3 epochs are done; the checkpoint holds 6
    result, inter, _, logs = run(trial_params(budget=9, resume=3), digits)
    assert result.start_epoch == 6 and [m["budget"] for m in inter] == [7, 8, 9]
    assert any("resumed from epoch 6" in line and "advisor expected epoch 3" in line for line in logs)


def test_mnist_without_keys_trains_from_scratch(digits, ckpt_dir):
    raw = trial_params(key=None, budget=2)
    result, inter, _, logs = run(raw, digits)
    assert result.start_epoch == 0 and [m["budget"] for m in inter] == [1, 2]
    assert logs[0].startswith("training from scratch") and not result.checkpoint.enabled
    assert result.saves == 0 and not ckpt_dir.exists()
    # the HYPERJUMP_* keys never reach the model and are not "unknown" either
    params, budget, ignored = mnist.resolve_params(trial_params(budget=2, resume=1))
    assert set(params) == set(mnist.DEFAULT_PARAMS) and budget == 2 and ignored == []


def test_mnist_mismatched_checkpoint_is_not_used(digits, ckpt_dir):
    run(trial_params(budget=2), digits)
    result, inter, _, logs = run(trial_params(budget=4, hidden_size=64), digits)  # same key, other model
    assert result.start_epoch == 0 and [m["budget"] for m in inter] == [1, 2, 3, 4]
    assert any("not used" in line and "hyperparameters" in line for line in logs)
    assert "training from scratch" in logs


def test_mnist_script_resumes_a_checkpoint_from_another_process(digits, tmp_path, ckpt_dir):
    """Trial 1 in-process (class in module `mnist`), trial 2 as NNI runs it (`__main__`)."""
    run(trial_params(budget=3), digits)

    sysdir = tmp_path / "sys"
    sysdir.mkdir()
    (sysdir / "parameter.cfg").write_text(json.dumps(
        {"parameter_id": 8, "parameter_source": "algorithm", "parameters": trial_params(budget=5, resume=3),
         "parameter_index": 0}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNI_") and k != data.ENV_DATA_DIR}
    env.update(NNI_PLATFORM="local", NNI_SYS_DIR=str(sysdir), NNI_OUTPUT_DIR=str(tmp_path / "out"),
               NNI_TRIAL_JOB_ID="t2", NNI_EXP_ID="e1")
    proc = subprocess.run([sys.executable, str(EXAMPLE_DIR / "mnist.py")], cwd=EXAMPLE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr

    raw = (sysdir / ".nni" / "metrics").read_bytes().decode()
    records = [json.loads(chunk[6:]) for chunk in raw.split("ME")[1:]]
    inter = [json.loads(r["value"]) for r in records if r["type"] == "PERIODICAL"]
    assert [m["budget"] for m in inter] == [4, 5]
    log = (tmp_path / "out" / "trial.log").read_text()
    assert "resumed from epoch 3" in log and "Ignoring unknown parameter keys" not in log
    assert "after 5 epochs (2 trained in this trial)" in log
    assert files(ckpt_dir) == ["c17-3fa2b91c@5.ckpt"]


def test_without_a_config_key_the_checkpoint_is_named_by_the_hyperparameters(tmp_path):
    """The advisor sends only HYPERJUMP_RESUME_FROM: every trial of a configuration finds the same files."""
    first = trial_params(key=None, budget=3)
    first[RESUME_KEY] = 0
    Checkpoint.for_trial(first, folder=tmp_path).save(3, "after 3")
    promoted = dict(first, **{BUDGET_KEY: 9, RESUME_KEY: 3})
    assert Checkpoint.for_trial(promoted, folder=tmp_path).load() == (3, "after 3")
    other = dict(promoted, hidden_size=64)
    assert Checkpoint.for_trial(other, folder=tmp_path).load() == (0, None)
    assert trial.configuration_key(first) == trial.configuration_key(promoted) != trial.configuration_key(other)
