"""The four shared HyperJump tables (``--table hyperjump:NAME``: cnn, cnn_time3, mnist_epochs,
unet), the shared LCBench table (``--table lcbench:189908``, a generic CSV in
``../shared/benchmarks/lcbench/``, see its README), the synthetic family (``--table synthetic:NAME``,
:mod:`.synthetic_family`) and :func:`load_table`, which reads any of them or a generic CSV table.

The shared tables are read from
``../shared/benchmarks/hyperjump-tables/`` relative to the repository root
(following its README): see :data:`SHARED_TABLES`. Their PERIODICAL metrics come
from the same configuration's rows at the smaller levels, as the reference
implementation's "checkpointing" does (the trial reports its loss at each level it
passes on its way).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .table_csv import build_table, load_generic, read_csv
from .tables import Table, TableError

LCBENCH_TASKS = ("189908",)


def shared_tables_dir() -> Path:
    """``../shared/benchmarks/hyperjump-tables`` relative to the repository root (this checkout).

    ``HYPERJUMP_TABLES`` overrides it (a checkout elsewhere)."""
    override = os.environ.get("HYPERJUMP_TABLES")
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[2]
    return (repo_root / ".." / "shared" / "benchmarks" / "hyperjump-tables").resolve()


_VCPUS = {"t2.small": 1, "t2.medium": 2, "t2.xlarge": 4, "t2.2xlarge": 8}
_CNN_HPS = ["vm_flavor", "batch_size", "learning_rate", "num_cores", "synchronism"]


def _cnn_config(r: dict) -> dict:
    # The reference parametrises the cluster by its total cores (n_workers x vCPUs of the flavor):
    # {8,16,32,48,64,80} for every flavor, which makes the 288 configurations a full grid
    # (n_workers itself takes 15 values, a 720-point grid with 60% holes).
    flavor = r["vm_flavor"]
    return {"vm_flavor": flavor, "batch_size": int(r["batch_size"]), "learning_rate": float(r["learning_rate"]),
            "num_cores": int(r["n_workers"]) * _VCPUS[flavor], "synchronism": r["synchronism"]}


def _load_cnn(directory: Path) -> Table:
    _, raw = read_csv(directory / "cnn.csv")
    size_map = {1000: 3750, 6000: 7500}
    records = []
    for r in raw:
        size = int(float(r["training_set_size"]))
        records.append({**_cnn_config(r), "budget": size_map.get(size, size),
                        "loss": 1.0 - float(r["acc"]), "time": float(r["training_time"])})
    return build_table("hyperjump:cnn", _CNN_HPS, records, intermediate="rows", eta=2,
                       description="CNN on MNIST, budget = training-set size (1000->3750, 6000->7500), "
                                   "loss = 1 - acc, cost = training_time")


def _load_cnn_time3(directory: Path) -> Table:
    _, raw = read_csv(directory / "cnn_time3.csv")
    records = []
    for r in raw:
        budget = float(r["training_time"])
        records.append({**_cnn_config(r), "budget": budget, "loss": 1.0 - float(r["acc"]), "time": budget})
    return build_table("hyperjump:cnn_time3", _CNN_HPS, records, intermediate="rows", eta=3,
                       description="CNN on MNIST, budget = training seconds, loss = 1 - acc, cost = the budget")


def _load_mnist_epochs(directory: Path) -> Table:
    _, raw = read_csv(directory / "data_mnist_epoch_datasetSize.csv")
    records = []
    for r in raw:
        if float(r["size"]) != 1.0:
            continue
        records.append({"batch_size": int(r["bacth"]), "learning_rate": float(r["lr"]),
                        "momentum": float(r["momentum"]), "weight_decay": float(r["weightDecay"]),
                        "budget": float(r["epoch"]), "loss": float(r["testError"]), "time": float(r["trainTime"])})
    return build_table("hyperjump:mnist_epochs", ["batch_size", "learning_rate", "momentum", "weight_decay"],
                       records, intermediate="rows", eta=2,
                       description="CNN on MNIST at data size 1.0, budget = epochs, loss = testError, "
                                   "cost = trainTime")


def _load_unet(directory: Path) -> Table:
    _, raw = read_csv(directory / "unet_eta3.csv")
    hps = ["Flavor", "nrWorker", "batch", "learningRate", "momentum", "sync"]
    records = []
    for r in raw:
        budget = float(r["sizeSeconds"])
        records.append({"Flavor": r["Flavor"], "nrWorker": int(r["nrWorker"]), "batch": int(r["batch"]),
                        "learningRate": float(r["learningRate"]), "momentum": float(r["momentum"]),
                        "sync": r["sync"], "budget": budget, "loss": 1.0 - float(r["acc"]), "time": budget})
    return build_table("hyperjump:unet", hps, records, intermediate="rows", eta=3,
                       description="Light U-Net, budget = training seconds, loss = 1 - acc, cost = the budget; "
                                   "99 of the 144 grid points exist (nrWorker=1 only has sync): by default a "
                                   "list space of the 99; with --space grid the others FAIL at once (counted)")


SHARED_TABLES: dict[str, Callable[[Path], Table]] = {
    "cnn": _load_cnn,
    "cnn_time3": _load_cnn_time3,
    "mnist_epochs": _load_mnist_epochs,
    "unet": _load_unet,
}
_CACHE: dict[str, Table] = {}


def shared_benchmarks_dir() -> Path:
    """``../shared/benchmarks`` relative to the repository root (the parent of the hyperjump tables' folder)."""
    return shared_tables_dir().parent


def _load_lcbench(spec: str) -> Table:
    task = spec.split(":", 1)[1]
    if task not in LCBENCH_TASKS:
        raise TableError(f"unknown LCBench table {spec!r}; known: {', '.join('lcbench:' + t for t in LCBENCH_TASKS)}")
    path = shared_benchmarks_dir() / "lcbench" / f"lcbench_{task}.csv"
    if not path.is_file():
        raise TableError(f"LCBench table not found at {path} (expected ../shared/benchmarks/lcbench beside the "
                         "repository; set HYPERJUMP_TABLES to the hyperjump-tables folder of another checkout)")
    table = load_generic(path)
    table.name = spec
    return table


def load_table(spec: str, space: str = "auto") -> Table:
    """``hyperjump:NAME`` (a shared table), ``lcbench:TASK``, ``synthetic:NAME`` or a path to a generic CSV
    table; ``space``: see :mod:`.tables` (auto: grid for a full grid, else list)."""
    from . import synthetic_family  # lazy: ``python -m hyperjump_advisor.replay.synthetic_family`` runs it as main
    if spec.startswith(("lcbench:", synthetic_family.PREFIX)):
        if spec not in _CACHE:
            _CACHE[spec] = _load_lcbench(spec) if spec.startswith("lcbench:") else \
                synthetic_family.build(synthetic_family.member(spec[len(synthetic_family.PREFIX):]))
        return _CACHE[spec].with_space(space)
    if spec.startswith("hyperjump:"):
        name = spec.split(":", 1)[1]
        if name not in SHARED_TABLES:
            raise TableError(f"unknown shared table {spec!r}; known: "
                             f"{', '.join('hyperjump:' + n for n in SHARED_TABLES)}")
        if spec not in _CACHE:
            directory = shared_tables_dir()
            if not directory.is_dir():
                raise TableError(f"shared tables not found at {directory} (expected ../shared/benchmarks/"
                                 "hyperjump-tables beside the repository; set HYPERJUMP_TABLES to override)")
            _CACHE[spec] = SHARED_TABLES[name](directory)
        return _CACHE[spec].with_space(space)
    return load_generic(spec, space)
