"""The replay's table model: :class:`Table` (rows by configuration and level, search space,
reference points) and :class:`BudgetMap` (TRIAL_BUDGET <-> table level).

A table is built from records by :func:`~.table_csv.build_table` (the generic CSV format,
``--table path/to/file.csv``, is documented in :mod:`.table_csv`); the four shared tables
(``--table hyperjump:NAME``) are loaded by :mod:`.shared_tables`.

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np

from ..schedule import iteration_plan

BUDGET_KEY = "TRIAL_BUDGET"
LIST_KEY = "config_index"  # the one hyperparameter of a list-space table
SPACES = ("auto", "grid", "list")


class TableError(ValueError):
    """A table (or an R/eta choice for it) the replay cannot use; the message says why."""


# ---- values ------------------------------------------------------------------------------
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
