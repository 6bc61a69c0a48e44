"""The plots of a replay: regret.png (median incumbent regret against simulated time, with its
interquartile band across seeds, one curve per advisor) and calibration.png (every jump's predicted
rEAR against the relative loss it really caused, :mod:`.calibration`).
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from .measures import REFERENCE, TARGETS, by_advisor, is_ours, regret_curve, summarize

REGRET_FLOOR = 1e-4  # plotted regret is clipped here (log axis; 0 = the optimum found)


def plot_regret(document: dict, path: str | os.PathLike) -> Optional[Path]:
    """Median incumbent regret vs simulated time with its interquartile band across seeds, one curve per
    advisor (in ranking order)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    groups = by_advisor(document)
    order = list(summarize(document))
    firsts = [r["incumbent"][0][0] for runs in groups.values() for r in runs if r["incumbent"]]
    limit = document["time_limit"] if document.get("time_limit") and math.isfinite(document["time_limit"]) \
        else max((r.get("end_time", 0) for runs in groups.values() for r in runs), default=1.0)
    start = max(min(firsts) * 0.5, limit * 1e-4) if firsts else limit * 1e-3
    grid = np.geomspace(start, limit, 300)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name in order:
        runs = groups[name]
        curves = np.array([regret_curve(r, document, grid) for r in runs])
        median = np.median(curves, axis=0)
        q25, q75 = np.percentile(curves, 25, axis=0), np.percentile(curves, 75, axis=0)  # regrets: finite
        style = "-" if is_ours(name) else "--"
        width = 2.2 if name == REFERENCE else 1.3
        line, = ax.plot(grid, np.maximum(median, REGRET_FLOOR), style, linewidth=width,
                        label=f"{name} ({len(runs)} seeds)")
        ax.fill_between(grid, np.maximum(q25, REGRET_FLOOR), np.maximum(q75, REGRET_FLOOR),
                        color=line.get_color(), alpha=0.15, linewidth=0)
    for target in TARGETS:
        ax.axhline(target, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("normalised regret of the incumbent\n(median, band: interquartile across seeds)")
    ax.set_title(f"{document['table']}, {document['workers']} worker(s)")
    ax.legend(fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


CALIBRATION_LINEAR = 1e-3  # symlog axes: linear below this, so predicted or realised 0 stays on the plot
_KIND_MARKERS = {"jump": "o", "finish": "s", "rung_stop": "D", "async_jump": "^"}


def plot_calibration(document: dict, path: str | os.PathLike) -> Optional[Path]:
    """Predicted rEAR against realised relative loss of every jump (calibration.png), one colour per advisor,
    one marker per kind of decision, with the line y = x and each advisor's mean realised per bin of predicted
    rEAR; None when no run has a calibration record with a known realised value."""
    from .calibration import EDGES, bin_of, calibration_by_advisor
    pooled = {name: [r for r in records if r.get("realised") is not None]
              for name, records in calibration_by_advisor(document).items()}
    pooled = {name: records for name, records in pooled.items() if records}
    if not pooled:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no calibration plot", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    top = max(max(max(r["predicted"], r["realised"]) for r in records) for records in pooled.values())
    top = max(top * 1.5, 0.2)
    palette = [c for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
    for index, (name, records) in enumerate(pooled.items()):
        colour = palette[index % len(palette)]
        for kind, marker in _KIND_MARKERS.items():
            of_kind = [r for r in records if r.get("kind") == kind]
            if of_kind:
                ax.scatter([r["predicted"] for r in of_kind], [r["realised"] for r in of_kind], s=14,
                           marker=marker, alpha=0.45, color=colour, linewidths=0,
                           label=f"{name}: {kind} ({len(of_kind)})")
        bins: dict[int, list[dict]] = {}
        for r in records:
            bins.setdefault(bin_of(r["predicted"]), []).append(r)
        centres = sorted(bins)
        ax.plot([float(np.mean([r["predicted"] for r in bins[b]])) for b in centres],
                [float(np.mean([r["realised"] for r in bins[b]])) for b in centres], "-", marker="x",
                color=colour, linewidth=1.5, label=f"{name}: mean realised per bin")
    ax.plot([0, top], [0, top], color="black", linewidth=0.8, linestyle="--", label="y = x")
    for edge in EDGES:
        ax.axvline(edge, color="grey", linewidth=0.4, linestyle=":")
    ax.set_xscale("symlog", linthresh=CALIBRATION_LINEAR)
    ax.set_yscale("symlog", linthresh=CALIBRATION_LINEAR)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted rEAR of the jump (sum over its hops)")
    ax.set_ylabel("realised relative loss (true losses / l*)")
    ax.set_title(f"Calibration, {document['table']}, {document['workers']} worker(s)")
    ax.legend(fontsize=6)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
