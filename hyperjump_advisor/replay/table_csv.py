"""The generic table format: records -> :class:`~.tables.Table` (:func:`build_table`, budget
levels and their eta) and reading / writing it as a CSV file (:func:`load_generic`,
:func:`write_generic`).

Generic format (``--table path/to/file.csv``)
---------------------------------------------
A CSV file (comma or semicolon separated, detected from the header) with:

- one column per hyperparameter (any name except the reserved ones below);
- ``budget``: the budget the row was trained to (a positive number; the distinct
  values are the table's budget *levels*, ascending; geometric or not, see
  "Budget mapping" in :mod:`.tables`);
- ``loss``: the result at that budget, lower is better;
- ``time``: seconds to train that configuration from scratch to that budget
  (what the trial costs on the simulated clock);
- optional ``intermediate`` (the column may be absent, or a cell empty): space-separated
  losses at the *smaller* budget levels, lowest level first (value ``i`` is the loss
  at level ``i``; fewer values than smaller levels is allowed, ``nan`` skips a level).
  The replay delivers them as PERIODICAL metrics while the trial runs. Without the
  column a trial reports only its FINAL metric.

Each (configuration, budget) pair must appear at most once.

Search space, missing proposals and the TRIAL_BUDGET <-> level mapping of the table built
from such a file: see :mod:`.tables`.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Iterable, Optional

from .tables import Row, Table, TableError, _fmt, canonical

RESERVED = ("budget", "loss", "time", "intermediate")


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


def _sorted_values(values: Iterable[Any]) -> list:
    values = list(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sorted(values)
    return sorted(values, key=str)


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
def read_csv(path: Path) -> tuple[list[str], list[dict]]:
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
    columns, raw = read_csv(path)
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
