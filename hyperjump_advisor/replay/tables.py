"""Learning-curve tables for the replay: a generic CSV format and the four shared tables.

Generic format (``--table path/to/file.csv``)
---------------------------------------------
A CSV file (comma or semicolon separated, detected from the header) with:

- one column per hyperparameter (any name except the reserved ones below);
- ``budget``: the budget the row was trained to (a positive number; the distinct
  values are the table's budget *levels*, ascending; geometric or not, see
  "Budget mapping" below);
- ``loss``: the result at that budget, lower is better;
- ``time``: seconds to train that configuration from scratch to that budget
  (what the trial costs on the simulated clock);
- optional ``intermediate`` (the column may be absent, or a cell empty): space-separated
  losses at the *smaller* budget levels, lowest level first (value ``i`` is the loss
  at level ``i``; fewer values than smaller levels is allowed, ``nan`` skips a level).
  The replay delivers them as PERIODICAL metrics while the trial runs. Without the
  column a trial reports only its FINAL metric.

Each (configuration, budget) pair must appear at most once.

Search space: grid or list (``Table.space``)
--------------------------------------------
- ``grid``: every hyperparameter becomes a ``choice`` over its distinct values (numbers
  sorted ascending, strings sorted); the search space is their Cartesian product.
- ``list``: the table's configurations are a list, not a full grid (e.g. the shared
  ``unet`` table: 99 of the 144 grid points). The search space is then ONE ``choice``
  named :data:`LIST_KEY` over the configuration indices ``0..n-1`` (configurations sorted
  by their column values, so neighbouring indices share leading columns), a space every
  NNI tuner and advisor accepts; the simulator maps the index back to the configuration's
  columns. Every advisor therefore samples only configurations that exist in the table.
- ``auto`` (default): ``grid`` when the configurations form the full Cartesian grid,
  else ``list``. ``--space grid`` forces the per-column space on a partial grid.

Proposals the table lacks: an advisor can still name a configuration the table does not
hold (a grid space over a partial grid, an index out of range, a value outside the
space) or a (configuration, budget) pair that has no row. Such a trial FAILS at once: it
costs no simulated time and ends with TrialEnd FAILED and no FINAL metric (as a trial
that cannot start would). It is not hidden: each run counts them
(``missing_config_proposals``: the configuration is not in the table at any budget;
``missing_row_proposals``: the configuration exists but not at that budget) and
report.md shows both per advisor.

Budget mapping (TRIAL_BUDGET <-> table level)
---------------------------------------------
*Geometric* levels (consecutive ratios within 15% of one integer, the table's ``eta``):
with L levels the defaults are ``eta`` and ``R = eta**(L-1)``, so Hyperband's
TRIAL_BUDGETs are ``1, eta, ..., R`` and TRIAL_BUDGET ``b`` is level ``log_eta(b)``. In
general (``--R``/``--eta`` overrides) ``b`` maps to level ``L-1-m`` where
``R / b == table_eta**m`` exactly, so budget *ratios* are kept (e.g. ``--eta 4 --R 16``
works on an eta-2 table and uses every other level; ``--R 60`` does not).

*Non-geometric* levels (any other ascending positive values, e.g. 1, 3, 10, 50): the
Hyperband budgets are mapped onto the levels **by rank**: with (R, eta) the plan's
distinct budgets ``R, R/eta, R/eta**2, ...`` go to the top level, the one below it, and
so on (``b`` -> level ``L-1-m`` where ``R / b == eta**m``). The defaults are
``eta = max(2, round((top / lowest) ** (1 / (L-1))))`` (the levels' mean ratio) and
``R = eta**(L-1)``, so every level is used. A plan with more distinct budgets than the
table has levels is rejected. Budget ratios are then not those of the table: the
mapping only keeps their order.

:class:`BudgetMap` checks every TRIAL_BUDGET of the Hyperband plan up front and names
the first one that is not a table level.

Shared tables (``--table hyperjump:NAME``), read from
``../shared/benchmarks/hyperjump-tables/`` relative to the repository root
(following its README): see :data:`SHARED_TABLES`. Their PERIODICAL metrics come
from the same configuration's rows at the smaller levels, as the reference
implementation's "checkpointing" does (the trial reports its loss at each level it
passes on its way).
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..schedule import iteration_plan

RESERVED = ("budget", "loss", "time", "intermediate")
BUDGET_KEY = "TRIAL_BUDGET"
LIST_KEY = "config_index"  # the one hyperparameter of a list-space table
SPACES = ("auto", "grid", "list")


class TableError(ValueError):
    """A table (or an R/eta choice for it) the replay cannot use; the message says why."""


# ---- values ------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """CSV cell -> int, float or str (as the search space will show it)."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if number.is_integer() and not any(c in text for c in ".eE"):
        return int(number)
    return number


