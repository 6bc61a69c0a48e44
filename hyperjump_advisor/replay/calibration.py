"""Calibration of HyperJump's risk: the rEAR each jump predicted against the accuracy it really lost.

The replay knows every configuration's true loss at every level, so each risk decision the advisor
took can be scored after the fact. :func:`attach` puts a :class:`CalibrationTap` between this
project's advisor and its audit sink (in-process, no file: the replay gives the advisor no log
folder); the tap turns every jump's audit record into a *calibration record*, and
:func:`calibration_rows` bins them for report.md and SUMMARY.md.

A calibration record (``run["calibration"]`` in results.json), by ``kind``:

- ``jump`` (synchronous, ``promotion`` of kind ``jump`` that does not end the bracket): the stage's
  configurations D are discarded, S kept (``kept_config_ids``, ``discarded_config_ids``).
  predicted = the sum of the accepted hops' rEAR (``rear_per_hop``, what was held against lambda);
  realised = max(0, min_S L_top - min_D L_top) / l*, L_top a configuration's true loss at the table's
  top level and l* the ``scale`` the decision used. ``realised_vs_incumbent`` also lets the incumbent
  stand for S: max(0, min(incumbent, min_S L_top) - min_D L_top) / l* (what the experiment lost given
  what it already had; the intermediate hops' EAR ignores the incumbent, the final hop's does not).
- ``finish`` (a synchronous jump past the last stage: the bracket ends): S = the incumbent (its loss is
  in the record), D = the stage's configurations; realised = max(0, incumbent - min_D L_top) / l*.
- ``rung_stop`` (async: the rung below the top stops promoting): S = the incumbent, D =
  ``discarded_config_ids``; as ``finish`` (for both, ``realised_vs_incumbent`` is ``realised``).
- ``async_jump`` (async, ``async_jump_risk``: a configuration c promoted past rungs): predicted = the
  sum of the rEAR of the skipped rungs j (the first ``to_stage - stage - 1`` of ``rear_per_rung``);
  realised = sum over them of max(0, L_c(b_j) - q_j) / l*, L_c(b_j) c's true loss at rung j's level
  and q_j the bar the decision used (``bars``; a bar set by a failed result, None, cannot be missed:
  0). This is what EAR_j predicts: the accuracy by which c falls short of what rung j would have kept,
  at rung j's budget, not at the top level. ``bar_measured`` says whether q_j was rung j's own results
  or a GP prediction from a lower rung (then the realised value is measured against that prediction).

A configuration without a row at the level needed is left out of min_S / min_D (a set left empty, or
an async rung without its row, makes realised None: counted, not averaged).
"""
from __future__ import annotations

import math
import traceback
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from .tables import BudgetMap, Table

# bins of predicted rEAR: [0, 0.01), [0.01, 0.05), [0.05, 0.1), >= 0.1
EDGES = (0.01, 0.05, 0.1)
KINDS = ("jump", "finish", "rung_stop", "async_jump")


def bin_labels(edges: Sequence[float] = EDGES) -> list[str]:
    lows = [0.0, *edges]
    return [f"[{lo:g}, {hi:g})" for lo, hi in zip(lows, edges)] + [f">= {edges[-1]:g}"]


def bin_of(predicted: float, edges: Sequence[float] = EDGES) -> int:
    """Index of the bin of a predicted rEAR (a tiny negative one, numerical noise, goes to the first)."""
    return sum(1 for e in edges if predicted >= e)


# ---- the truth ------------------------------------------------------------------------------------
def true_loss(table: Table, key: Optional[tuple], level: Optional[int]) -> Optional[float]:
    row = table.rows.get((key, level)) if key is not None and level is not None else None
    return None if row is None else float(row.loss)


def best_true_loss(table: Table, keys: Iterable[Optional[tuple]], level: Optional[int] = None) -> Optional[float]:
    """min over ``keys`` of the true loss at ``level`` (default the top level); None when none has a row."""
    level = table.top if level is None else level
    losses = [x for x in (true_loss(table, k, level) for k in keys) if x is not None]
    return min(losses) if losses else None


