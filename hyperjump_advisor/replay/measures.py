"""Measures of a replay's results: per-run regret and time to a target, medians over all seeds
(unreached = infinite), the per-advisor summary, the ranking and hyperjump's ratios to the others.

Definitions (also printed in report.md):

- normalised regret of a loss ``l``: ``(l - optimum_loss) / (worst_loss - optimum_loss)``,
  both taken over the table's rows at the maximum budget;
- a run's incumbent at time ``t``: the best loss of a trial that SUCCEEDED at the maximum
  budget and ended by ``t``; before the first one the regret counts as 1 (the worst);
- time to a target regret: the first incumbent time at or below it, **infinite** for a seed
  that never reached it within the time limit. The median is taken over ALL seeds (numpy's
  median: for an even count the mean of the two middle values), so it is "never" when more
  than half of the seeds did not reach the target (and, for an even count, when exactly half
  did not: the midpoint of a finite and an infinite value). Every figure is shown with
  reached/total beside it; no mean over the seeds that happened to reach it is reported;
- speed-up of ``hyperjump`` against another advisor: the other's all-seed median divided by
  hyperjump's. Infinite values are handled explicitly: other never, hyperjump did -> ``inf``
  ("other never"); hyperjump never, other did -> ``0`` ("hyperjump never"); both never ->
  undefined ("neither");
- ranking: advisors are sorted by median time to 10%, then 1%, then 0.1% regret, then final
  regret; the *best peer* is the first advisor that is neither ``hyperjump`` nor one of its
  ablations ``hyperjump-*``;
- oracle: the cheapest configuration within the target trained once at the maximum budget
  (the physical limit for one worker);
- advisor ms per decision: durations of the handler calls after which the advisor sent a
  NewTrialJob or KillTrialJob, pooled over seeds (median, p95).

Per-run quantities are computed once per run with numpy (regret of each incumbent, then
``searchsorted``), so a report is O(n log n) in the trials and the table's rows.
"""
from __future__ import annotations

import json
import math
from typing import Any, Optional

import numpy as np

TARGETS = (0.1, 0.01, 0.001)
REFERENCE = "hyperjump"


# ---- per-run measures -------------------------------------------------------------------------------
def regret_of(loss: float, document: dict) -> float:
    span = document["worst_loss"] - document["optimum_loss"]
    return (loss - document["optimum_loss"]) / span if span > 0 else 0.0


def _incumbent_arrays(run: dict, document: dict) -> tuple[np.ndarray, np.ndarray]:
    """(times, regrets) of a run's incumbent as arrays, regrets made non-increasing."""
    pairs = run.get("incumbent") or []
    times = np.array([p[0] for p in pairs], dtype=float)
    span = document["worst_loss"] - document["optimum_loss"]
    losses = np.array([p[1] for p in pairs], dtype=float)
    regrets = (losses - document["optimum_loss"]) / span if span > 0 else np.zeros_like(losses)
    regrets = np.minimum.accumulate(regrets) if regrets.size else regrets
    return times, regrets


def time_to_target(run: dict, document: dict, target: float) -> float:
    """First incumbent time at or below ``target`` regret; ``inf`` if the run never got there."""
    times, regrets = _incumbent_arrays(run, document)
    # regrets are non-increasing: the first index with regret <= target, by binary search on -regret
    index = int(np.searchsorted(-regrets, -(target + 1e-12), side="left"))
    return float(times[index]) if index < len(times) else math.inf


def regret_curve(run: dict, document: dict, grid: np.ndarray) -> np.ndarray:
    """Incumbent regret of one run at each grid time (1 before the first incumbent)."""
    times, regrets = _incumbent_arrays(run, document)
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, regrets[np.maximum(index, 0)] if regrets.size else 1.0, 1.0)


def final_regret(run: dict, document: dict) -> float:
    _, regrets = _incumbent_arrays(run, document)
    return float(regrets[-1]) if regrets.size else 1.0


def _config_key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def is_ours(name: str) -> bool:
    """hyperjump or one of its ablations (hyperjump-*, hyperjump:KEY=VALUE,...): not a peer."""
    return name == REFERENCE or name.startswith((REFERENCE + "-", REFERENCE + ":"))


# ---- medians with unreached seeds ---------------------------------------------------------------------
def median_all(times: list[float]) -> float:
    """Median over all seeds, unreached ones counted as ``inf`` (so "never" when too few reached)."""
    return float(np.median(np.asarray(times, dtype=float))) if len(times) else math.inf


def quantile_all(times: list[float], q: float) -> float:
    """Linear-interpolated quantile over all seeds; infinite as soon as an infinite value takes part."""
    values = np.sort(np.asarray(times, dtype=float))
    if not values.size:
        return math.inf
    position = q * (values.size - 1)
    low, high = int(math.floor(position)), int(math.ceil(position))
    if math.isinf(values[high]) and position > low or math.isinf(values[low]):
        return math.inf
    return float(values[low] + (values[high] - values[low]) * (position - low)) if high != low else float(values[low])


def ratio(other: float, mine: float) -> Optional[float]:
    """other / mine for all-seed medians: inf if only mine is finite, 0 if only other's, None if neither."""
    if math.isinf(mine) and math.isinf(other):
        return None
    if math.isinf(other):
        return math.inf
    if math.isinf(mine):
        return 0.0
    return other / mine if mine > 0 else (1.0 if other == 0 else math.inf)


