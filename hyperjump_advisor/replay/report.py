"""results.json and the outputs of a replay: :func:`results_document`, writing and loading
results.json, and :func:`write_outputs` (results.json, regret.png from :mod:`.plot`, report.md
from :mod:`.render`). The measures and their definitions are in :mod:`.measures`.

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

from .measures import TARGETS
from .plot import plot_regret
from .render import render_report


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
