"""results.json and the outputs of a replay: :func:`results_document`, writing and loading
results.json, and :func:`write_outputs` (results.json, regret.png and calibration.png from :mod:`.plot`,
report.md from :mod:`.render`). The measures and their definitions are in :mod:`.measures`, the
calibration of the jumps in :mod:`.calibration`.

``python -m hyperjump_advisor.replay.report DIR`` rebuilds report.md and the plots from
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
from .plot import plot_calibration, plot_regret
from .render import CALIBRATION_PLOT, render_report


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
    """results.json, regret.png, calibration.png (when any jump was scored) and report.md in ``directory``."""
    directory = Path(directory)
    out = {"results": write_results(directory, document)}
    plots = _plots(document, directory)
    if "regret.png" in plots:
        out["plot"] = directory / "regret.png"
    if CALIBRATION_PLOT in plots:
        out["calibration_plot"] = directory / CALIBRATION_PLOT
    report = directory / "report.md"
    report.write_text(render_report(document, plots))
    out["report"] = report
    return out


def _plots(document: dict, directory: Path) -> list[str]:
    """regret.png and, when any jump was scored, calibration.png in ``directory``: the names written."""
    written = [plot_regret(document, directory / "regret.png"),
               plot_calibration(document, directory / CALIBRATION_PLOT)]
    return [p.name for p in written if p is not None]


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m hyperjump_advisor.replay.report DIR (with DIR/results.json)", file=sys.stderr)
        return 2
    document = load_results(argv[0])
    (Path(argv[0]) / "report.md").write_text(render_report(document, _plots(document, Path(argv[0]))))
    print(Path(argv[0]) / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