# ---- per-advisor summary --------------------------------------------------------------------------------
def by_advisor(document: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for run in document["runs"]:
        groups.setdefault(run["advisor"], []).append(run)
    return groups


def _mean_of(runs: list[dict], key: str) -> float:
    return float(np.mean([r.get(key, 0) or 0 for r in runs])) if runs else 0.0


def summarize(document: dict) -> dict[str, dict]:
    """advisor -> measures, in ranking order (see :func:`rank_key`)."""
    summary = {}
    top = max(document["levels"]) if document.get("levels") else None
    for name, runs in by_advisor(document).items():
        s: dict[str, Any] = {"seeds": len(runs), "targets": {}}
        for target in TARGETS:
            times = [time_to_target(r, document, target) for r in runs]
            finite = np.array([t for t in times if math.isfinite(t)])
            s["targets"][target] = {"reached": int(finite.size), "times": times, "median": median_all(times),
                                    "q25": quantile_all(times, 0.25), "q75": quantile_all(times, 0.75)}
        finals = np.array([final_regret(r, document) for r in runs])
        s["final_mean"] = float(finals.mean())
        s["final_se"] = float(finals.std(ddof=1) / math.sqrt(len(finals))) if len(finals) > 1 else 0.0
        s["final_median"] = float(np.median(finals))
        s["configs"] = float(np.mean([len({_config_key(t["config"]) for t in r["trials"]}) for r in runs]))
        s["trials"] = float(np.mean([len(r["trials"]) for r in runs]))
        s["full_budget_trials"] = float(np.mean([sum(1 for t in r["trials"] if t["budget"] == top)
                                                 for r in runs]))
        s["failed"] = float(np.mean([sum(1 for t in r["trials"] if t["status"] == "FAILED") for r in runs]))
        s["killed"] = float(np.mean([sum(1 for t in r["trials"] if t["status"] == "KILLED") for r in runs]))
        for key in ("missing_config_proposals", "missing_row_proposals", "resumed_trials", "resume_floored"):
            s[key] = _mean_of(runs, key)
            s[key + "_total"] = int(sum(r.get(key, 0) or 0 for r in runs))
        s["checkpoint"] = sum(1 for r in runs if r.get("checkpoint"))
        decisions = np.concatenate([np.asarray(r.get("decision_ms", []), dtype=float) for r in runs]) \
            if runs else np.zeros(0)
        s["decision_ms_median"] = float(np.median(decisions)) if decisions.size else None
        s["decision_ms_p95"] = float(np.percentile(decisions, 95)) if decisions.size else None
        s["advisor_seconds"] = float(np.mean([r["advisor_seconds"] for r in runs]))
        s["decisions"] = float(np.mean([r["decisions"] for r in runs]))
        reasons: dict[str, int] = {}
        for r in runs:
            reasons[r.get("end_reason", "?")] = reasons.get(r.get("end_reason", "?"), 0) + 1
        s["end_reasons"] = reasons
        s["errors"] = [r["error"] for r in runs if r.get("error")]
        s["queued_trials"] = int(sum(r.get("queued_trials", 0) for r in runs))
        s["kills_ignored"] = int(sum(r.get("kills_ignored", 0) for r in runs))
        summary[name] = s
    return dict(sorted(summary.items(), key=lambda item: rank_key(item[1])))


def rank_key(s: dict) -> tuple:
    """Sort advisors by median time to 10%, then 1%, then 0.1% regret, then final regret."""
    return tuple(s["targets"][t]["median"] for t in TARGETS) + (s["final_median"],)


def best_peer(summary: dict[str, dict]) -> Optional[str]:
    """The best-ranked advisor that is neither hyperjump nor one of its ablations."""
    peers = [name for name in summary if not is_ours(name)]
    return min(peers, key=lambda n: rank_key(summary[n])) if peers else None


def speedups(summary: dict[str, dict], reference: str = REFERENCE) -> dict[str, dict[float, Optional[float]]]:
    """other advisor -> target -> median(other) / median(reference), all-seed medians (see :func:`ratio`)."""
    if reference not in summary:
        return {}
    return {name: {t: ratio(s["targets"][t]["median"], summary[reference]["targets"][t]["median"])
                   for t in TARGETS}
            for name, s in summary.items() if name != reference}


def comparison(summary: dict[str, dict], reference: str = REFERENCE) -> dict:
    """hyperjump against the best peer and hyperband: medians and ratios per target."""
    peer = best_peer(summary)
    out: dict[str, Any] = {"reference": reference if reference in summary else None, "best_peer": peer,
                           "targets": {}}
    for t in TARGETS:
        row: dict[str, Any] = {}
        mine = summary[reference]["targets"][t] if reference in summary else None
        row["hyperjump"] = mine
        for label, name in (("peer", peer), ("hyperband", "hyperband")):
            theirs = summary[name]["targets"][t] if name in summary else None
            row[label] = theirs
            row[label + "_ratio"] = ratio(theirs["median"], mine["median"]) if mine and theirs else None
        out["targets"][t] = row
    return out
