"""Fast tests of the examples/mnist-hyperjump trial (data loading, training, CLI, config)."""

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "mnist-hyperjump"
sys.path.insert(0, str(EXAMPLE_DIR))

import data  # noqa: E402
import mnist  # noqa: E402

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    """The exact MNIST IDX layout: big-endian magic, big-endian uint32 dims, uint8 data."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(">i", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, magic: int, gz: bool = False) -> Path:
    payload = idx_bytes(arr, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_fake_mnist(directory: Path, n_train=400, n_test=60, rows=28, cols=28, seed=0):
    """Four MNIST-format files (train images gzipped, the rest mixed) with learnable labels."""
    rng = np.random.RandomState(seed)

    def make(n):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.randint(0, 40, size=(n, rows, cols)).astype(np.uint8)
        for i, lab in enumerate(labels):  # a bright row band per class
            images[i, 2 * lab: 2 * lab + 2, :] = 255
        return images, labels

    tr_x, tr_y = make(n_train)
    te_x, te_y = make(n_test)
    write_idx(directory / "train-images-idx3-ubyte", tr_x, 2051, gz=True)
    write_idx(directory / "train-labels-idx1-ubyte", tr_y, 2049, gz=False)
    write_idx(directory / "t10k-images-idx3-ubyte", te_x, 2051, gz=False)
    write_idx(directory / "t10k-labels-idx1-ubyte", te_y, 2049, gz=True)
    return tr_x, tr_y, te_x, te_y


@pytest.fixture
def no_mnist_env(monkeypatch):
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)


@pytest.fixture(scope="module")
def digits():
    return data.load_digits_dataset()


# ---------------------------------------------------------------------------
# IDX reader
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_images_and_labels(tmp_path, gz):
    rng = np.random.RandomState(1)
    images = rng.randint(0, 256, size=(7, 5, 3)).astype(np.uint8)  # rows != cols: dims order matters
    labels = np.array([0, 9, 3, 3, 1, 7, 2], dtype=np.uint8)
    ip = write_idx(tmp_path / "imgs-idx3-ubyte", images, 2051, gz=gz)
    lp = write_idx(tmp_path / "labs-idx1-ubyte", labels, 2049, gz=gz)
    assert ip.suffix == (".gz" if gz else "")

    got_images = data.read_idx_images(ip)
    got_labels = data.read_idx_labels(lp)
    assert got_images.shape == (7, 5, 3)
    assert got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_large_dims_are_big_endian(tmp_path):
    # 300 > 255, so a little-endian or 1-byte reading of the dims would be wrong
    labels = (np.arange(300) % 10).astype(np.uint8)
    p = write_idx(tmp_path / "labels", labels, 2049)
    assert data.read_idx_labels(p).shape == (300,)


def test_corrupt_magic_names_the_file(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    good = idx_bytes(np.zeros((2, 4, 4), np.uint8), 2051)
    p.write_bytes(struct.pack(">i", 2052) + good[4:])
    with pytest.raises(data.IdxFormatError, match="magic") as exc:
        data.read_idx_images(p)
    assert str(p) in str(exc.value)
    assert "2052" in str(exc.value) and "2051" in str(exc.value)

    # a labels file where an images file is expected is also caught
    lp = write_idx(tmp_path / "labels", np.zeros(3, np.uint8), 2049)
    with pytest.raises(data.IdxFormatError, match="labels"):
        data.read_idx_images(lp)


def test_truncated_and_bad_gzip_files_name_the_file(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros((3, 4, 4), np.uint8), 2051)[:-5])
    with pytest.raises(data.IdxFormatError, match="data bytes") as exc:
        data.read_idx_images(p)
    assert str(p) in str(exc.value)

    g = tmp_path / "t10k-labels-idx1-ubyte.gz"
    g.write_bytes(gzip.compress(idx_bytes(np.zeros(50, np.uint8), 2049))[:20])
    with pytest.raises(data.IdxFormatError, match="gzip") as exc:
        data.read_idx_labels(g)
    assert str(g) in str(exc.value)

    bad_label = write_idx(tmp_path / "labels", np.array([1, 12], np.uint8), 2049)
    with pytest.raises(data.IdxFormatError, match="out of range"):
        data.read_idx_labels(bad_label)


# ---------------------------------------------------------------------------
# data set selection
# ---------------------------------------------------------------------------

def test_mnist_dir_is_used_when_all_files_present(tmp_path, no_mnist_env):
    tr_x, tr_y, te_x, te_y = write_fake_mnist(tmp_path)
    logs = []
    ds = data.load_dataset(tmp_path, max_train=200, val_size=100, log=logs.append)
    assert ds.name == "mnist"
    assert logs == []  # no fallback message
    assert ds.X_train.shape == (200, 784) and ds.X_val.shape == (100, 784)
    assert ds.X_test.shape == (60, 784) and ds.y_test.shape == (60,)
    assert ds.X_train.dtype == np.float64
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() == pytest.approx(1.0)
    # values are the file's pixels / 255, rows preserved: test set is not shuffled
    np.testing.assert_allclose(ds.X_test, te_x.reshape(60, -1) / 255.0)
    np.testing.assert_array_equal(ds.y_test, te_y)
    # stratified split: every class in train and val
    assert set(ds.y_train) == set(range(10)) and set(ds.y_val) == set(range(10))
    # train and val are disjoint parts of the training file
    pixels = {r.tobytes() for r in tr_x.reshape(len(tr_x), -1)}
    to_u8 = lambda X: {np.rint(r * 255).astype(np.uint8).tobytes() for r in X}  # noqa: E731
    tr, va = to_u8(ds.X_train), to_u8(ds.X_val)
    assert tr <= pixels and va <= pixels and not (tr & va)
    assert "train=200" in ds.describe() and "mnist" in ds.describe()

    # the split is fixed: loading again gives the same arrays
    again = data.load_dataset(tmp_path, max_train=200, val_size=100)
    np.testing.assert_array_equal(again.X_val, ds.X_val)
    np.testing.assert_array_equal(again.y_train, ds.y_train)


def test_env_var_selects_mnist_dir(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
    ds = data.load_dataset(None, max_train=0, val_size=100)  # max_train <= 0: all the rest
    assert ds.name == "mnist"
    assert len(ds.y_train) == 300


def test_falls_back_to_digits_and_says_why(tmp_path, no_mnist_env, digits):
    logs = []
    ds = data.load_dataset(tmp_path, log=logs.append)  # empty dir
    assert ds.name == "digits"
    assert len(logs) == 1 and "digits" in logs[0] and "train-images-idx3-ubyte" in logs[0]
    assert ds.X_train.shape == (1437, 64) and ds.X_val.shape == (360, 64)
    assert ds.X_test is None
    assert ds.X_train.min() >= 0.0 and ds.X_train.max() == pytest.approx(1.0)
    assert "Dataset: digits" in ds.describe() and "train=1437" in ds.describe()

    logs.clear()
    assert data.load_dataset(None, log=logs.append).name == "digits"
    assert "MNIST_DATA_DIR" in logs[0]

    # a partial MNIST dir also falls back, naming what is missing
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    logs.clear()
    assert data.load_dataset(tmp_path, log=logs.append).name == "digits"
    assert "t10k-labels-idx1-ubyte" in logs[0] and "train-images" not in logs[0]


def test_explicit_mnist_request_without_files_is_an_error(tmp_path, no_mnist_env):
    with pytest.raises(FileNotFoundError, match="MNIST"):
        data.load_dataset(tmp_path, dataset="mnist")


def test_malformed_mnist_file_is_not_silently_replaced(tmp_path, no_mnist_env):
    write_fake_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8), 2051)[:12])
    with pytest.raises(data.IdxFormatError, match="train-labels-idx1-ubyte"):
        data.load_dataset(tmp_path)


# ---------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------

def test_resolve_params_defaults_budget_and_unknown_keys():
    params, budget, ignored = mnist.resolve_params({})
    assert params == mnist.DEFAULT_PARAMS and budget is None and ignored == []
    assert mnist.resolve_params(None)[0] == mnist.DEFAULT_PARAMS

    raw = {"hidden_size": 32, "learning_rate_init": 0.05, "alpha": 1e-5, "batch_size": 256.0,
           "TRIAL_BUDGET": 9, "hyperjump_bracket": 2, "parameter_note": "x"}
    params, budget, ignored = mnist.resolve_params(raw)
    assert params == {"hidden_size": 32, "learning_rate_init": 0.05, "alpha": 1e-5, "batch_size": 256}
    assert isinstance(params["batch_size"], int)
    assert budget == 9
    assert ignored == ["hyperjump_bracket", "parameter_note"]
    assert raw["TRIAL_BUDGET"] == 9  # caller's dict is not modified


@pytest.mark.parametrize("value,expected", [(1, 1), (27, 27), (9.0, 9), (np.int64(3), 3), (2.5, 3)])
def test_parse_budget(value, expected):
    assert mnist.parse_budget(value) == expected


@pytest.mark.parametrize("value", [0, -1, 0.0, "3", None, True, float("nan")])
def test_parse_budget_rejects(value):
    with pytest.raises(ValueError, match="TRIAL_BUDGET"):
        mnist.parse_budget(value)


def test_resolve_params_rejects_bad_values():
    with pytest.raises(ValueError, match="hidden_size"):
        mnist.resolve_params({"hidden_size": 0})
    with pytest.raises(ValueError, match="batch_size"):
        mnist.resolve_params({"batch_size": 12.5})
    with pytest.raises(ValueError, match="learning_rate_init"):
        mnist.resolve_params({"learning_rate_init": "fast"})


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------

def run_train(params, epochs, ds, state=None):
    inter, final = [], []
    state = mnist.train(params, epochs, ds, inter.append, final.append, state=state, log=lambda m: None)
    return state, inter, final


def test_train_three_epochs_on_digits(digits):
    params, _, _ = mnist.resolve_params({"hidden_size": 64, "batch_size": 64, "TRIAL_BUDGET": 3})
    state, inter, final = run_train(params, 3, digits)

    assert [r["budget"] for r in inter] == [1, 2, 3]
    assert all(set(r) == {"default", "budget"} for r in inter)
    accs = [r["default"] for r in inter]
    assert all(type(a) is float and 0.0 <= a <= 1.0 for a in accs)
    assert all(type(r["budget"]) is int for r in inter)
    assert len(final) == 1 and type(final[0]) is float
    assert final[0] == accs[-1]
    assert accs[-1] > 0.5  # it really learns (chance is 0.1)
    assert state.epochs_done == 3 and state.val_accuracies == accs
    assert state.model.n_features_in_ == 64
    assert len(state.model.loss_curve_) == 3  # exactly one partial_fit pass per epoch


def test_train_is_deterministic_and_resumable(digits):
    params = dict(mnist.DEFAULT_PARAMS)
    _, full, _ = run_train(params, 3, digits)
    state, first, _ = run_train(params, 2, digits)
    state, rest, final = run_train(params, 3, digits, state=state)
    assert [r["budget"] for r in rest] == [3]  # continues, does not restart
    assert first + rest == full
    assert final == [full[-1]["default"]]


def test_model_owns_an_advancing_random_state(digits):
    # sklearn re-seeds an int random_state on every partial_fit call, which would give every
    # epoch the same mini-batch order; the model must own a RandomState that advances.
    state = mnist.new_state(mnist.DEFAULT_PARAMS, seed=0)
    rng = state.model.random_state
    assert isinstance(rng, np.random.RandomState)
    mnist.train_one_epoch(state, digits)
    before = rng.get_state()[1].copy(), rng.get_state()[2]
    mnist.train_one_epoch(state, digits)
    after = rng.get_state()[1], rng.get_state()[2]
    assert state.model.random_state is rng
    assert before[1] != after[1] or not np.array_equal(before[0], after[0])


# ---------------------------------------------------------------------------
# script, search space, config
# ---------------------------------------------------------------------------

def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNI_") and k != data.ENV_DATA_DIR}
    env.update(extra)
    return env


def test_script_runs_standalone(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE_DIR / "mnist.py"), "--epochs", "2"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Dataset: digits" in proc.stdout
    assert "epochs=2 (from --epochs)" in proc.stdout
    assert "epoch 2/2" in proc.stdout and "epoch 3/" not in proc.stdout
    assert "Final result" in proc.stdout  # NNI standalone mode logs the reports to stdout


def test_script_under_nni_local_protocol(tmp_path):
    """Run as NNI's local training service does: parameters from parameter.cfg, metrics to a file."""
    sysdir = tmp_path / "sys"
    sysdir.mkdir()
    params = {"hidden_size": 32, "learning_rate_init": 0.01, "alpha": 1e-5, "batch_size": 128,
              "TRIAL_BUDGET": 3, "some_future_key": [1, 2]}
    (sysdir / "parameter.cfg").write_text(json.dumps(
        {"parameter_id": 7, "parameter_source": "algorithm", "parameters": params, "parameter_index": 0}))
    env = _clean_env(NNI_PLATFORM="local", NNI_SYS_DIR=str(sysdir), NNI_OUTPUT_DIR=str(tmp_path / "out"),
                     NNI_TRIAL_JOB_ID="t1", NNI_EXP_ID="e1")
    proc = subprocess.run([sys.executable, str(EXAMPLE_DIR / "mnist.py"), "--epochs", "1"],
                          cwd=EXAMPLE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    raw = (sysdir / ".nni" / "metrics").read_bytes().decode()
    records = [json.loads(chunk[6:]) for chunk in raw.split("ME")[1:]]
    inter = [json.loads(r["value"]) for r in records if r["type"] == "PERIODICAL"]
    final = [json.loads(r["value"]) for r in records if r["type"] == "FINAL"]
    assert [m["budget"] for m in inter] == [1, 2, 3]  # TRIAL_BUDGET wins over --epochs
    assert all(r["parameter_id"] == 7 for r in records)
    assert len(final) == 1 and isinstance(final[0], float) and final[0] == inter[-1]["default"]

    log = (tmp_path / "out" / "trial.log").read_text()  # NNI redirects stdout here
    assert "Dataset: digits" in log and "from TRIAL_BUDGET" in log
    assert "Ignoring unknown parameter keys: some_future_key" in log


def test_search_space_matches_trial():
    from nni.common.hpo_utils.validation import validate_search_space

    space = json.loads((EXAMPLE_DIR / "search_space.json").read_text())
    assert validate_search_space(space, raise_exception=True)
    assert set(space) == set(mnist.DEFAULT_PARAMS)
    assert mnist.BUDGET_KEY not in space  # the advisor adds it
    for key in ("hidden_size", "batch_size"):
        assert space[key]["_type"] == "choice" and all(isinstance(v, int) for v in space[key]["_value"])
    # every point of the space is accepted by the trial
    lo = {k: (v["_value"][0]) for k, v in space.items()}
    hi = {k: (v["_value"][-1]) for k, v in space.items()}
    assert mnist.resolve_params(lo)[2] == [] and mnist.resolve_params(hi)[2] == []


def test_config_matches_nni_schema():
    from nni.experiment.config import ExperimentConfig

    config = ExperimentConfig.load(str(EXAMPLE_DIR / "config.yml"))
    config.validate()  # schema + search space file; the HyperJump name is not checked here
    canon = config.canonical_copy()
    assert canon.experiment_name == "mnist-hyperjump"
    assert canon.trial_command == "python3 mnist.py"
    assert Path(canon.trial_code_directory) == EXAMPLE_DIR
    assert canon.trial_concurrency == 2 and canon.max_trial_number == 73
    assert canon.max_experiment_duration == "10m"
    assert canon.training_service.platform == "local"
    assert canon.search_space == json.loads((EXAMPLE_DIR / "search_space.json").read_text())
    # NNI 3.0 moves the deprecated `advisor:` section to `tuner`
    algo = canon.tuner
    assert algo.name == "HyperJump"
    assert algo.class_args == {"R": 27, "eta": 3, "optimize_mode": "maximize"}  # the default exec_mode (async)


def test_without_hyperjump_advisor_the_trial_trains_from_scratch(tmp_path):
    """A remote host gets only the example folder: the trial must still run, without pause-resume."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    example = Path(__file__).resolve().parents[1] / "examples" / "mnist-hyperjump"
    alone = tmp_path / "mnist-hyperjump"
    shutil.copytree(example, alone, ignore=shutil.ignore_patterns("__pycache__"))
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "hyperjump_advisor.py").write_text("raise ImportError('not installed on this host')\n")
    env = dict(__import__("os").environ, PYTHONPATH=str(blocker))
    out = subprocess.run([sys.executable, str(alone / "mnist.py"), "--epochs", "2"], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "pause-resume off" in out.stdout
