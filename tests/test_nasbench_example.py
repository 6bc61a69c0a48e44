"""examples/nas-bench-201: loaders on tiny benchmark files in the official formats, the trial, and a real
NNI experiment with HyperJump on them.

The official data cannot be downloaded here, so the tests write a handful of architectures in exactly the
format the real loaders read:

* NATS-Bench topology: built with nats_bench's own ``ResultsCount``/``ArchResults`` and saved with its
  ``pickle_save``, as NATS-Bench's ``tss-collect.py`` does: ``meta.pickle.pbz2`` =
  ``{"meta_archs", "total_archs", "arch2infos": None, "evaluated_indexes": set()}`` and one
  ``NNNNNN.pickle.pbz2`` = ``OrderedDict({"12": ArchResults.state_dict(), "200": ...})`` per architecture
  (weights cleared, as in the "simple" release), or everything in one ``.pickle.pbz2``;
* NNI's nasbench201 database: created with NNI's own peewee models, rows as NNI's ``db_gen`` writes them.
"""
import collections
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from hyperjump_advisor.results.reading import load_records

pytestmark = pytest.mark.slow

nats_bench = pytest.importorskip("nats_bench", reason="nats_bench is not installed: pip install nats_bench")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "nas-bench-201"


def _load(name):
    if name in sys.modules and getattr(sys.modules[name], "__file__", "") == str(EXAMPLE / f"{name}.py"):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


nb201_data = _load("nb201_data")
nb201_trial = _load("nb201_trial")

# ---------------------------------------------------------------------------
# Fixture data
# ---------------------------------------------------------------------------

SCORE = {"none": 0.0, "skip_connect": 0.3, "avg_pool_3x3": 0.4, "nor_conv_1x1": 0.6, "nor_conv_3x3": 1.0}
SEEDS = {"200": (777, 888), "12": (111,)}
EPOCHS = {"200": 12, "12": 12}   # "a few epochs": the 200-epoch schedule recorded for 12 epochs only
SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar100": ("x-valid", "x-test", "ori-test")}
TRAIN_N = {"cifar10-valid": 25000, "cifar100": 50000}

BASE = {"0_1": "nor_conv_3x3", "0_2": "nor_conv_1x1", "1_2": "skip_connect",
        "0_3": "nor_conv_3x3", "1_3": "none", "2_3": "nor_conv_3x3"}
#: the six cells of the restricted search space used by the NNI experiment
SPACE_ARCHS = [dict(BASE, **{"0_1": a, "2_3": b})
               for a in ("nor_conv_3x3", "skip_connect", "none") for b in ("nor_conv_3x3", "avg_pool_3x3")]
ALL_NONE = {e: "none" for e in nb201_data.EDGES}
LISTED_WITHOUT_FILE = dict(BASE, **{"1_3": "avg_pool_3x3"})
NOT_LISTED = {e: "avg_pool_3x3" for e in nb201_data.EDGES}


def expected_acc(arch, epoch, seed, dataset="cifar10-valid", hp="200"):
    """Accuracy in percent, as the benchmark stores it."""
    q = sum(SCORE[op] for op in arch.values()) / 6
    top = 0.9 if dataset == "cifar10-valid" else 0.7
    shift = {777: 0.5, 888: -0.5, 111: -2.0}[seed]
    return 100 * (0.1 + (top - 0.1) * q * (1 - math.exp(-epoch / 4))) + shift


def expected_epoch_seconds(arch, dataset="cifar10-valid"):
    convs = sum(op.startswith("nor_conv") for op in arch.values())
    return (10.0 + 5.0 * convs) * TRAIN_N[dataset] / 25000, 2.0  # train, x-valid eval


