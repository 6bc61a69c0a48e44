"""results.json, report.md and the regret plot of a replay.

Definitions (also printed in report.md):

- normalised regret of a loss ``l``: ``(l - optimum_loss) / (worst_loss - optimum_loss)``,
  both taken over the table's rows at the maximum budget;
- a run's incumbent at time ``t``: the best loss of a trial that SUCCEEDED at the maximum
  budget and ended by ``t``; before the first one the regret counts as 1 (the worst);
- time to a target regret: the first incumbent time at or below it; mean and median are over
  the seeds that reached it (the count is shown); the speed-up of ``hyperjump`` against
  another advisor is the other's median divided by hyperjump's, when both reached it;
- oracle: the cheapest configuration within the target trained once at the maximum budget
  (the physical limit for one worker);
- advisor ms per decision: durations of the handler calls after which the advisor sent a
  NewTrialJob or KillTrialJob, pooled over seeds (median, p95).

``python -m hyperjump_advisor.replay.report DIR`` rebuilds report.md and the plot from
``DIR/results.json``.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

TARGETS = (0.1, 0.01, 0.001)
REGRET_FLOOR = 1e-4  # plotted regret is clipped here (log axis; 0 = the optimum found)
REFERENCE = "hyperjump"


# ---- results.json ------------------------------------------------------------------------------
def results_document(table, budget_map, runs: list[dict], time_limit: float, workers: int,
                     settings: Optional[dict] = None) -> dict:
    return {
        "table": table.name,
        "optimum_loss": table.optimum_loss,
        "worst_loss": table.worst_loss,
        "levels": table.levels,
        "R": budget_map.R,
        "eta": budget_map.eta,
        "workers": workers,
        "time_limit": time_limit,
        "oracle": {str(t): table.oracle_time(t) for t in TARGETS},
        "table_summary": table.summary(),
        "settings": settings or {},
        "runs": runs,
    }


def write_results(directory: str | os.PathLike, document: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as handle:
        json.dump(document, handle, default=_json_default)
    os.replace(tmp, path)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {value!r}")


def load_results(directory: str | os.PathLike) -> dict:
    with open(Path(directory) / "results.json") as handle:
        return json.load(handle)


# ---- per-run measures -------------------------------------------------------------------------------
def regret_of(loss: float, document: dict) -> float:
    span = document["worst_loss"] - document["optimum_loss"]
    return (loss - document["optimum_loss"]) / span if span > 0 else 0.0


def time_to_target(run: dict, document: dict, target: float) -> Optional[float]:
    for at, loss in run["incumbent"]:
        if regret_of(loss, document) <= target + 1e-12:
            return at
    return None


def regret_curve(run: dict, document: dict, grid: np.ndarray) -> np.ndarray:
    """Incumbent regret of one run at each grid time (1 before the first incumbent)."""
    out = np.ones_like(grid, dtype=float)
    for at, loss in run["incumbent"]:
        out[grid >= at] = regret_of(loss, document)
    return out


def final_regret(run: dict, document: dict) -> float:
    return regret_of(run["incumbent"][-1][1], document) if run["incumbent"] else 1.0


def _config_key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


# ---- per-advisor summary --------------------------------------------------------------------------------
def by_advisor(document: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for run in document["runs"]:
        groups.setdefault(run["advisor"], []).append(run)
    return groups


def summarize(document: dict) -> dict[str, dict]:
    summary = {}
    top = max(document["levels"]) if document.get("levels") else None
    for name, runs in by_advisor(document).items():
        s: dict[str, Any] = {"seeds": len(runs), "targets": {}}
        for target in TARGETS:
            times = [t for t in (time_to_target(r, document, target) for r in runs) if t is not None]
            s["targets"][target] = {"reached": len(times),
                                    "mean": float(np.mean(times)) if times else None,
                                    "median": float(np.median(times)) if times else None}
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
    return summary


def speedups(summary: dict[str, dict], reference: str = REFERENCE) -> dict[str, dict[float, Optional[float]]]:
    """other advisor -> target -> median(other) / median(reference), when both reached the target."""
    if reference not in summary:
        return {}
    out = {}
    for name, s in summary.items():
        if name == reference:
            continue
        out[name] = {}
        for target in TARGETS:
            mine, theirs = summary[reference]["targets"][target]["median"], s["targets"][target]["median"]
            out[name][target] = theirs / mine if mine and theirs is not None else None
    return out


# ---- report.md -----------------------------------------------------------------------------------------
def _t(seconds: Optional[float]) -> str:
    if seconds is None:
        return "—"
    if seconds >= 10_000:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:,.0f} s"


def _ms(value: Optional[float]) -> str:
    return "—" if value is None else (f"{value:.2f}" if value < 100 else f"{value:,.0f}")


def render_report(document: dict, plots: list[str] = ()) -> str:
    summary = summarize(document)
    lines = [f"# Replay: {document['table']}, {document['workers']} worker(s)", ""]
    lines += [f"- table: {document.get('table_summary', document['table'])}",
              f"- Hyperband R={document['R']}, eta={document['eta']}; TRIAL_BUDGET b = table level log_eta(b)"
              f" (levels {', '.join(f'{v:g}' for v in document['levels'])})",
              f"- optimum loss {document['optimum_loss']:.6g}, worst {document['worst_loss']:.6g} "
              "(at the maximum budget); regret = (incumbent - optimum) / (worst - optimum)",
              f"- simulated time limit {_t(document['time_limit'])}; "
              "seeds per advisor: " + ", ".join(f"{n} {s['seeds']}" for n, s in summary.items())]
    settings = document.get("settings") or {}
    if settings:
        lines.append("- settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    lines += ["", "## Time to reach a target regret (simulated seconds)", "",
              "mean / median over the seeds that reached it (reached/seeds); oracle = cheapest configuration "
              "within the target trained once at full budget", ""]
    header = "| advisor | " + " | ".join(f"{t:g}: mean | median | reached" for t in TARGETS) + " |"
    lines += [header, "|---|" + "---|---|---|" * len(TARGETS)]
    for name, s in summary.items():
        cells = []
        for target in TARGETS:
            x = s["targets"][target]
            cells.append(f"{_t(x['mean'])} | {_t(x['median'])} | {x['reached']}/{s['seeds']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    oracle = document.get("oracle", {})
    lines.append("| *oracle* | " + " | ".join(f"{_t(oracle.get(str(t)))} | | " for t in TARGETS) + " |")
    ups = speedups(summary)
    if ups:
        lines += ["", f"## Speed-up of {REFERENCE} (other's median time / {REFERENCE}'s, where both reached)", "",
                  "| against | " + " | ".join(f"regret {t:g}" for t in TARGETS) + " |",
                  "|---|" + "---|" * len(TARGETS)]
        for name, row in ups.items():
            lines.append(f"| {name} | " + " | ".join("—" if row[t] is None else f"{row[t]:.2f}x" for t in TARGETS)
                         + " |")
    lines += ["", "## Search and advisor cost", "",
              "| advisor | final regret (mean ± se) | median | configs | trials | full-budget trials | failed | "
              "killed | ms/decision median | p95 | decisions | advisor s/run | end |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        ends = ", ".join(f"{k} {v}" for k, v in s["end_reasons"].items())
        lines.append(f"| {name} | {s['final_mean']:.4f} ± {s['final_se']:.4f} | {s['final_median']:.4f} | "
                     f"{s['configs']:.1f} | {s['trials']:.1f} | {s['full_budget_trials']:.1f} | {s['failed']:.1f} | "
                     f"{s['killed']:.1f} | {_ms(s['decision_ms_median'])} | {_ms(s['decision_ms_p95'])} | "
                     f"{s['decisions']:.0f} | {s['advisor_seconds']:.2f} | {ends} |")
    notes = _notes(summary)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if plots:
        lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _notes(summary: dict[str, dict]) -> list[str]:
    notes = []
    for name, s in summary.items():
        if s["errors"]:
            first = s["errors"][0].strip().splitlines()
            notes.append(f"{name}: {len(s['errors'])} run(s) ended with an error; first: `{first[-1] if first else ''}`")
        if s["queued_trials"]:
            notes.append(f"{name}: {s['queued_trials']} NewTrialJob(s) had to wait for a worker (more trials sent "
                         "than requested)")
        if s["kills_ignored"]:
            notes.append(f"{name}: {s['kills_ignored']} KillTrialJob(s) named a trial that was not running")
        idle = s["end_reasons"].get("idle", 0)
        if idle:
            notes.append(f"{name}: {idle} run(s) stopped idle before the time limit: the advisor held trial "
                         "requests without sending work and no trial was running (a stall)")
    return notes


# ---- plot -----------------------------------------------------------------------------------------------
def plot_regret(document: dict, path: str | os.PathLike) -> Optional[Path]:
    """Mean incumbent regret vs simulated time, +/- one standard error, one curve per advisor."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    groups = by_advisor(document)
    firsts = [r["incumbent"][0][0] for runs in groups.values() for r in runs if r["incumbent"]]
    limit = document["time_limit"] if document.get("time_limit") and math.isfinite(document["time_limit"]) \
        else max((r.get("end_time", 0) for runs in groups.values() for r in runs), default=1.0)
    start = max(min(firsts) * 0.5, limit * 1e-4) if firsts else limit * 1e-3
    grid = np.geomspace(start, limit, 300)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in groups.items():
        curves = np.array([regret_curve(r, document, grid) for r in runs])
        mean = curves.mean(axis=0)
        se = curves.std(axis=0, ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else np.zeros_like(mean)
        line, = ax.plot(grid, np.maximum(mean, REGRET_FLOOR), label=f"{name} ({len(runs)} seeds)")
        ax.fill_between(grid, np.maximum(mean - se, REGRET_FLOOR), np.maximum(mean + se, REGRET_FLOOR),
                        color=line.get_color(), alpha=0.2, linewidth=0)
    for target in TARGETS:
        ax.axhline(target, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("mean normalised regret of the incumbent")
    ax.set_title(f"{document['table']}, {document['workers']} worker(s)")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ---- all outputs ------------------------------------------------------------------------------------------
def write_outputs(directory: str | os.PathLike, document: dict) -> dict[str, Path]:
    """results.json, regret.png and report.md in ``directory``."""
    directory = Path(directory)
    out = {"results": write_results(directory, document)}
    plot = plot_regret(document, directory / "regret.png")
    plots = [plot.name] if plot else []
    if plot:
        out["plot"] = plot
    report = directory / "report.md"
    report.write_text(render_report(document, plots))
    out["report"] = report
    return out


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m hyperjump_advisor.replay.report DIR (with DIR/results.json)", file=sys.stderr)
        return 2
    document = load_results(argv[0])
    plot = plot_regret(document, Path(argv[0]) / "regret.png")
    (Path(argv[0]) / "report.md").write_text(render_report(document, [plot.name] if plot else []))
    print(Path(argv[0]) / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
