"""Running many replays: :func:`run_one` (one advisor and seed, a peer in its own environment
or an in-process advisor on a :class:`~.simulator.Simulator`; this project's advisor with a
:mod:`.calibration` tap, whose records go to the run's ``calibration``), :func:`run_many` (every advisor
times every seed) and :class:`Progress`, their progress line on stderr.
"""
from __future__ import annotations

import math
import sys
import time
import traceback
from typing import Optional

from . import calibration
from .simulator import SimConfig, Simulator
from .tables import BudgetMap, Table


class Progress:
    """A one-line progress bar on stderr (a line per run when stderr is not a terminal)."""

    def __init__(self, total_runs: int, time_limit: float, stream=None, enabled: bool = True):
        self.total, self.limit = total_runs, time_limit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done, self.label, self._last = 0, "", 0.0

    def start(self, label: str) -> None:
        self.label = label
        self._draw(0.0, force=True)

    def clock(self, now: float) -> None:
        if self.tty and time.monotonic() - self._last > 0.2:
            self._draw(now)

    def finish(self, summary: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"[{self.done}/{self.total}] {self.label}: {summary}\n")
        self.stream.flush()

    def _draw(self, now: float, force: bool = False) -> None:
        if not self.tty:
            return
        self._last = time.monotonic()
        fraction = 0.0 if not math.isfinite(self.limit) or self.limit <= 0 else min(1.0, now / self.limit)
        width = 30
        bar = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        self.stream.write(f"\r\033[K[{self.done}/{self.total}] {self.label} [{bar}] "
                          f"{now:,.0f}/{self.limit:,.0f} s")
        self.stream.flush()


def run_one(spec, table: Table, budget_map: BudgetMap, seed: int, config: SimConfig,
            class_args: Optional[dict] = None, progress: Optional[Progress] = None) -> dict:
    """One (advisor, seed) run; returns its entry of results.json ``runs``."""
    label = f"{spec.name} seed {seed} W={config.workers}"
    if progress:
        progress.start(label)
    wall = time.perf_counter()
    runner = getattr(spec, "run", None)  # a peer in its own environment runs the same Simulator there
    try:
        if runner is not None:
            out = runner(table, budget_map, seed, config, class_args or {})
        else:
            advisor = spec.build(R=budget_map.R, eta=budget_map.eta, seed=seed, class_args=class_args or {})
    except Exception:
        out = {"error": f"could not run {spec.name}:\n{traceback.format_exc()}", "trials": [], "incumbent": [],
               "advisor_seconds": 0.0, "decisions": 0, "decision_ms": [], "end_reason": "error", "end_time": 0.0,
               "checkpoint": None}
    else:
        if runner is None:
            tap = calibration.attach(advisor, table, budget_map)  # this project's advisor: score its jumps
            sim = Simulator(advisor, table, budget_map, config, progress=progress.clock if progress else None)
            if tap is not None:
                tap.clock = lambda: sim.now
            out = sim.run()
            feed = getattr(getattr(advisor, "engine", None), "diagnostics", None)
            if feed is not None:   # this project's advisor: its workload diagnostics at the end of the run
                model = advisor.engine.evidence.model
                out["diagnostics"] = {**feed.state.summary(sim.now), "std_inflation": feed.state.std_inflation(),
                                      "model": None if model is None or model.hyper is None else {
                                          "linear_variance": model.hyper.linear_variance,
                                          "bias_variance": model.hyper.bias_variance,
                                          "noise_variance": model.hyper.noise_variance,
                                          "collapsed_refits": model.collapsed_refits,
                                          "refits": model.n_hyperopts}}
            if tap is not None:
                out["calibration"] = tap.records
                if tap.error is not None:
                    out["calibration_error"] = tap.error
    run = {"advisor": spec.name, "seed": seed, "workers": config.workers, **out,
           "wall_seconds": time.perf_counter() - wall}
    if progress:
        best = run["incumbent"][-1][1] if run["incumbent"] else None
        progress.finish(f"{len(run['trials'])} trials, end {run['end_reason']} at {run['end_time']:,.0f} s, "
                        f"best {best if best is None else round(table.regret(best), 5)} regret, "
                        f"advisor {run['advisor_seconds']:.2f} s" + (" ERROR" if run.get("error") else ""))
    return run


def run_many(specs: list, table: Table, budget_map: BudgetMap, seeds: list[int], config: SimConfig,
             class_args: Optional[dict] = None, progress: bool = True) -> list[dict]:
    bar = Progress(len(specs) * len(seeds), config.time_limit, enabled=progress)
    return [run_one(spec, table, budget_map, seed, config, class_args, bar) for spec in specs for seed in seeds]
