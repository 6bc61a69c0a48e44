"""Recorded NAS-Bench-201 learning curves, from either of the two official formats.

Sources (nothing is ever downloaded; see README.md for where to get the files):

* ``nats`` -- the NATS-Bench topology benchmark (``tss``; the same 15,625 cells as
  NAS-Bench-201) read through the official ``nats_bench`` package (``pip install nats_bench``):

  - the folder ``NATS-tss-v1_0-3ffb9-simple/`` (``meta.pickle.pbz2`` with the list of
    architecture strings, plus one ``NNNNNN.pickle.pbz2`` per architecture). Opened in
    ``nats_bench``'s ``fast_mode``: a trial reads only the file of its own architecture,
    so this is the format to use;
  - the single archive ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (everything in one bz2 pickle;
    every trial process decompresses and unpickles all of it: slow).

* ``nnidb`` -- NNI's converted NAS-Bench-201 database (``nasbench201-b2b60732.db``, SQLite,
  read with NNI's own peewee models ``nni.nas.benchmark.nasbench201``; needs ``peewee<4``).
  Opened directly, without NNI's ``load_benchmark``: that one hashes the whole (large)
  file in every (trial) process and downloads it when it is missing.

Default locations (the standard environment variables of the two projects):
``$TORCH_HOME`` (default ``~/.torch``) for NATS-Bench, ``$NASBENCHMARK_DIR`` (default
``~/.cache/nni/nasbenchmark``, i.e. ``$NNI_HOME/nasbenchmark``) for NNI's database.

A curve is the validation accuracy after each epoch of the 200-epoch (``hp="200"``) or
the 12-epoch (``hp="12"``) training schedule, in [0, 1], and the recorded seconds per
epoch (training + evaluating the validation split), from which a trial can sleep a
scaled fraction. ``cifar10`` (train+valid) has no validation split and is refused; use
``cifar10-valid``.
"""
from __future__ import annotations

import math
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

#: Edges of the cell as ``"i_j"`` (node i feeds node j), in the order of the arch string.
EDGES = ("0_1", "0_2", "1_2", "0_3", "1_3", "2_3")
#: Operations, with NATS-Bench / NAS-Bench-201 names.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: NNI's names (``nni.nas.benchmark.nasbench201`` and NNI's Hyperband example) -> ours.
OP_ALIASES = {"conv_1x1": "nor_conv_1x1", "conv_3x3": "nor_conv_3x3"}
_TO_NNI_OP = {"none": "none", "skip_connect": "skip_connect", "nor_conv_1x1": "conv_1x1",
              "nor_conv_3x3": "conv_3x3", "avg_pool_3x3": "avg_pool_3x3"}

#: Datasets with a validation split, and the name of that split in NATS-Bench.
DATASETS = {"cifar10-valid": "x-valid", "cifar100": "x-valid", "ImageNet16-120": "x-valid"}
HPS = ("200", "12")

NATS_BASE_NAME = "NATS-tss-v1_0-3ffb9"
NATS_SIMPLE_DIR = NATS_BASE_NAME + "-simple"
NATS_ARCHIVE = NATS_BASE_NAME + ".pickle.pbz2"
NNI_DB_NAME = "nasbench201-b2b60732.db"  # basename of NNI's DB_URLS['nasbench201']

WHERE_TO_GET = (
    "Get NATS-tss-v1_0-3ffb9-simple.tar from the NATS-Bench page "
    "(https://github.com/D-X-Y/NATS-Bench) and untar it into $TORCH_HOME (default ~/.torch), "
    "or run `python -c \"import nni; nni.set_default_framework('none'); "
    "from nni.nas.benchmark import download_benchmark; download_benchmark('nasbench201')\"` "
    "for NNI's database; or pass --data PATH."
)


class BenchmarkError(RuntimeError):
    """The benchmark data cannot answer a query; the message says what is missing and how to fix it."""


class DataNotFoundError(BenchmarkError, FileNotFoundError):
    """No benchmark data where we looked (or a file that is not benchmark data)."""