def realised_loss(kept_best: Optional[float], discarded_best: Optional[float], scale: float) -> Optional[float]:
    """max(0, kept_best - discarded_best) / l*: how much better the best discarded really was (relative)."""
    if kept_best is None or discarded_best is None:
        return None
    return max(0.0, kept_best - discarded_best) / scale


def realised_rungs(table: Table, key: Optional[tuple], levels: Sequence[Optional[int]],
                   bars: Sequence[Optional[float]], scale: float) -> list[Optional[float]]:
    """Per skipped rung: max(0, L_c(level) - bar) / l*; a None bar (a failed result) gives 0."""
    out: list[Optional[float]] = []
    for level, bar in zip(levels, bars):
        if bar is None or math.isinf(bar):
            out.append(0.0)
            continue
        loss = true_loss(table, key, level)
        out.append(None if loss is None else max(0.0, loss - bar) / scale)
    return out


# ---- the tap -----------------------------------------------------------------------------------------
class CalibrationTap:
    """Turns the advisor's audit records of jumps into calibration records (module docstring).

    ``config_of(config_id)`` gives the hyperparameters the advisor proposed under an id (its searcher's);
    ``clock()`` the simulated time. A failure here never reaches the advisor: the first is kept in ``error``.
    """

    def __init__(self, table: Table, budget_map: BudgetMap, config_of: Callable[[int], dict],
                 clock: Callable[[], Optional[float]] = lambda: None):
        self.table, self.budget_map, self.config_of, self.clock = table, budget_map, config_of, clock
        self.records: list[dict] = []
        self.error: Optional[str] = None
        self._keys: dict[int, Optional[tuple]] = {}

    def key(self, config_id: int) -> Optional[tuple]:
        if config_id not in self._keys:
            parameters = {k: _plain(v) for k, v in self.config_of(config_id).items()}
            self._keys[config_id] = self.table.resolve(parameters)[1]
        return self._keys[config_id]

    def __call__(self, record: dict[str, Any]) -> None:
        try:
            made = self.calibrate(record)
        except Exception:
            if self.error is None:
                self.error = traceback.format_exc()
            return
        if made is not None:
            made["time"] = self.clock()
            self.records.append(made)

    def calibrate(self, record: dict[str, Any]) -> Optional[dict]:
        event, kind = record.get("event"), record.get("kind")
        if event == "promotion" and kind == "jump":
            return self._sync_jump(record)
        if event == "promotion" and kind == "rung_stop":
            out = self._set_decision(record, "rung_stop", record["incumbent_loss"])
            out["realised_vs_incumbent"] = out["realised"]
            return out
        if event == "async_jump_risk":
            return self._async_jump(record)
        return None

    def _set_decision(self, record: dict, kind: str, kept_best: Optional[float]) -> dict:
        scale = _scale_of(record)
        discarded = [self.key(c) for c in record["discarded_config_ids"]]
        discarded_best = best_true_loss(self.table, discarded)
        rears = [float(r) for r in record["rear_per_hop"]]
        best_key = _argmin(self.table, discarded)
        return {"kind": kind, "stage": record.get("stage"), "to_stage": record.get("to_stage"),
                "from_budget": record.get("from_budget"), "to_budget": record.get("to_budget"),
                "predicted": float(sum(rears)), "rear": rears, "threshold": float(record["threshold"]),
                "scale": scale, "incumbent_loss": record.get("incumbent_loss"),
                "n_kept": len(record.get("kept_config_ids") or []), "n_discarded": len(discarded),
                "kept_best": kept_best, "discarded_best": discarded_best,
                "realised": realised_loss(kept_best, discarded_best, scale),
                "best_discarded_config": None if best_key is None else dict(self.table.configs[best_key])}

    def _sync_jump(self, record: dict) -> dict:
        if record.get("finishes_bracket"):
            out = self._set_decision(record, "finish", record["incumbent_loss"])
            out["realised_vs_incumbent"] = out["realised"]
            return out
        kept_best = best_true_loss(self.table, [self.key(c) for c in record["kept_config_ids"]])
        out = self._set_decision(record, "jump", kept_best)
        incumbent = record.get("incumbent_loss")
        anchor = kept_best if incumbent is None or kept_best is None else min(kept_best, incumbent)
        out["realised_vs_incumbent"] = realised_loss(anchor, out["discarded_best"], out["scale"])
        return out

    def _async_jump(self, record: dict) -> dict:
        scale = _scale_of(record)
        skipped = int(record["to_stage"]) - int(record["stage"]) - 1
        rears = [float(r) for r in record["rear_per_rung"][:skipped]]
        key = self.key(record["config_id"])
        bars = record.get("bars")
        per_rung: Optional[list[Optional[float]]] = None
        if bars is not None:
            levels = [self.budget_map.level(b) for b in record["rung_budgets"][:skipped]]
            per_rung = realised_rungs(self.table, key, levels, bars[:skipped], scale)
        realised = None if per_rung is None or any(x is None for x in per_rung) \
            else float(sum(x for x in per_rung if x is not None))
        return {"kind": "async_jump", "stage": record["stage"], "to_stage": record["to_stage"],
                "predicted": float(sum(rears)), "rear": rears, "threshold": float(record["threshold"]),
                "scale": scale, "incumbent_loss": record.get("incumbent_loss"),
                "bars": None if bars is None else list(bars[:skipped]),
                "bar_measured": (record.get("bar_measured") or [])[:skipped],
                "realised_per_rung": per_rung, "realised": realised,
                "config": None if key is None else dict(self.table.configs[key])}


