"""``exec_mode: async``: the journal's lines carry what changed in the rungs, not the rungs whole.

Writing the rungs whole on every line cost O(trials) per command (at 3,000 trials, 32 workers: 2.7 ms of
a 7 ms command, and a journal that outgrew the snapshot every ~18 lines, so a compaction never stopped).
As with the brackets' slots, each line now carries, under ``"rungs"``:

- ``slots``: [rung, index, rows], the slots added to a rung since the last line, from their index on
  (a rung's slots keep their arrival order);
- ``changed``: [rung, index, config_id, status, loss], slots written before whose status or loss changed
  (each slot the journal wrote notes its own change, ``Slot.__setattr__``);
- ``results``: [rung, index, config_ids], the results appended to a rung, from their index on;
- ``moved_on``: [rung, config_ids], and ``no_jump``: config_ids, what joined those sets;
- ``queue``, ``stop_rear`` and ``allocated``, whole (a few numbers per rung).

Everything is written by position or as a set union, so a line applies the same to a fuzzy snapshot
that already holds part of it (see ``journal.py``).
"""
from __future__ import annotations

from itertools import islice
from typing import Any, Optional

from .async_schedule.state import Rungs
from .schedule import Slot


class RungsWatch:
    """What of one ``Rungs`` the journal has written; ``delta`` gives what changed since."""

    def __init__(self, rungs: Rungs):
        self.rungs = rungs
        n = len(rungs.plan)
        self._slots: list[list[Slot]] = [[] for _ in range(n)]   # rung -> its slots as written, in order
        self._results = [0] * n
        self._moved_on: list[set[int]] = [set() for _ in range(n)]
        self._no_jump: set[int] = set()
        self._changed: set[tuple[int, int]] = set()   # (rung, index) of written slots whose status or loss changed

    def delta(self) -> dict[str, Any]:
        r = self.rungs
        out: dict[str, Any] = {"queue": [list(q) for q in r.queue],
                               "stop_rear": [[int(v), float(x)] for v, x in r.stop_rear],
                               "allocated": [float(a) for a in r.allocated]}
        new, changed, results, moved = [], [], [], []
        for k, rung in enumerate(r.slots):
            written = len(self._slots[k])
            if len(rung) > written:
                rows = [[x.config_id, x.status.value, x.loss] for x in _last(rung, len(rung) - written)]
                new.append([k, written, rows])
            if len(r.results[k]) > self._results[k]:
                results.append([k, self._results[k], r.results[k][self._results[k]:]])
            if len(r.moved_on[k]) != len(self._moved_on[k]):
                moved.append([k, sorted(r.moved_on[k] - self._moved_on[k])])
        for k, i in sorted(self._changed):
            x = self._slots[k][i]
            changed.append([k, i, x.config_id, x.status.value, x.loss])
        no_jump = sorted(r.no_jump - self._no_jump) if len(r.no_jump) != len(self._no_jump) else []
        for key, value in (("slots", new), ("changed", changed), ("results", results), ("moved_on", moved),
                           ("no_jump", no_jump)):
            if value:
                out[key] = value
        return out

    def mark_written(self) -> None:
        r = self.rungs
        for k, rung in enumerate(r.slots):
            seen = self._slots[k]
            if len(rung) > len(seen):
                for i, x in enumerate(_last(rung, len(rung) - len(seen)), start=len(seen)):
                    object.__setattr__(x, "_journal_at", (self._changed, k, i))
                    seen.append(x)
            self._results[k] = len(r.results[k])
            if len(r.moved_on[k]) != len(self._moved_on[k]):
                self._moved_on[k] |= r.moved_on[k]
        if len(r.no_jump) != len(self._no_jump):
            self._no_jump |= r.no_jump
        self._changed.clear()


def _last(rung: dict[int, Slot], n: int) -> list[Slot]:
    """The last n slots of a rung, in arrival order (without walking the rung)."""
    return list(islice(reversed(rung.values()), n))[::-1]


def rungs_of(engine: Any) -> Optional[Rungs]:
    """The engine's rungs (exec_mode async), else None."""
    rungs = getattr(engine.scheduler, "rungs", None)
    return rungs if isinstance(rungs, Rungs) else None


def apply(stored: dict[str, Any], delta: dict[str, Any]) -> None:
    """Apply one line's ``"rungs"`` to a document's ``"async_rungs"`` (moved_on and no_jump become sets:
    ``finish`` turns them back into sorted lists)."""
    slots, results = stored["slots"], stored["results"]
    for k, start, rows in delta.get("slots", []):
        _put(slots[k], int(start), rows, f"rung {k}'s slots")
    for k, i, config_id, status, loss in delta.get("changed", []):
        row = slots[k][i]
        if row[0] != config_id:
            raise ValueError(f"rung {k} slot {i} holds configuration {row[0]}, not {config_id}")
        row[1], row[2] = status, loss
    for k, start, ids in delta.get("results", []):
        _put(results[k], int(start), ids, f"rung {k}'s results")
    moved_on = stored["moved_on"]
    for k, ids in delta.get("moved_on", []):
        if not isinstance(moved_on[k], set):
            moved_on[k] = set(moved_on[k])
        moved_on[k].update(ids)
    if delta.get("no_jump"):
        if not isinstance(stored["no_jump"], set):
            stored["no_jump"] = set(stored["no_jump"])
        stored["no_jump"].update(delta["no_jump"])
    for key in ("queue", "stop_rear", "allocated"):
        stored[key] = delta[key]


def finish(stored: dict[str, Any]) -> None:
    """The sets ``apply`` made, back to the sorted lists ``Rungs.to_dict`` writes."""
    stored["moved_on"] = [sorted(m) if isinstance(m, set) else m for m in stored["moved_on"]]
    if isinstance(stored["no_jump"], set):
        stored["no_jump"] = sorted(stored["no_jump"])


def _put(items: list[Any], start: int, new: list[Any], what: str) -> None:
    """items[start:start + len(new)] = new; ``start`` past the end is a gap (an unusable line)."""
    if not 0 <= start <= len(items):
        raise ValueError(f"{what} from {start}, the state has {len(items)}")
    items[start:start + len(new)] = new