def _results_count(arch_str, arch, dataset, seed, hp):
    from nats_bench.api_utils import ResultsCount
    n = EPOCHS[hp]
    train_acc = {i: 99.0 * (1 - math.exp(-(i + 1) / 3)) for i in range(n)}
    train_loss = {i: 2.3 * math.exp(-(i + 1) / 3) for i in range(n)}
    rc = ResultsCount(dataset, None, train_acc, train_loss, 1.2, 150.0,
                      {"channel": 16, "num_cells": 5, "arch_str": arch_str,
                       "class_num": 10 if dataset.startswith("cifar10") else 100},
                      seed, n, None)
    t_train, t_eval = expected_epoch_seconds(arch, dataset)
    rc.update_train_info(train_acc, {i: 100.0 for i in range(n)}, train_loss,
                         collections.OrderedDict((i, t_train) for i in range(n)))
    accs, losses, times = {}, {}, {}
    for name in SETS[dataset]:
        for i in range(n):
            accs[f"{name}@{i}"] = expected_acc(arch, i + 1, seed, dataset, hp) - (0.7 if name != "x-valid" else 0.0)
            losses[f"{name}@{i}"] = 1.0
            times[f"{name}@{i}"] = t_eval
    rc.update_eval(accs, losses, times)
    rc.update_latency([0.01])
    return rc


def _arch_record(index, arch, datasets=("cifar10-valid", "cifar100")):
    from nats_bench.api_utils import ArchResults
    arch_str = nb201_data.arch_to_str(arch)
    hp2info = collections.OrderedDict()
    for hp in ("12", "200"):
        info = ArchResults(index, arch_str)
        for dataset in datasets:
            for seed in SEEDS[hp]:
                info.update(dataset, seed, _results_count(arch_str, arch, dataset, seed, hp))
        info.clear_params()
        hp2info[hp] = info.state_dict()
    return hp2info


FIXTURE_ARCHS = SPACE_ARCHS + [ALL_NONE]
META_ARCHS = [nb201_data.arch_to_str(a) for a in FIXTURE_ARCHS + [LISTED_WITHOUT_FILE]]


def write_nats_simple(folder: Path) -> Path:
    from nats_bench import pickle_save
    folder.mkdir(parents=True)
    pickle_save({"meta_archs": META_ARCHS, "total_archs": len(META_ARCHS), "arch2infos": None,
                 "evaluated_indexes": set()}, str(folder / "meta.pickle"))
    for index, arch in enumerate(FIXTURE_ARCHS):  # LISTED_WITHOUT_FILE (the last index) gets no file
        pickle_save(_arch_record(index, arch), str(folder / f"{index:06d}.pickle"))
    return folder


def write_nats_archive(path_without_ext: Path) -> Path:
    from nats_bench import pickle_save
    path_without_ext.parent.mkdir(parents=True, exist_ok=True)
    arch2infos = {i: _arch_record(i, a) for i, a in enumerate(FIXTURE_ARCHS)}
    pickle_save({"meta_archs": META_ARCHS, "total_archs": len(META_ARCHS), "arch2infos": arch2infos,
                 "evaluated_indexes": set(arch2infos)}, str(path_without_ext))
    return Path(str(path_without_ext) + ".pbz2")


