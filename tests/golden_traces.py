"""Golden command traces of the advisor: every command in and every command out, in order.

A case replays the advisor in-process (``hyperjump_advisor.inprocess`` through the replay
simulator) on a learning-curve table and records the full exchange. ``tests/golden/*.json.gz``
hold the recorded traces; ``tests/test_golden_traces.py`` checks that the advisor still
produces them exactly. When a change alters the advisor's behaviour on purpose, re-record in
that commit and say why::

    make golden                              # re-record every case (the same as the next line)
    python tests/golden_traces.py            # re-record every case
    python tests/golden_traces.py CASE ...   # re-record some

Decisions that compare computed floats follow ``hyperjump_advisor/ties.py``, so a trace is the same
under any BLAS kernel (``.ci/run`` checks them under a second one).
"""
from __future__ import annotations

import gzip
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hyperjump_advisor.replay import advisors  # noqa: E402
from hyperjump_advisor.replay.faults import Faults  # noqa: E402
from hyperjump_advisor.replay.shared_tables import load_table  # noqa: E402
from hyperjump_advisor.replay.simulator import SimConfig, Simulator  # noqa: E402
from hyperjump_advisor.replay.table_csv import build_table  # noqa: E402
from hyperjump_advisor.replay.tables import Table, TableError, auto_time_limit, resolve_R_eta  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden"


def synthetic_table() -> Table:
    """60 configurations x 4 budgets (eta 3, R 27) with crossing learning curves; no I/O, no ../shared."""
    records = []
    for a in range(5):
        for b in range(4):
            for c in ("p", "q", "r"):
                quality = 0.08 * abs(a - 3) + 0.05 * abs(b - 1) + {"p": 0.0, "q": 0.04, "r": 0.09}[c]
                late = 0.25 if (a + b) % 3 == 0 else 0.05  # some configurations bloom late
                for level, budget in enumerate((1, 3, 9, 27)):
                    loss = 0.1 + quality + late / math.sqrt(budget) + 0.01 * ((a * 7 + b * 3 + level) % 5)
                    records.append({"a": a, "b": b, "c": c, "budget": budget, "loss": round(loss, 6),
                                    "time": round(budget * (1.0 + 0.3 * a + 0.1 * b), 6)})
    return build_table("synthetic", ["a", "b", "c"], records, intermediate="rows", eta=3)


@dataclass(frozen=True)
class Case:
    name: str
    table: str                     # "synthetic" or a shared table spec
    workers: int
    seed: int
    class_args: dict = field(default_factory=dict)
    iterations: float = 1.0
    faults: Optional[Faults] = None
    fast: bool = True              # part of make test-fast (no ../shared needed)


CASES = [
    Case("synthetic-w1-parallel-s0", "synthetic", 1, 0, {"exec_mode": "parallelism"}, iterations=2),
    Case("synthetic-w1-serial-s1", "synthetic", 1, 1, {"exec_mode": "serial"}, iterations=2),
    Case("synthetic-w8-parallel-s0", "synthetic", 8, 0, {"exec_mode": "parallelism"}, iterations=2),
    Case("synthetic-w8-serial-s2", "synthetic", 8, 2, {"exec_mode": "serial"}, iterations=2),
    Case("synthetic-w32-parallel-s3", "synthetic", 32, 3, {"exec_mode": "parallelism"}, iterations=3),
    Case("synthetic-w4-faults-s4", "synthetic", 4, 4, {"exec_mode": "parallelism"}, iterations=2,
         faults=Faults(fail=0.2, cancel=0.05, duplicate_final=0.1, final_after_end=0.1, seed=4)),
    Case("synthetic-w2-norisk-order-s5", "synthetic", 2, 5,
         {"order_by_risk": False, "p_no_jump": 0.0, "exec_mode": "parallelism"}),
    Case("synthetic-w3-rank1-s6", "synthetic", 3, 6, {"rank_one_order": True, "hold_first_bracket": True,
                                                         "exec_mode": "parallelism"}),
    Case("mnist-w1-parallel-s0", "hyperjump:mnist_epochs", 1, 0, {"exec_mode": "parallelism"}, fast=False),
    Case("mnist-w8-serial-s1", "hyperjump:mnist_epochs", 8, 1, {"exec_mode": "serial"}, fast=False),
    Case("cnn_time3-w8-parallel-s2", "hyperjump:cnn_time3", 8, 2, {"exec_mode": "parallelism"}, iterations=0.5,
         fast=False),
    # recorded when async Hyperband's equal budget per bracket was the default: they keep guarding that rule
    Case("synthetic-w8-async-s7", "synthetic", 8, 7, {"exec_mode": "async", "learned_brackets": False},
         iterations=2),
    Case("synthetic-w1-async-faults-s8", "synthetic", 1, 8, {"exec_mode": "async", "learned_brackets": False},
         iterations=2, faults=Faults(fail=0.2, cancel=0.05, duplicate_final=0.1, final_after_end=0.1, seed=8)),
    Case("mnist-w8-async-s9", "hyperjump:mnist_epochs", 8, 9, {"exec_mode": "async", "learned_brackets": False},
         iterations=0.5, fast=False),
    # the defaults (learned_brackets: bracket_value.py)
    Case("synthetic-w8-async-learned-s10", "synthetic", 8, 10, {}, iterations=3),
    Case("synthetic-w1-async-learned-faults-s11", "synthetic", 1, 11, {}, iterations=3,
         faults=Faults(fail=0.1, cancel=0.05, duplicate_final=0.1, final_after_end=0.1, seed=11)),
    Case("cnn-w8-async-learned-s12", "hyperjump:cnn", 8, 12, {}, iterations=1, fast=False),
    Case("unet-w1-serial-s3", "hyperjump:unet", 1, 3, {"exec_mode": "serial"}, iterations=0.5, fast=False),
]
BY_NAME = {case.name: case for case in CASES}