def canonical(value: Any) -> Any:
    """Hashable identity of a hyperparameter value: numbers compare by value (3 == 3.0,
    numpy scalars as Python ones, 12 significant digits), everything else as text."""
    if isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, str) and not _looks_numeric(value):
        return value
    return float(f"{number:.12g}")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _sorted_values(values: Iterable[Any]) -> list:
    values = list(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sorted(values)
    return sorted(values, key=str)


# ---- the table -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    loss: float
    time: float
    intermediate: tuple = ()  # ((level index, loss), ...) below this row's level


@dataclass
class Table:
    """Rows keyed by (canonical configuration, level index)."""
    name: str
    hyperparameters: list[str]
    levels: list[float]                 # budget levels, ascending
    eta: int                            # ratio between consecutive levels (default eta)
    rows: dict[tuple, Row]              # (config key, level index) -> Row
    values: dict[str, list] = field(default_factory=dict)
    configs: dict[tuple, dict] = field(default_factory=dict)  # config key -> config
    description: str = ""
    geometric: bool = True              # False: TRIAL_BUDGETs map onto the levels by rank
    space: str = "grid"                 # "grid" (per-column choices) or "list" (one choice of indices)

    def __post_init__(self):
        self._reference: Optional[tuple] = None
        self._listed: Optional[list] = None

    # ---- identity -------------------------------------------------------------
    def key(self, config: dict) -> tuple:
        return tuple(canonical(config.get(h)) for h in self.hyperparameters)

    def lookup(self, config: dict, level: int) -> Optional[Row]:
        return self.rows.get((self.key(config), level))

    @property
    def top(self) -> int:
        return len(self.levels) - 1

    @property
    def is_full_grid(self) -> bool:
        return len(self.configs) == self.grid_size

    @property
    def listed(self) -> list[tuple]:
        """Configuration keys in list-space index order (sorted by their column values)."""
        if self._listed is None:
            self._listed = sorted(self.configs, key=lambda k: tuple((isinstance(v, str), v) for v in k))
        return self._listed

    def search_space(self) -> dict:
        if self.space == "list":
            return {LIST_KEY: {"_type": "choice", "_value": list(range(len(self.configs)))}}
        return {h: {"_type": "choice", "_value": list(self.values[h])} for h in self.hyperparameters}

    def with_space(self, space: str) -> "Table":
        """This table with search space ``space`` ("auto", "grid" or "list"); rows are shared."""
        if space not in SPACES:
            raise TableError(f"space must be one of {SPACES}, got {space!r}")
        if space == "auto":
            space = "grid" if self.is_full_grid else "list"
        if space == self.space:
            return self
        other = Table(self.name, self.hyperparameters, self.levels, self.eta, self.rows, self.values,
                      self.configs, self.description, self.geometric, space)
        other._reference, other._listed = self._reference, self._listed
        return other

    def resolve(self, parameters: dict) -> tuple[dict, Optional[tuple]]:
        """(configuration, its key if the table holds it, else None) named by a trial's parameters."""
        if self.space == "list":
            index: Any = parameters.get(LIST_KEY)
            try:
                key = self.listed[int(index)] if float(index).is_integer() and int(index) >= 0 else None
            except (TypeError, ValueError, IndexError, OverflowError):
                key = None
            return (dict(self.configs[key]) if key is not None else {LIST_KEY: index}), key
        config = {h: parameters[h] for h in self.hyperparameters if h in parameters}
        key = self.key(config)
        return config, (key if key in self.configs else None)

    @property
    def grid_size(self) -> int:
        return math.prod(len(self.values[h]) for h in self.hyperparameters)

    # ---- reference points (computed once: O(n log n)) ---------------------------------------
    def top_rows(self) -> list[tuple[dict, Row]]:
        top = self.top
        return [(self.configs[k], row) for (k, level), row in self.rows.items() if level == top]

    def _reference_points(self) -> tuple:
        if self._reference is None:
            top = self.top
            pairs = [(row.loss, row.time) for (_, level), row in self.rows.items() if level == top]
            if not pairs:
                raise TableError(f"table {self.name!r} has no row at its top level")
            losses = np.array([p[0] for p in pairs])
            times = np.array([p[1] for p in pairs])
            best, worst = float(losses.min()), float(losses.max())
            order = np.argsort(losses, kind="stable")
            # cheapest full-budget time among the k best configurations, for every k
            self._reference = (best, worst, losses[order], np.minimum.accumulate(times[order]))
        return self._reference

    @property
    def optimum_loss(self) -> float:
        return self._reference_points()[0]

    @property
    def worst_loss(self) -> float:
        return self._reference_points()[1]

    def regret(self, loss: float) -> float:
        best, worst = self._reference_points()[:2]
        span = worst - best
        return (loss - best) / span if span > 0 else 0.0

    def oracle_time(self, target: float) -> Optional[float]:
        """Cheapest full-budget training among configurations within ``target`` normalised regret."""
        best, worst, sorted_losses, cheapest = self._reference_points()
        span = worst - best
        bound = best + (target + 1e-12) * span if span > 0 else math.inf
        count = int(np.searchsorted(sorted_losses, bound, side="right"))
        return float(cheapest[count - 1]) if count else None

    def times(self, key: tuple) -> list[Optional[float]]:
        """The table's training time of configuration ``key`` at each level (None where no row)."""
        return [self.rows[(key, j)].time if (key, j) in self.rows else None for j in range(len(self.levels))]

    def iteration_cost(self, R: int, eta: int) -> float:
        """Training seconds of one Hyperband iteration (mean time per level, no pause-resume)."""
        budget_map = BudgetMap(self, R, eta)
        sums, counts = [0.0] * len(self.levels), [0] * len(self.levels)
        for (_, level), row in self.rows.items():
            sums[level] += row.time
            counts[level] += 1
        mean = [s / c if c else 0.0 for s, c in zip(sums, counts)]

        def plan_level(budget: int) -> int:
            found = budget_map.level(budget)
            assert found is not None  # BudgetMap's constructor mapped every budget of the plan
            return found
        return sum(stage.n * mean[plan_level(stage.budget)]
                   for bracket in iteration_plan(R, eta) for stage in bracket)

    def summary(self) -> str:
        n_configs = len(self.configs)
        space = (f"{self.grid_size} in the grid; search space: "
                 + ("per-column choices" if self.space == "grid" else f"a list, one choice of {n_configs} indices"))
        return (f"{self.name}: {n_configs} configurations ({space}), "
                f"levels {', '.join(_fmt(v) for v in self.levels)} "
                + (f"(eta {self.eta})" if self.geometric else f"(not geometric: mapped by rank, default eta {self.eta})")
                + f", loss at the top level {self.optimum_loss:.5g}..{self.worst_loss:.5g}")


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _fmt(value: float) -> str:
    return f"{value:g}"


# ---- budget mapping ----------------------------------------------------------------------------
class BudgetMap:
    """TRIAL_BUDGET <-> table level for Hyperband with (R, eta); validated up front."""

    def __init__(self, table: Table, R: int, eta: int):
        self.table, self.R, self.eta = table, int(R), int(eta)
        if self.R < 1 or self.eta < 2:
            raise TableError(f"R must be >= 1 and eta >= 2, got R={R}, eta={eta}")
        self._level: dict[int, int] = {}
        for bracket in iteration_plan(self.R, self.eta):
            for stage in bracket:
                level = self._level_of(stage.budget)
                if level is None:
                    raise TableError(self._mismatch(stage.budget))
                self._level[stage.budget] = level

    @property
    def step(self) -> int:
        """Ratio between the TRIAL_BUDGETs of consecutive table levels: the table's eta for geometric
        levels (budget ratios kept), the plan's eta for non-geometric ones (mapping by rank)."""
        return self.table.eta if self.table.geometric else self.eta

    def _level_of(self, budget: int) -> Optional[int]:
        if budget <= 0 or self.R % budget:
            return None
        ratio, m = self.R // budget, 0
        while ratio > 1 and ratio % self.step == 0:
            ratio //= self.step
            m += 1
        if ratio != 1 or m > self.table.top:
            return None
        return self.table.top - m

    def _mismatch(self, budget: int) -> str:
        t = self.table
        if not t.geometric:
            return (f"R={self.R}, eta={self.eta} gives TRIAL_BUDGET {budget}, which cannot be mapped onto table "
                    f"{t.name!r}: its {len(t.levels)} levels {[_fmt(v) for v in t.levels]} are not geometric, so "
                    f"Hyperband's budgets R/eta^k go to the levels by rank (k = 0..{t.top}); R must be a power of "
                    f"eta with at most {len(t.levels)} budgets. The default is --eta {t.eta} --R {t.eta ** t.top}")
        return (f"R={self.R}, eta={self.eta} gives TRIAL_BUDGET {budget}, which is not a level of table "
                f"{t.name!r}: its {len(t.levels)} levels {[_fmt(v) for v in t.levels]} are R/{t.eta}^k "
                f"(k = {t.top}..0), so R/TRIAL_BUDGET must be a power of {t.eta} up to {t.eta ** t.top}. "
                f"Use eta = a power of {t.eta} and R = eta^k <= {t.eta ** t.top}; the default is "
                f"--eta {t.eta} --R {t.eta ** t.top}")

    def level(self, budget: Any) -> Optional[int]:
        """Level index of a TRIAL_BUDGET, or None if it is not one of the plan's budgets."""
        try:
            b = float(budget)
        except (TypeError, ValueError):
            return None
        if not b.is_integer():
            return None
        b = int(b)
        return self._level[b] if b in self._level else self._level_of(b)

    def trial_budget(self, level: int) -> Any:
        """The TRIAL_BUDGET of a table level (``R / step**(top - level)``; a float below the plan's budgets)."""
        divisor = self.step ** (self.table.top - level)
        return self.R // divisor if self.R % divisor == 0 else self.R / divisor

    @property
    def budgets(self) -> list[int]:
        return sorted(self._level)


def default_R_eta(table: Table) -> tuple[int, int]:
    return table.eta ** table.top, table.eta


def resolve_R_eta(table: Table, R: Optional[int] = None, eta: Optional[int] = None) -> BudgetMap:
    """R and eta for ``table``: the defaults, or overrides checked against its levels.

    Only ``eta`` given: R is the largest power of eta not above the table's top (``table_eta**(L-1)``)."""
    default_R, default_eta = default_R_eta(table)
    eta = default_eta if eta is None else int(eta)
    if R is None:
        R = 1
        while eta >= 2 and R * eta <= default_R:
            R *= eta
    return BudgetMap(table, R, eta)


AUTO_ITERATIONS = 4


def auto_time_limit(table: Table, budget_map: BudgetMap, workers: int, iterations: int = AUTO_ITERATIONS) -> float:
    """Simulated seconds for about ``iterations`` Hyperband iterations on ``workers`` workers:
    ``iterations * iteration_cost / workers``, where ``iteration_cost`` sums, over every stage of
    one iteration, the stage size times the table's mean training time at that level."""
    return iterations * table.iteration_cost(budget_map.R, budget_map.eta) / max(1, workers)


# ---- building a table from records -------------------------------------------------------------
def build_table(name: str, hyperparameters: list[str], records: Iterable[dict],
                intermediate: str = "column", eta: Optional[int] = None, description: str = "",
                space: str = "auto") -> Table:
    """``records``: dicts with the hyperparameters, ``budget``, ``loss``, ``time`` and optionally
    ``intermediate`` (list of losses at levels 0..). ``intermediate``: "column" (use the records'),
    "rows" (each row's losses at the smaller levels of the same configuration) or "none"."""
    records = list(records)
    if not records:
        raise TableError(f"table {name!r} has no rows")
    levels = sorted({float(r["budget"]) for r in records})
    if levels[0] <= 0:
        raise TableError(f"table {name!r}: budget levels must be > 0, got {[_fmt(v) for v in levels]}")
    geometric = True
    if eta is not None:
        table_eta = eta
    elif is_geometric(levels):
        table_eta = infer_eta(name, levels)
    else:
        geometric, table_eta = False, rank_eta(levels)
    level_of = {b: i for i, b in enumerate(levels)}
    rows: dict[tuple, Row] = {}
    configs: dict[tuple, dict] = {}
    raw_intermediate: dict[tuple, Any] = {}
    values: dict[str, list] = {h: [] for h in hyperparameters}  # filled after the rows are read
    originals: dict[str, dict] = {h: {} for h in hyperparameters}
    for line, r in enumerate(records, start=2):
        config = {h: r[h] for h in hyperparameters}
        key = tuple(canonical(config[h]) for h in hyperparameters)
        level = level_of[float(r["budget"])]
        if (key, level) in rows:
            raise TableError(f"table {name!r}: configuration {config} appears twice at budget "
                             f"{_fmt(levels[level])} (row {line}); each (configuration, budget) must be unique")
        loss, time = float(r["loss"]), float(r["time"])
        if not (math.isfinite(loss) and math.isfinite(time) and time >= 0):
            raise TableError(f"table {name!r} row {line}: loss and time must be finite numbers, time >= 0 "
                             f"(got loss={r['loss']!r}, time={r['time']!r})")
        rows[(key, level)] = Row(loss, time)
        configs.setdefault(key, config)
        raw_intermediate[(key, level)] = r.get("intermediate")
        for h in hyperparameters:
            originals[h].setdefault(canonical(config[h]), config[h])
    for h in hyperparameters:
        values[h] = _sorted_values(originals[h].values())
    if intermediate != "none":
        for (key, level), row in list(rows.items()):
            if intermediate == "rows":
                points = tuple((j, rows[(key, j)].loss) for j in range(level) if (key, j) in rows)
            else:
                points = _intermediate_points(name, raw_intermediate[(key, level)], level)
            if points:
                rows[(key, level)] = Row(row.loss, row.time, points)
    table = Table(name=name, hyperparameters=list(hyperparameters), levels=levels, eta=table_eta,
                  rows=rows, values=values, configs=configs, description=description, geometric=geometric)
    return table.with_space(space)


def _intermediate_points(name: str, raw: Any, level: int) -> tuple:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ()
    losses = raw if isinstance(raw, (list, tuple)) else str(raw).split()
    if len(losses) > level:
        raise TableError(f"table {name!r}: an intermediate column lists {len(losses)} losses for a row at level "
                         f"{level}; it holds the losses at the smaller levels only (at most {level})")
    points = []
    for j, text in enumerate(losses):
        loss = float(text)
        if math.isfinite(loss):
            points.append((j, loss))
    return tuple(points)


def _ratios(levels: list[float]) -> list[float]:
    return [b / a for a, b in zip(levels, levels[1:])]


def is_geometric(levels: list[float]) -> bool:
    """Consecutive ratios within 15% of one integer >= 2 (one level counts as geometric)."""
    if len(levels) < 2:
        return True
    ratios = _ratios(levels)
    eta = round(sorted(ratios)[len(ratios) // 2])
    return eta >= 2 and all(abs(r / eta - 1) <= 0.15 for r in ratios)


def rank_eta(levels: list[float]) -> int:
    """Default eta of a non-geometric table: the levels' mean ratio, rounded, at least 2."""
    if len(levels) < 2:
        return 2
    return max(2, round((levels[-1] / levels[0]) ** (1.0 / (len(levels) - 1))))


def infer_eta(name: str, levels: list[float]) -> int:
    if len(levels) < 2:
        return 2
    ratios = [b / a for a, b in zip(levels, levels[1:]) if a > 0]
    if len(ratios) != len(levels) - 1:
        raise TableError(f"table {name!r}: budget levels must be > 0, got {levels}")
    eta = round(sorted(ratios)[len(ratios) // 2])
    if eta < 2 or any(abs(r / eta - 1) > 0.15 for r in ratios):
        raise TableError(f"table {name!r}: budget levels {[_fmt(v) for v in levels]} are not geometric "
                         f"(ratios {[round(r, 2) for r in ratios]}); the replay maps TRIAL_BUDGET = eta^k "
                         "to level k, so consecutive levels must differ by one integer factor (within 15%)")
    return eta


# ---- reading CSV files ----------------------------------------------------------------------------
def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        header = handle.readline()
        delimiter = ";" if header.count(";") > header.count(",") else ","
        handle.seek(0)
        reader = csv.DictReader(handle, delimiter=delimiter)
        return list(reader.fieldnames or []), list(reader)


def load_generic(path: str | os.PathLike, space: str = "auto") -> Table:
    """A table in the generic format (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"no table file {str(path)!r}")
    columns, raw = _read_csv(path)
    missing = [c for c in ("budget", "loss", "time") if c not in columns]
    if missing:
        raise TableError(f"table {str(path)!r} lacks column(s) {missing}; the generic format needs one column per "
                         "hyperparameter plus budget, loss and time (optional: intermediate)")
    hyperparameters = [c for c in columns if c not in RESERVED]
    if not hyperparameters:
        raise TableError(f"table {str(path)!r} has no hyperparameter column")
    records = []
    for r in raw:
        record = {h: parse_value(r[h]) for h in hyperparameters}
        record.update(budget=float(r["budget"]), loss=float(r["loss"]), time=float(r["time"]))
        if "intermediate" in columns:
            record["intermediate"] = r["intermediate"]
        records.append(record)
    mode = "column" if "intermediate" in columns else "none"
    return build_table(path.stem, hyperparameters, records, intermediate=mode, description=str(path), space=space)


def write_generic(path: str | os.PathLike, hyperparameters: list[str], records: Iterable[dict]) -> None:
    """Write records (hyperparameters, budget, loss, time, optional intermediate list) in the generic format."""
    records = list(records)
    with_intermediate = any("intermediate" in r for r in records)
    columns = list(hyperparameters) + ["budget", "loss", "time"] + (["intermediate"] if with_intermediate else [])
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for r in records:
            line = [r[h] for h in hyperparameters] + [r["budget"], r["loss"], r["time"]]
            if with_intermediate:
                line.append(" ".join(repr(float(x)) for x in r.get("intermediate", ())))
            writer.writerow(line)


# ---- the shared tables ------------------------------------------------------------------------------
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
    _, raw = _read_csv(directory / "cnn.csv")
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
    _, raw = _read_csv(directory / "cnn_time3.csv")
    records = []
    for r in raw:
        budget = float(r["training_time"])
        records.append({**_cnn_config(r), "budget": budget, "loss": 1.0 - float(r["acc"]), "time": budget})
    return build_table("hyperjump:cnn_time3", _CNN_HPS, records, intermediate="rows", eta=3,
                       description="CNN on MNIST, budget = training seconds, loss = 1 - acc, cost = the budget")


def _load_mnist_epochs(directory: Path) -> Table:
    _, raw = _read_csv(directory / "data_mnist_epoch_datasetSize.csv")
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
    _, raw = _read_csv(directory / "unet_eta3.csv")
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


def load_table(spec: str, space: str = "auto") -> Table:
    """``hyperjump:NAME`` (a shared table) or a path to a generic CSV table; ``space``: see the module
    docstring (auto: grid for a full grid, else list)."""
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