class ArchitectureNotFoundError(BenchmarkError, KeyError):
    """The architecture (or its record for the dataset / schedule / seed) is not in the data."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------------------
# Architectures
# ---------------------------------------------------------------------------

def canonical_op(op: Any, edge: str = "?") -> str:
    if isinstance(op, str):
        op = OP_ALIASES.get(op, op)
        if op in OPS:
            return op
    raise ValueError(f"edge {edge}: unknown operation {op!r}; allowed: {', '.join(OPS)} "
                     f"(NNI's names {', '.join(OP_ALIASES)} are accepted too)")


def arch_from_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The cell from NNI parameters with one key per edge (``"0_1"`` .. ``"2_3"``)."""
    missing = [e for e in EDGES if e not in params]
    if missing:
        raise ValueError(f"parameters lack the edge(s) {', '.join(missing)}; the search space needs "
                         f"one choice per edge {', '.join(EDGES)}")
    return {e: canonical_op(params[e], e) for e in EDGES}


def arch_to_str(arch: Mapping[str, str]) -> str:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (node 1 | node 2 | node 3)."""
    a = {e: canonical_op(arch[e], e) for e in EDGES}
    return (f"|{a['0_1']}~0|+|{a['0_2']}~0|{a['1_2']}~1|+"
            f"|{a['0_3']}~0|{a['1_3']}~1|{a['2_3']}~2|")


_ARCH_RE = re.compile(r"^\|([^|~]+)~0\|\+\|([^|~]+)~0\|([^|~]+)~1\|\+\|([^|~]+)~0\|([^|~]+)~1\|([^|~]+)~2\|$")


def arch_from_str(arch_str: str) -> dict[str, str]:
    m = _ARCH_RE.match(arch_str.strip()) if isinstance(arch_str, str) else None
    if not m:
        raise ValueError(f"not a NAS-Bench-201 cell string: {arch_str!r}; expected "
                         "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|")
    return {e: canonical_op(op, e) for e, op in zip(EDGES, m.groups())}


def canonical_dataset(name: str) -> str:
    by_lower = {d.lower(): d for d in DATASETS}
    if isinstance(name, str) and name.lower() in by_lower:
        return by_lower[name.lower()]
    if isinstance(name, str) and name.lower() == "cifar10":
        raise ValueError("dataset cifar10 is trained on train+valid and has no validation split; "
                         "use cifar10-valid (validation accuracy on the held-out half of CIFAR-10's training set)")
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


# ---------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Curve:
    """One architecture's recorded validation curve (averaged over ``seeds`` or of one seed)."""

    arch: str
    dataset: str
    hp: str                       # "200" or "12": the schedule the run was trained with
    total_epochs: int             # epochs of that run
    seeds: tuple                  # the seed(s) the values come from
    valid_acc: dict = field(default_factory=dict)    # epoch (1-based) -> accuracy in [0, 1]
    epoch_time: dict = field(default_factory=dict)   # epoch -> seconds (train + validation); may be empty
    source: str = ""

    def accuracy_at(self, epoch: int) -> float:
        if epoch not in self.valid_acc:
            raise ArchitectureNotFoundError(
                f"{self.arch} on {self.dataset} (hp={self.hp}) has no validation accuracy recorded "
                f"after epoch {epoch}; recorded epochs: {_ranges(self.valid_acc)} ({self.source})")
        return self.valid_acc[epoch]

    def time_until(self, epoch: int) -> Optional[float]:
        """Recorded seconds to train (and validate) epochs 1..epoch from scratch; None if unknown."""
        if not self.epoch_time:
            return None
        return float(sum(t for e, t in self.epoch_time.items() if e <= epoch))


