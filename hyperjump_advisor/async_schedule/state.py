"""The rungs' mutable state in one serialisable place: slots, results, what moved on, queues, budgets.

State: :meth:`Rungs.to_dict` / :meth:`Rungs.from_dict` (JSON-ready; ``from_dict`` checks what a corrupt state
could hold that parses, ValueError).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..schedule import Slot, SlotStatus, StagePlan

ASYNC_BRACKET = 0       # every async slot has bracket_id 0 (the ledger keys slots by bracket, stage, config)

EventSink = Callable[[dict[str, Any]], None]


def _queues(stored: list[Any]) -> list[list[int]]:
    """The per-rung queues of a stored state; a one-bracket version stored one flat queue (rung 0's)."""
    if all(not isinstance(q, list) for q in stored):
        return [[int(c) for c in stored]] if stored else []
    return [[int(c) for c in q] for q in stored]


@dataclass
class Rungs:
    """Mutable state of the rungs, in one serialisable place."""
    plan: list[StagePlan]
    slots: list[dict[int, Slot]] = field(default_factory=list)   # rung -> config -> slot (arrival order)
    results: list[list[int]] = field(default_factory=list)       # rung -> configs in the order results came
    moved_on: list[set[int]] = field(default_factory=list)       # rung -> promoted out of it, or dropped there
    no_jump: set[int] = field(default_factory=set)
    queue: list[list[int]] = field(default_factory=list)         # rung -> proposed configurations not started yet
    stop_rear: list[list[float]] = field(default_factory=list)   # rung -> [virtual stage, rEAR its stops spent]
    allocated: list[float] = field(default_factory=list)         # bracket s -> budget its starts were charged

    def __post_init__(self) -> None:
        for attr, make in (("slots", dict), ("results", list), ("moved_on", set), ("stop_rear", lambda: [0, 0.0]),
                           ("allocated", float), ("queue", list)):
            rows = getattr(self, attr)
            while len(rows) < len(self.plan):
                rows.append(make())
        self.added: list[Slot] = []   # every slot ``add`` made, in order (read by rung_folds.py; not saved)
        self.replaced = 0             # slots ``add`` put where a slot of the same configuration was

    @property
    def top(self) -> int:
        return len(self.plan) - 1

    def slot(self, stage: int, config_id: int) -> Slot:
        return self.slots[stage][config_id]

    def result_pairs(self, k: int) -> list[tuple[int, Optional[float]]]:
        return [(c, self.slots[k][c].loss) for c in self.results[k]]

    def running(self, k: int) -> list[Slot]:
        return [x for x in self.slots[k].values() if x.status is SlotStatus.RUNNING]

    def add(self, k: int, config_id: int) -> Slot:
        slot = Slot(ASYNC_BRACKET, k, config_id, self.plan[k].budget, SlotStatus.RUNNING)
        if config_id in self.slots[k]:
            self.replaced += 1
        self.slots[k][config_id] = slot
        self.added.append(slot)
        return slot

    # ---- JSON ----
    def to_dict(self) -> dict[str, Any]:
        return {"plan": [[p.n, p.budget] for p in self.plan],
                "slots": [[[x.config_id, x.status.value, x.loss] for x in rung.values()] for rung in self.slots],
                "results": [list(r) for r in self.results],
                "moved_on": [sorted(m) for m in self.moved_on],
                "no_jump": sorted(self.no_jump), "queue": [list(q) for q in self.queue],
                "stop_rear": [[int(v), float(r)] for v, r in self.stop_rear],
                "allocated": [float(a) for a in self.allocated]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Rungs":
        plan = [StagePlan(int(n), int(b)) for n, b in d["plan"]]
        slots = [{int(c): Slot(ASYNC_BRACKET, k, int(c), plan[k].budget, SlotStatus(status),
                               None if loss is None else float(loss)) for c, status, loss in rung}
                 for k, rung in enumerate(d["slots"])]
        rungs = cls(plan, slots, [[int(c) for c in r] for r in d["results"]],
                    [set(int(c) for c in m) for m in d["moved_on"]], set(int(c) for c in d["no_jump"]),
                    _queues(d["queue"]), [[int(v), float(r)] for v, r in d["stop_rear"]],
                    [float(a) for a in d.get("allocated", [])])   # absent in states of one-bracket versions
        rungs.check()
        return rungs

    def check(self) -> None:
        """What a corrupt state could hold that parses (ValueError)."""
        if not (len(self.slots) == len(self.results) == len(self.moved_on) == len(self.stop_rear)
                == len(self.allocated) == len(self.queue) == len(self.plan)):
            raise ValueError("the rungs do not match the plan")
        for k, rung in enumerate(self.slots):
            for x in rung.values():
                if (x.status is SlotStatus.DONE) != (x.loss is not None and math.isfinite(x.loss)):
                    raise ValueError(f"rung {k} has a slot {x.status.value} with loss {x.loss!r}")
                if x.status is SlotStatus.PENDING:
                    raise ValueError(f"rung {k} has a pending slot")
            done = {c for c, x in rung.items() if x.status in (SlotStatus.DONE, SlotStatus.FAILED)}
            if set(self.results[k]) != done or len(self.results[k]) != len(done):
                raise ValueError(f"rung {k}'s results do not match its slots")
        if not all(math.isfinite(a) and a >= 0 for a in self.allocated):
            raise ValueError("a bracket's allocated budget is not a finite number >= 0")