def write_nni_db(path: Path, archs=FIXTURE_ARCHS) -> Path:
    """As NNI's nasbench201 db_gen.py: one config per (arch, num_epochs, dataset), stats per seed."""
    _, Config, proxy, Database = nb201_data._import_nni_nb201()
    from nni.nas.benchmark.nasbench201.schema import Nb201IntermediateStats, Nb201TrialStats
    to_nni = {"nor_conv_1x1": "conv_1x1", "nor_conv_3x3": "conv_3x3"}
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(str(path), autoconnect=True)
    proxy.initialize(db)
    with db:
        db.create_tables([Config, Nb201TrialStats, Nb201IntermediateStats])
        for arch in archs:
            arch_json = {e: to_nni.get(op, op) for e, op in arch.items()}
            for hp in ("12", "200"):
                epochs = EPOCHS[hp]
                for dataset in ("cifar10-valid", "cifar100"):
                    config = Config.create(arch=arch_json, num_epochs=int(hp), dataset=dataset,
                                           num_channels=16, num_cells=5)
                    t_train, t_eval = expected_epoch_seconds(arch, dataset)
                    for seed in SEEDS[hp]:
                        last = expected_acc(arch, epochs, seed, dataset, hp)
                        stats = Nb201TrialStats.create(
                            config=config, seed=seed, train_acc=99.0, valid_acc=last, test_acc=last - 0.7,
                            ori_test_acc=last - 0.7, train_loss=0.1, valid_loss=1.0, test_loss=1.0,
                            ori_test_loss=1.0, parameters=1.2, latency=0.01, flops=150.0,
                            training_time=t_train * int(hp), valid_evaluation_time=t_eval,
                            test_evaluation_time=t_eval, ori_test_evaluation_time=t_eval)
                        Nb201IntermediateStats.insert_many([
                            dict(trial=stats, current_epoch=e, train_acc=90.0,
                                 valid_acc=expected_acc(arch, e, seed, dataset, hp),
                                 test_acc=70.0, ori_test_acc=70.0, train_loss=0.3, valid_loss=1.0,
                                 test_loss=1.0, ori_test_loss=1.0)
                            for e in range(1, epochs + 1)]).execute(db)
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb201")
    write_nats_simple(root / "torch" / nb201_data.NATS_SIMPLE_DIR)
    write_nats_archive(root / "archive" / "NATS-tss-v1_0-3ffb9.pickle")
    write_nni_db(root / "nasbenchmark" / nb201_data.NNI_DB_NAME)
    return root


# ---------------------------------------------------------------------------
# Architectures
# ---------------------------------------------------------------------------

def test_arch_string_round_trip_and_nni_names():
    arch = {"0_1": "nor_conv_3x3", "0_2": "skip_connect", "1_2": "none",
            "0_3": "avg_pool_3x3", "1_3": "conv_1x1", "2_3": "conv_3x3"}
    s = nb201_data.arch_to_str(arch)
    assert s == "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    assert nb201_data.arch_from_str(s) == nb201_data.arch_from_params(arch)
    assert nb201_data.arch_to_str(ALL_NONE) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(ValueError, match="unknown operation 'conv_5x5'"):
        nb201_data.arch_from_params(dict(arch, **{"2_3": "conv_5x5"}))
    with pytest.raises(ValueError, match="lack the edge"):
        nb201_data.arch_from_params({"0_1": "none"})


def test_search_space_file_covers_the_cell():
    space = json.loads((EXAMPLE / "search_space.json").read_text())
    assert list(space) == list(nb201_data.EDGES)
    for spec in space.values():
        assert spec["_type"] == "choice" and spec["_value"] == list(nb201_data.OPS)


def test_dataset_names():
    assert nb201_data.canonical_dataset("imagenet16-120") == "ImageNet16-120"
    with pytest.raises(ValueError, match="no validation split; use cifar10-valid"):
        nb201_data.canonical_dataset("cifar10")


# ---------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------

def _check_curve(curve, arch, seeds, dataset="cifar10-valid", hp="200"):
    assert curve.arch == nb201_data.arch_to_str(arch) and curve.dataset == dataset and curve.hp == hp
    # NATS-Bench stores the epochs each run recorded; NNI's DB the schedule length (num_epochs)
    assert curve.total_epochs == (int(hp) if curve.source.startswith("NNI") else EPOCHS[hp])
    assert curve.seeds == tuple(seeds)
    assert sorted(curve.valid_acc) == list(range(1, EPOCHS[hp] + 1))
    for e, acc in curve.valid_acc.items():
        want = sum(expected_acc(arch, e, s, dataset, hp) for s in seeds) / len(seeds) / 100
        assert acc == pytest.approx(want, abs=1e-9)
    t_train, t_eval = expected_epoch_seconds(arch, dataset)
    assert curve.time_until(5) == pytest.approx(5 * (t_train + t_eval))