def table_of(case: Case) -> Table:
    return synthetic_table() if case.table == "synthetic" else load_table(case.table)


def shared_available(case: Case) -> bool:
    if case.table == "synthetic":
        return True
    try:
        load_table(case.table)
    except TableError:
        return False
    return True


class _Tracer:
    """Wraps an offline advisor: records what goes in and what comes out of each command, and, once the
    replay installs its clock (``use_trial_clock``: the advisor measures trial durations on it), the time
    of each command as a fourth element of its "in" step."""

    def __init__(self, advisor: Any, trace: list):
        self._advisor, self._trace = advisor, trace
        self.sent = advisor.sent
        self._clock: Optional[Any] = None

    def use_trial_clock(self, clock: Any) -> None:
        self._clock = clock
        self._advisor.use_trial_clock(clock)

    def process_command(self, command: Any, data: Any) -> None:
        step = ["in", command.name, _jsonable(data)]
        if self._clock is not None:
            step.append(self._clock())
        self._trace.append(step)
        first = len(self.sent)
        try:
            self._advisor.process_command(command, data)
        finally:
            for message in self.sent[first:]:
                self._trace.append(["out", message.name, _jsonable(message.data)])


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def record(case: Case) -> list:
    table = table_of(case)
    budget_map = resolve_R_eta(table)
    advisor = advisors.get("hyperjump").build(R=budget_map.R, eta=budget_map.eta, seed=case.seed,
                                              class_args=dict(case.class_args))
    trace: list = []
    limit = auto_time_limit(table, budget_map, case.workers, iterations=1) * case.iterations
    config = SimConfig(workers=case.workers, time_limit=limit, faults=case.faults or Faults())
    result = Simulator(_Tracer(advisor, trace), table, budget_map, config).run()
    if result["error"]:
        raise RuntimeError(f"{case.name}: the advisor raised:\n{result['error']}")
    return trace


def path_of(case: Case) -> Path:
    return GOLDEN / f"{case.name}.json.gz"


def load(case: Case) -> list:
    with gzip.open(path_of(case), "rt", encoding="utf-8") as handle:
        return json.load(handle)


def save(case: Case, trace: list) -> Path:
    GOLDEN.mkdir(exist_ok=True)
    path = path_of(case)
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write(json.dumps(trace, separators=(",", ":")).encode("utf-8"))
    return path


def replay_inputs(case: Case, trace: list) -> list:
    """Feed the recorded inputs to a fresh advisor (open loop) and return the trace it produces.

    Open loop keeps the check about the advisor alone: a change to the replay simulator
    (timing, cost rules) cannot make it fail."""
    return replayed(case, trace)[1]


def replayed(case: Case, trace: list) -> tuple[Any, list]:
    """(the advisor after the recorded inputs, the trace it produced): :func:`replay_inputs`' work."""
    from nni.runtime.tuner_command_channel import CommandType

    table = table_of(case)
    budget_map = resolve_R_eta(table)
    advisor = advisors.get("hyperjump").build(R=budget_map.R, eta=budget_map.eta, seed=case.seed,
                                              class_args=dict(case.class_args))
    produced: list = []
    tracer = _Tracer(advisor, produced)
    now = [0.0]
    if any(step[0] == "in" and len(step) > 3 for step in trace):   # recorded with the replay's clock
        tracer.use_trial_clock(lambda: now[0])
    for step in trace:
        if step[0] == "in":
            if len(step) > 3:
                now[0] = step[3]
            tracer.process_command(CommandType[step[1]], step[2])
    return advisor, produced


def first_difference(expected: list, actual: list) -> Optional[str]:
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e != a:
            return f"step {i}: expected {json.dumps(e)[:400]}\n        got {json.dumps(a)[:400]}"
    if len(expected) != len(actual):
        return f"lengths differ: expected {len(expected)} steps, got {len(actual)}"
    return None


def main(argv: list[str]) -> int:
    advisors.QUIET_LOGS = True
    chosen = [BY_NAME[name] for name in argv] if argv else CASES
    for case in chosen:
        if not shared_available(case):
            print(f"{case.name}: skipped, {case.table} is not available", file=sys.stderr)
            continue
        trace = record(case)
        print(f"{case.name}: {len(trace)} steps -> {save(case, trace)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
