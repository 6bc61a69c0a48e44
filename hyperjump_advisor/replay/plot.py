"""The regret plot of a replay (regret.png): median incumbent regret against simulated time, with
its interquartile band across seeds, one curve per advisor.
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