@pytest.mark.parametrize("layout", ["simple", "archive", "nnidb"])
def test_loaders_read_the_official_formats(data_dir, layout):
    path = {"simple": data_dir / "torch" / nb201_data.NATS_SIMPLE_DIR,
            "archive": data_dir / "archive" / "NATS-tss-v1_0-3ffb9.pickle.pbz2",
            "nnidb": data_dir / "nasbenchmark" / nb201_data.NNI_DB_NAME}[layout]
    bench = nb201_data.open_benchmark(path)
    assert bench.kind == ("nnidb" if layout == "nnidb" else "nats")
    arch = SPACE_ARCHS[3]
    _check_curve(bench.curve(arch), arch, (777, 888))
    _check_curve(bench.curve(arch, seed=888), arch, (888,))
    _check_curve(bench.curve(arch, "cifar100", hp="12"), arch, (111,), "cifar100", "12")
    assert bench.curve(arch, seed="random").seeds in ((777,), (888,))
    _check_curve(bench.curve(ALL_NONE), ALL_NONE, (777, 888))
    with pytest.raises(nb201_data.ArchitectureNotFoundError, match="seed 5"):
        bench.curve(arch, seed=5)
    with pytest.raises(nb201_data.ArchitectureNotFoundError, match=r"\|avg_pool_3x3~0\|\+"):
        bench.curve(NOT_LISTED)
    with pytest.raises(nb201_data.ArchitectureNotFoundError):
        bench.curve(arch, "ImageNet16-120")


def test_nats_folder_with_a_missing_architecture_file(data_dir):
    bench = nb201_data.open_benchmark(data_dir / "torch" / nb201_data.NATS_SIMPLE_DIR)
    with pytest.raises(nb201_data.ArchitectureNotFoundError, match="file 000007.pickle.pbz2 is missing"):
        bench.curve(LISTED_WITHOUT_FILE)
    bench = nb201_data.open_benchmark(data_dir / "archive")
    with pytest.raises(nb201_data.ArchitectureNotFoundError, match="index 7 .* holds no results"):
        bench.curve(LISTED_WITHOUT_FILE)


