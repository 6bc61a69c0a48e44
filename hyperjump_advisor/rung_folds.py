"""What the async rungs hold, per configuration key, kept as slots are added and resolved.

The searcher asks two things of every slot at each proposal: the largest budget each configuration
ran at (inf once a run failed; ``no_repeat``) and the measured results per budget (``local_search``'s
anchors). A pass over every slot of every rung costs O(trials) per proposal (60-100 ms at 20,000
trials). :class:`RungFolds` reads only the slots added since its last call (``Rungs.added``, a log in
order) and the few not resolved yet (running or failed), and gives the same answer as the full pass:

- a slot's budget counts from its start; a failure raises it to inf (a max only grows);
- a result counts once its slot is DONE with a loss (a DONE slot never changes again);
- what would make a max shrink (a failed slot revised to DONE, a slot replaced at its rung) or a state
  it did not see grow (another ``Rungs`` object after a resume, another list of keys after a new search
  space) starts it over with one full pass.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from .schedule import Slot, SlotStatus

Key = tuple[str, ...]


class RungFolds:
    def __init__(self) -> None:
        self._owner: tuple[Any, ...] = ()
        self._read = 0                                   # entries of rungs.added folded so far
        self._replaced = 0
        self._largest: dict[Key, float] = {}
        self._results: dict[float, list[tuple[float, Key]]] = {}
        self._config_of: dict[Key, int] = {}             # key -> a configuration id with it (a DONE result)
        self._watched: list[tuple[Slot, bool]] = []      # (slot, failed): not resolved yet, or FAILED

    def update(self, rungs: Any, keys: list[Optional[Key]]) -> None:
        """Bring the folds up to date with ``rungs`` (``keys``: configuration id -> key, None to leave out)."""
        if len(self._owner) != 2 or self._owner[0] is not rungs or self._owner[1] is not keys \
                or rungs.replaced != self._replaced:
            self._start_over(rungs, keys)
            return
        watched, self._watched = self._watched, []
        for slot, was_failed in watched:
            if was_failed and slot.status is not SlotStatus.FAILED:
                self._start_over(rungs, keys)   # a failure revised: that configuration's max may shrink
                return
            self._fold(slot, keys)
        for slot in rungs.added[self._read:]:
            self._fold(slot, keys)
        self._read = len(rungs.added)

    def largest(self) -> dict[Key, float]:
        return dict(self._largest)

    def results(self) -> dict[float, list[tuple[float, Key]]]:
        return self._results

    def config_of(self, key: Key) -> int:
        return self._config_of[key]

    def _start_over(self, rungs: Any, keys: list[Optional[Key]]) -> None:
        self._owner, self._replaced = (rungs, keys), rungs.replaced
        self._largest, self._results, self._config_of, self._watched = {}, {}, {}, []
        for rung in rungs.slots:
            for slot in rung.values():
                self._fold(slot, keys)
        self._read = len(rungs.added)

    def _fold(self, slot: Slot, keys: list[Optional[Key]]) -> None:
        key = keys[slot.config_id]
        if key is None:
            return
        failed = slot.status is SlotStatus.FAILED
        value = math.inf if failed else float(slot.budget)
        if value > self._largest.get(key, -math.inf):
            self._largest[key] = value
        if slot.status is SlotStatus.DONE and slot.loss is not None:
            self._results.setdefault(float(slot.budget), []).append((float(slot.loss), key))
            self._config_of[key] = slot.config_id
        elif slot.status is not SlotStatus.SKIPPED:     # running, or failed: a late result revises it
            self._watched.append((slot, failed))