def _ranges(epochs: Iterable[int]) -> str:
    xs = sorted(epochs)
    if not xs:
        return "none"
    out, start, prev = [], xs[0], xs[0]
    for x in xs[1:] + [None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return ", ".join(out)


@dataclass
class _SeedRun:
    seed: int
    epochs: int
    acc: dict    # epoch -> [0, 1]
    time: dict   # epoch -> seconds


def _pick(runs: list[_SeedRun], seed: Union[None, str, int], what: str) -> list[_SeedRun]:
    """``None``/"mean": all seeds (averaged later); "random": one at random; int: that seed."""
    if seed is None or seed == "mean":
        return runs
    if seed == "random":
        return [random.choice(runs)]
    chosen = [r for r in runs if r.seed == int(seed)]
    if not chosen:
        raise ArchitectureNotFoundError(
            f"{what}: no run with seed {seed}; recorded seeds: {', '.join(str(r.seed) for r in runs)}")
    return chosen


def _combine(runs: list[_SeedRun], arch: str, dataset: str, hp: str, source: str) -> Curve:
    epochs = {r.epochs for r in runs}
    total = max(epochs)
    acc: dict = {}
    for e in sorted({e for r in runs for e in r.acc}):
        vals = [r.acc[e] for r in runs if e in r.acc and r.acc[e] is not None and math.isfinite(r.acc[e])]
        if vals:
            acc[e] = float(sum(vals) / len(vals))
    times: dict = {}
    if all(r.time for r in runs):
        for e in sorted({e for r in runs for e in r.time}):
            vals = [r.time[e] for r in runs if e in r.time and r.time[e] is not None]
            if vals:
                times[e] = float(sum(vals) / len(vals))
    return Curve(arch=arch, dataset=dataset, hp=hp, total_epochs=total,
                 seeds=tuple(sorted(r.seed for r in runs)), valid_acc=acc, epoch_time=times, source=source)


# ---------------------------------------------------------------------------
# NATS-Bench (nats_bench package)
# ---------------------------------------------------------------------------

class NatsTopologyBenchmark:
    """NATS-Bench topology data through ``nats_bench.create(path, "tss", fast_mode=...)``."""

    kind = "nats"

    def __init__(self, path: Union[str, Path]):
        path = Path(path).expanduser()
        if path.is_dir():
            meta = path / "meta.pickle.pbz2"
            if not meta.is_file():
                raise DataNotFoundError(
                    f"{path} is not a NATS-Bench 'simple' folder: it has no meta.pickle.pbz2. "
                    f"Expected the untarred {NATS_SIMPLE_DIR}/ (meta.pickle.pbz2 + one NNNNNN.pickle.pbz2 "
                    f"per architecture). {WHERE_TO_GET}")
            fast_mode = True
        elif path.is_file():
            fast_mode = False
        else:
            raise DataNotFoundError(f"NATS-Bench data not found: {path} does not exist. {WHERE_TO_GET}")
        try:
            import nats_bench
        except ImportError as e:
            raise BenchmarkError(f"reading {path} needs the nats_bench package: pip install nats_bench ({e})") from e
        self.path = path
        self.fast_mode = fast_mode
        try:
            self.api = nats_bench.create(str(path), "tss", fast_mode=fast_mode, verbose=False)
        except (OSError, EOFError, ValueError, KeyError) as e:
            raise DataNotFoundError(f"{path} could not be read as NATS-Bench topology data "
                                    f"({type(e).__name__}: {e}). {WHERE_TO_GET}") from e

    def describe(self) -> str:
        mode = "folder, fast_mode" if self.fast_mode else "single archive"
        return f"NATS-Bench topology ({mode}) {self.path}: {len(self.api)} architectures listed"

    def curve(self, arch: Mapping[str, str], dataset: str = "cifar10-valid", hp: str = "200",
              seed: Union[None, str, int] = None) -> Curve:
        dataset, hp = canonical_dataset(dataset), _check_hp(hp)
        arch_str = arch_to_str(arch)
        index = self.api.query_index_by_arch(arch_str)
        if index < 0:
            raise ArchitectureNotFoundError(
                f"architecture {arch_str} is not in {self.path} ({len(self.api)} architectures listed in "
                "its meta data); a complete NATS-Bench topology benchmark lists all 15,625 cells")
        if self.fast_mode and index not in self.api.arch2infos_dict:
            names = [self.path / f"{index:06d}.pickle.pbz2", self.path / f"{index}.pickle.pbz2"]
            if not any(n.is_file() for n in names):
                raise ArchitectureNotFoundError(
                    f"architecture {arch_str} is listed as index {index} in {self.path}/meta.pickle.pbz2 but its "
                    f"file {names[0].name} is missing: the folder is incomplete (re-extract {NATS_SIMPLE_DIR}.tar)")
        if not self.fast_mode and index not in self.api.arch2infos_dict:
            raise ArchitectureNotFoundError(
                f"architecture {arch_str} is listed as index {index} in {self.path} but the archive "
                "holds no results for it (an incomplete or partial archive)")
        try:
            info = self.api.query_meta_info_by_index(index, hp=hp)
        except ValueError as e:
            raise ArchitectureNotFoundError(
                f"architecture {arch_str} (index {index}) has no hp={hp} results in {self.path}: {e}") from e
        if dataset not in info.get_dataset_names():
            raise ArchitectureNotFoundError(
                f"architecture {arch_str} (index {index}, hp={hp}) has no results on {dataset} in {self.path}; "
                f"it has: {', '.join(info.get_dataset_names())}")
        split = DATASETS[dataset]
        runs = []
        for s, rc in info.query(dataset).items():
            acc, times = {}, {}
            train_times = rc.train_times if isinstance(rc.train_times, dict) else {}
            for i in range(int(rc.epochs)):
                key = f"{split}@{i}"
                if key in rc.eval_acc1es:
                    acc[i + 1] = float(rc.eval_acc1es[key]) / 100.0
                if i in train_times:
                    times[i + 1] = float(train_times[i]) + float((rc.eval_times or {}).get(key) or 0.0)
            runs.append(_SeedRun(int(s), int(rc.epochs), acc, times))
        what = f"architecture {arch_str} on {dataset} (hp={hp})"
        if not runs:
            raise ArchitectureNotFoundError(f"{what}: no runs recorded in {self.path}")
        return _combine(_pick(runs, seed, what), arch_str, dataset, hp, f"NATS-Bench {self.path.name}")


# ---------------------------------------------------------------------------
# NNI's nasbench201 database (nni.nas.benchmark.nasbench201)
# ---------------------------------------------------------------------------

def _import_nni_nb201():
    """NNI 3.0's nasbench201 modules without PyTorch.

    ``nni.nas.benchmark`` imports ``nni.nas.evaluator``, which binds to PyTorch(-Lightning)
    unless NNI's default framework is ``none``; the benchmark code itself needs only peewee.
    """
    import nni
    from nni.common.framework import get_default_framework
    previous = get_default_framework()
    try:
        nni.set_default_framework("none")
        from nni.nas.benchmark.nasbench201 import query_nb201_trial_stats
        from nni.nas.benchmark.nasbench201.schema import Nb201TrialConfig, proxy
        from playhouse.sqlite_ext import SqliteExtDatabase
    except ImportError as e:
        raise BenchmarkError("reading NNI's nasbench201 database needs peewee 3 (NNI 3.0 uses "
                             f"playhouse.sqlite_ext.SqliteExtDatabase, removed in peewee 4): "
                             f"pip install 'peewee<4' ({e})") from e
    finally:
        nni.set_default_framework(previous)
    return query_nb201_trial_stats, Nb201TrialConfig, proxy, SqliteExtDatabase


class NniNasBench201DB:
    """NNI's converted NAS-Bench-201 (``nasbench201-b2b60732.db``), through NNI's peewee models."""

    kind = "nnidb"

    def __init__(self, path: Union[str, Path]):
        path = Path(path).expanduser()
        if not path.is_file():
            raise DataNotFoundError(f"NNI nasbench201 database not found: {path} does not exist. {WHERE_TO_GET}")
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise DataNotFoundError(f"{path} is not an SQLite database (NNI's nasbench201 .db expected)")
        self.path = path
        self._query, self._config, self._proxy, db_cls = _import_nni_nb201()
        self.db = db_cls(str(path), autoconnect=True)

    def _bind(self) -> None:
        # NNI's models share one global proxy; re-bind in case another DB was opened since.
        self._proxy.initialize(self.db)

    def describe(self) -> str:
        self._bind()
        return f"NNI nasbench201 database {self.path}: {self._config.select().count()} trial configs"

    def curve(self, arch: Mapping[str, str], dataset: str = "cifar10-valid", hp: str = "200",
              seed: Union[None, str, int] = None) -> Curve:
        dataset, hp = canonical_dataset(dataset), _check_hp(hp)
        arch_str = arch_to_str(arch)
        nni_arch = {e: _TO_NNI_OP[canonical_op(arch[e], e)] for e in EDGES}
        self._bind()
        try:
            rows = list(self._query(nni_arch, int(hp), dataset.lower(), include_intermediates=True))
        except Exception as e:  # peewee.OperationalError etc.: not NNI's schema
            raise DataNotFoundError(f"{self.path} could not be queried as NNI's nasbench201 database "
                                    f"({type(e).__name__}: {e})") from e
        what = f"architecture {arch_str} on {dataset} (num_epochs={hp})"
        if not rows:
            cfg = self._config
            n = cfg.select().where((cfg.dataset == dataset.lower()) & (cfg.num_epochs == int(hp))).count()
            if n == 0:
                raise ArchitectureNotFoundError(f"{self.path} has no records at all for dataset {dataset.lower()} "
                                                f"with num_epochs={hp}")
            raise ArchitectureNotFoundError(f"{what} is not in {self.path} ({n} architectures recorded for "
                                            f"that dataset and schedule)")
        runs = []
        for row in rows:
            epochs = int(row["config"]["num_epochs"])
            per_epoch = None
            if row.get("training_time") is not None:
                # NNI's db_gen stores train_times[last] * epochs, and the last epoch's evaluation time
                per_epoch = float(row["training_time"]) / epochs + float(row.get("valid_evaluation_time") or 0.0)
            acc, times = {}, {}
            for it in row["intermediates"]:
                e = int(it["current_epoch"])
                if it.get("valid_acc") is not None:
                    acc[e] = float(it["valid_acc"]) / 100.0
                if per_epoch is not None:
                    times[e] = per_epoch
            runs.append(_SeedRun(int(row["seed"]), epochs, acc, times))
        return _combine(_pick(runs, seed, what), arch_str, dataset, hp, f"NNI nasbench201 DB {self.path.name}")


def _check_hp(hp: Any) -> str:
    hp = str(hp)
    if hp not in HPS:
        raise ValueError(f"hp must be one of {', '.join(HPS)} (the training schedule in epochs), got {hp!r}")
    return hp


# ---------------------------------------------------------------------------
# Finding the data
# ---------------------------------------------------------------------------

def torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME") or Path.home() / ".torch").expanduser()


def nasbenchmark_dir() -> Path:
    if os.environ.get("NASBENCHMARK_DIR"):
        return Path(os.environ["NASBENCHMARK_DIR"]).expanduser()
    nni_home = os.environ.get("NNI_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "nni")
    return Path(nni_home, "nasbenchmark").expanduser()


def _classify(path: Path) -> list[tuple[str, Path]]:
    """The benchmark files ``path`` is or holds, as ``(kind, file or folder)``, best first."""
    if path.is_dir():
        found = []
        if (path / "meta.pickle.pbz2").is_file():
            found.append(("nats", path))
        if (path / NATS_SIMPLE_DIR / "meta.pickle.pbz2").is_file():
            found.append(("nats", path / NATS_SIMPLE_DIR))
        if (path / NATS_ARCHIVE).is_file():
            found.append(("nats", path / NATS_ARCHIVE))
        if (path / NNI_DB_NAME).is_file():
            found.append(("nnidb", path / NNI_DB_NAME))
        found += [("nnidb", db) for db in sorted(path.glob("nasbench201*.db")) if db.name != NNI_DB_NAME]
        return found
    if path.is_file():
        if path.name.endswith(".pickle.pbz2"):
            return [("nats", path)]
        if path.suffix in (".db", ".sqlite", ".sqlite3"):
            return [("nnidb", path)]
    return []


def default_candidates() -> list[Path]:
    th = torch_home()
    return [th / NATS_SIMPLE_DIR, th / NATS_ARCHIVE, nasbenchmark_dir() / NNI_DB_NAME]


def open_benchmark(data: Union[None, str, Path] = None, source: str = "auto"):
    """A benchmark object with ``curve(arch, dataset, hp, seed)`` and ``describe()``.

    ``data``: a NATS-Bench simple folder, a NATS-Bench ``.pickle.pbz2`` archive, NNI's
    ``.db`` file, or a folder holding one of them. ``None``: the standard locations
    (:func:`default_candidates`), first found wins. ``source`` (``auto|nats|nnidb``)
    restricts the kind.
    """
    if source not in ("auto", "nats", "nnidb"):
        raise ValueError(f"source must be auto, nats or nnidb, got {source!r}")
    tried = [Path(data).expanduser()] if data not in (None, "") else default_candidates()
    for path in tried:
        for kind, where in _classify(path):
            if source in ("auto", kind):
                return NatsTopologyBenchmark(where) if kind == "nats" else NniNasBench201DB(where)
    want = {"auto": "NAS-Bench-201 data", "nats": "NATS-Bench topology data",
            "nnidb": "NNI's nasbench201 database"}[source]
    if data not in (None, ""):
        p = tried[0]
        state = "does not exist" if not p.exists() else "is not (and does not contain) " + want
        raise DataNotFoundError(f"{want} not found: {p} {state}. {WHERE_TO_GET}")
    raise DataNotFoundError(
        f"{want} not found; looked for {', '.join(str(p) for p in tried)} "
        f"($TORCH_HOME={os.environ.get('TORCH_HOME', '<unset>')}, "
        f"$NASBENCHMARK_DIR={os.environ.get('NASBENCHMARK_DIR', '<unset>')}). {WHERE_TO_GET}")