def test_standard_locations_from_environment(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(data_dir / "torch"))
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path / "nothing-here"))
    bench = nb201_data.open_benchmark()
    assert bench.kind == "nats" and bench.path.name == nb201_data.NATS_SIMPLE_DIR
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("NASBENCHMARK_DIR", str(data_dir / "nasbenchmark"))
    assert nb201_data.open_benchmark().kind == "nnidb"
    assert nb201_data.open_benchmark(data_dir / "nasbenchmark", source="nnidb").kind == "nnidb"
    assert nb201_data.open_benchmark(data_dir / "torch", source="nats").kind == "nats"


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path / "nb"))
    with pytest.raises(nb201_data.DataNotFoundError) as e:
        nb201_data.open_benchmark()
    msg = str(e.value)
    assert str(tmp_path / "th" / nb201_data.NATS_SIMPLE_DIR) in msg
    assert str(tmp_path / "nb" / nb201_data.NNI_DB_NAME) in msg and "NATS-Bench" in msg
    with pytest.raises(nb201_data.DataNotFoundError, match="does not exist"):
        nb201_data.open_benchmark(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(nb201_data.DataNotFoundError, match="is not"):
        nb201_data.open_benchmark(tmp_path / "empty")
    (tmp_path / "broken.db").write_text("not sqlite")
    with pytest.raises(nb201_data.DataNotFoundError, match="not an SQLite database"):
        nb201_data.open_benchmark(tmp_path / "broken.db")
    (tmp_path / "d").mkdir()
    with pytest.raises(nb201_data.DataNotFoundError, match="no meta.pickle.pbz2"):
        nb201_data.NatsTopologyBenchmark(tmp_path / "d")


def test_nni_db_without_the_dataset(tmp_path):
    db = write_nni_db(tmp_path / "one.db", archs=[ALL_NONE])
    bench = nb201_data.open_benchmark(db)
    with pytest.raises(nb201_data.ArchitectureNotFoundError, match="no records at all for dataset imagenet16-120"):
        bench.curve(ALL_NONE, "ImageNet16-120")
    with pytest.raises(nb201_data.ArchitectureNotFoundError, match="1 architectures recorded"):
        bench.curve(SPACE_ARCHS[0])


# ---------------------------------------------------------------------------
# Trial
# ---------------------------------------------------------------------------

def test_run_trial_reports_the_recorded_curve_and_sleeps_scaled_time(data_dir):
    bench = nb201_data.open_benchmark(data_dir / "torch")
    arch = SPACE_ARCHS[0]
    curve = bench.curve(arch)
    inter, final, slept = [], [], []
    got = nb201_trial.run_trial(curve, 7, inter.append, final.append, time_scale=0.01, sleep=slept.append)
    assert [m["budget"] for m in inter] == list(range(1, 8))
    assert [m["default"] for m in inter] == [curve.valid_acc[e] for e in range(1, 8)]
    assert final == [got] == [curve.valid_acc[7]]
    t_train, t_eval = expected_epoch_seconds(arch)
    assert slept == pytest.approx([0.01 * (t_train + t_eval)] * 7)
    with pytest.raises(nb201_trial.BudgetError, match="R <= 12"):
        nb201_trial.run_trial(curve, 13, inter.append, final.append)


def test_resolve_params():
    params = dict(BASE, TRIAL_BUDGET=9.0, extra=1)
    arch, budget, ignored = nb201_trial.resolve_params(params)
    assert arch == BASE and budget == 9 and ignored == ["extra"]
    arch, budget, _ = nb201_trial.resolve_params({}, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert arch == ALL_NONE and budget is None
    with pytest.raises(ValueError, match="lack the edge"):
        nb201_trial.resolve_params({"0_1": "none", "TRIAL_BUDGET": 3})
    with pytest.raises(nb201_trial.BudgetError):
        nb201_trial.resolve_params(dict(BASE, TRIAL_BUDGET=0))


@pytest.mark.filterwarnings("ignore:.*Running trial code without runtime:RuntimeWarning")
def test_trial_main_standalone(data_dir, capsys):
    rc = nb201_trial.main(["--data", str(data_dir / "nasbenchmark"), "--arch", nb201_data.arch_to_str(ALL_NONE),
                           "--epochs", "3", "--seed", "777"])
    out = capsys.readouterr().out
    assert rc == 0
    line = next(l for l in out.splitlines() if l.startswith("NB201 result: "))
    result = json.loads(line.split(": ", 1)[1])
    assert result["final"] == pytest.approx(expected_acc(ALL_NONE, 3, 777) / 100)


@pytest.mark.filterwarnings("ignore:.*Running trial code without runtime:RuntimeWarning")
def test_trial_main_errors_are_clear(data_dir, tmp_path, capsys):
    rc = nb201_trial.main(["--data", str(data_dir / "torch"), "--arch", nb201_data.arch_to_str(NOT_LISTED)])
    assert rc == 2 and "is not in" in capsys.readouterr().err
    rc = nb201_trial.main(["--data", str(tmp_path / "missing"), "--epochs", "3"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    rc = nb201_trial.main(["--data", str(data_dir / "torch"), "--arch", nb201_data.arch_to_str(ALL_NONE)])
    assert rc == 2 and "R <= 12" in capsys.readouterr().err


def test_config_yml_maps_budgets_onto_recorded_epochs():
    import yaml
    from hyperjump_advisor.schedule import iteration_plan
    cfg = yaml.safe_load((EXAMPLE / "config.yml").read_text())
    args = cfg["advisor"]["classArgs"]
    assert cfg["advisor"]["name"] == "HyperJump" and args["R"] == 200
    budgets = {st.budget for br in iteration_plan(args["R"], args["eta"]) for st in br}
    assert budgets <= set(range(1, 201)), budgets
    hb = yaml.safe_load((EXAMPLE / "config_hyperband.yml").read_text())
    assert hb["advisor"]["name"] == "Hyperband"
    for key in ("R", "eta", "optimize_mode", "exec_mode"):
        assert hb["advisor"]["classArgs"][key] == args[key]
    for key in ("searchSpaceFile", "trialCommand", "trialConcurrency", "maxTrialNumber", "trainingService"):
        assert hb[key] == cfg[key]


# ---------------------------------------------------------------------------
# A real NNI experiment (local training service) with HyperJump on the fixture
# ---------------------------------------------------------------------------

@pytest.mark.e2e
def test_hyperjump_experiment_on_fixture_benchmark(data_dir, nni_home, tmp_path):
    import socket
    from nni.experiment import AlgorithmConfig, Experiment
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exp = Experiment("local")
    exp.config.experiment_name = "nb201-hyperjump-e2e"
    exp.config.search_space = {
        e: {"_type": "choice", "_value": sorted({a[e] for a in SPACE_ARCHS})} for e in nb201_data.EDGES}
    exp.config.trial_command = (f"{sys.executable} nb201_trial.py --data {data_dir / 'torch'} "
                                "--dataset cifar10-valid --time-scale 0.002")
    exp.config.trial_code_directory = str(EXAMPLE)
    exp.config.trial_concurrency = 3
    exp.config.max_trial_number = 13
    exp.config.max_experiment_duration = "5m"
    exp.config.experiment_working_directory = str(tmp_path)
    exp.config.advisor = AlgorithmConfig(name="HyperJump", class_args={
        "R": 9, "eta": 3, "exec_mode": "parallelism", "optimize_mode": "maximize", "seed": 1})
    try:
        assert exp.run(port) is True
        status = exp.get_status()
        jobs = exp.list_trial_jobs()
    finally:
        exp.stop()
    assert status == "DONE"
    # A jump may kill a stage's trials that are still running (timing decides whether one is): those, and
    # only those, end USER_CANCELED, and the advisor's own records name each of them as killed by it (a kill
    # that reaches a trial after it finished leaves it SUCCEEDED).
    records = {t.trial_job_id: t for t in load_records(Path(tmp_path, exp.id, "log")).trials}
    assert len(jobs) == 13 and {j.trialJobId for j in jobs} == set(records)
    cancelled = {j.trialJobId for j in jobs if j.status != "SUCCEEDED"}
    assert all(j.status in ("SUCCEEDED", "USER_CANCELED") for j in jobs), [j.status for j in jobs]
    assert cancelled <= {job for job, t in records.items() if t.killed}, (cancelled, records)

    trial_root = Path(tmp_path, exp.id, "environments", "local-env", "trials")
    for job in jobs:
        if job.trialJobId in cancelled:
            continue
        log = (trial_root / job.trialJobId / "trial.log").read_text()
        result = json.loads(next(l for l in log.splitlines() if "NB201 result: " in l).split("NB201 result: ", 1)[1])
        arch = nb201_data.arch_from_str(result["arch"])
        assert arch in SPACE_ARCHS
        want = sum(expected_acc(arch, result["budget"], s) for s in (777, 888)) / 200
        assert result["final"] == pytest.approx(want)
        reported = job.finalMetricData[0].data
        assert float(json.loads(reported) if isinstance(reported, str) else reported) == pytest.approx(want)
        assert result["budget"] == records[job.trialJobId].budget
    budgets = [t.budget for t in records.values()]
    assert set(budgets) <= {1, 3, 9} and budgets.count(1) == 9