def _scale_of(record: dict) -> float:
    """The l* of the decision: the record's, else as the advisor computes it with best_loss 0."""
    scale = record.get("scale")
    if scale is not None:
        return float(scale)
    incumbent = record.get("incumbent_loss")
    return float(incumbent) if incumbent is not None and incumbent > 0 else 1.0


def _argmin(table: Table, keys: Iterable[Optional[tuple]]) -> Optional[tuple]:
    pairs = [(loss, k) for k in keys if (loss := true_loss(table, k, table.top)) is not None]
    return min(pairs, key=lambda p: p[0])[1] if pairs else None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def attach(advisor: Any, table: Table, budget_map: BudgetMap) -> Optional[CalibrationTap]:
    """A tap on this project's advisor (None for any other): every audit record passes through it first.

    The engine hands its audit sink to the scheduler at construction and to the risk policy at
    Initialize, so the sink is replaced on the engine and the scheduler before the run starts (and on a
    policy already installed). A resume that rebuilds the engine would drop the tap (the replay does none).
    """
    engine = getattr(advisor, "engine", None)
    if engine is None or not hasattr(engine, "_audit") or not hasattr(engine, "scheduler") \
            or not hasattr(engine, "searcher"):
        return None
    tap = CalibrationTap(table, budget_map, lambda c: engine.searcher.configs[c])
    original = engine._audit

    def sink(record: dict[str, Any]) -> None:
        tap(record)
        original(record)

    engine._audit = sink
    engine.scheduler.on_event = sink
    policy = getattr(engine.scheduler, "policy", None)
    if policy is not None and hasattr(policy, "audit"):
        policy.audit = sink
    return tap


# ---- the summary -------------------------------------------------------------------------------------
def _stats(label: str, records: list[dict]) -> dict:
    known = [r for r in records if r.get("realised") is not None]
    realised = [float(r["realised"]) for r in known]
    n = len(known)
    return {"label": label, "jumps": len(records), "unknown": len(records) - n,
            "predicted_mean": _mean([float(r["predicted"]) for r in records]),
            "realised_mean": _mean(realised),
            "vs_incumbent_mean": _mean([float(r["realised_vs_incumbent"]) for r in known
                                        if r.get("realised_vs_incumbent") is not None]),
            "realised_max": max(realised) if realised else None,
            "above_zero": sum(1 for x in realised if x > 0) / n if n else None,
            "above_threshold": sum(1 for r in known if float(r["realised"]) > float(r["threshold"])) / n
            if n else None}


def _mean(values: list[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def calibration_rows(records: list[dict], edges: Sequence[float] = EDGES) -> list[dict]:
    """One row per bin of predicted rEAR (empty bins too), then ``all``, then one per decision kind present."""
    labels = bin_labels(edges)
    groups: list[list[dict]] = [[] for _ in labels]
    for r in records:
        groups[bin_of(float(r["predicted"]), edges)].append(r)
    rows = [_stats(label, g) for label, g in zip(labels, groups)]
    rows.append(_stats("all", records))
    for kind in KINDS:
        of_kind = [r for r in records if r.get("kind") == kind]
        if of_kind:
            rows.append(_stats(f"kind {kind}", of_kind))
    return rows


def calibration_by_advisor(document: dict) -> dict[str, list[dict]]:
    """advisor -> its calibration records pooled over seeds, for the advisors whose runs were tapped."""
    out: dict[str, list[dict]] = {}
    for run in document.get("runs", []):
        if run.get("calibration") is not None:
            out.setdefault(run["advisor"], []).extend(run["calibration"])
    return out


def _f(value: Optional[float], digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


DEFINITION = ("Every jump of the runs, pooled over seeds: predicted = the rEAR the advisor held against lambda "
              "(the sum over the hops, or rungs, it took); realised = the relative accuracy it really lost, from "
              "the table's true losses, divided by the same l*: for a synchronous jump max(0, best true top-level "
              "loss of the kept configurations - best of the discarded) / l*; for a jump that ends the bracket "
              "(finish) and an async rung stop the incumbent is the kept side; for an async jump past rungs the sum "
              "over the skipped rungs of max(0, the configuration's true loss at the rung's level - the rung's "
              "promotion bar) / l*. Well calibrated: mean realised close to mean predicted in every bin. "
              "Vs incumbent (synchronous decisions): the incumbent at the time also counts on the kept side, so it "
              "is what the experiment could have lost given what it already had. "
              "Definitions: hyperjump_advisor/replay/calibration.py.")


def calibration_markdown(document: dict, heading: str = "##") -> list[str]:
    """The calibration section of report.md (and SUMMARY.md): a table per tapped advisor with jumps."""
    pooled = calibration_by_advisor(document)
    if not pooled:
        return []
    lines = [f"{heading} Calibration of the jumps: predicted rEAR against realised loss", "", DEFINITION, ""]
    quiet = [name for name, records in pooled.items() if not records]
    for name, records in pooled.items():
        if not records:
            continue
        seeds = sum(1 for r in document["runs"] if r["advisor"] == name and r.get("calibration") is not None)
        lines += [f"**{name}** ({len(records)} jumps over {seeds} seeds, {len(records) / max(seeds, 1):.1f} per run)",
                  "",
                  "| predicted rEAR | jumps | mean predicted | mean realised | realised > 0 | realised > lambda | "
                  "max realised | mean realised vs incumbent | no truth |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in calibration_rows(records):
            lines.append(f"| {row['label']} | {row['jumps']} | {_f(row['predicted_mean'])} | "
                         f"{_f(row['realised_mean'])} | {_pct(row['above_zero'])} | {_pct(row['above_threshold'])} | "
                         f"{_f(row['realised_max'])} | {_f(row['vs_incumbent_mean'])} | {row['unknown']} |")
        lines.append("")
        errors = [r.get("calibration_error") for r in document["runs"]
                  if r["advisor"] == name and r.get("calibration_error")]
        if errors:
            lines += [f"{name}: the calibration tap failed in {len(errors)} run(s); first: "
                      f"`{errors[0].strip().splitlines()[-1]}`", ""]
    if quiet:
        lines += ["No jumps: " + ", ".join(quiet), ""]
    return lines
