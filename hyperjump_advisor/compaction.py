"""A fuzzy snapshot written a few pieces per save (the journal's compaction; see ``journal.py``).

Each piece is read from the live engine when it is written, so no save pays for the whole state."""
from __future__ import annotations

import json
import os
from itertools import islice
from typing import Any, Iterator

from . import persistence
from .engine import Engine
from .async_schedule.state import Rungs
from .journal_rungs import rungs_of
from .schedule import Bracket


class Compaction:
    """A snapshot document written into ``path`` a few pieces at a time (see the module docstring)."""

    def __init__(self, engine: Engine, seq: int, path: str, piece_items: int):
        self.path = path
        self.bytes = 0
        self._file = open(path, "wb")
        self._pieces = _document(engine, seq, piece_items)

    def step(self, items: int) -> bool:
        """Write pieces worth about ``items`` items; True (file closed and synced) when the document is whole."""
        spent = 0
        for text, cost in self._pieces:
            data = text.encode("utf-8")
            self._file.write(data)
            self.bytes += len(data)
            spent += cost
            if spent >= items:
                return False
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return True

    def abandon(self) -> None:
        self._file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def _document(engine: Engine, seq: int, piece: int) -> Iterator[tuple[str, int]]:
    """The pieces of ``persistence.document(engine) | {"journal_seq": seq}``, each read when it is written.

    The lists hold what existed at S0 (later items are in the lines after S0); items are read live."""
    head = persistence.document_head(engine, rungs=False)
    head["journal_seq"] = seq
    rungs = rungs_of(engine)  # exec_mode async: its rungs, in pieces (below)
    searcher, evidence, ledger = engine.searcher, engine.evidence, engine.ledger
    n_configs, n_observations = len(searcher.configs), len(evidence.observations)
    trial_ids = list(ledger.trials)
    n_brackets = len(engine.scheduler.brackets)
    yield _dumps(head)[:-1], 0
    yield ',"configs":[', 0
    yield from _chunks(lambda a, b: searcher.configs[a:b], n_configs, piece)
    yield '],"observations":[', 0
    yield from _chunks(lambda a, b: evidence.observations[a:b], n_observations, piece)
    yield '],"trials":[', 0
    yield from _chunks(lambda a, b: [row for pid in trial_ids[a:b] for row in ledger.to_rows([pid])],
                       len(trial_ids), piece)
    yield '],"brackets":[', 0
    for k in range(n_brackets):
        yield from _bracket_pieces(engine.scheduler.brackets[k], k == 0, piece)
    yield "]", 0
    if rungs is not None:
        yield from _rungs_pieces(rungs, piece)
    yield "}", 0


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _chunks(read: Any, n: int, piece: int) -> Iterator[tuple[str, int]]:
    """A JSON list's items [0, n) without its brackets, ``piece`` per piece, read when yielded."""
    for start in range(0, n, piece):
        items = read(start, min(n, start + piece))
        yield ("," if start else "") + _dumps(items)[1:-1], len(items)


def _rungs_pieces(rungs: Rungs, piece: int) -> Iterator[tuple[str, int]]:
    """``"async_rungs": rungs.to_dict()``, its slots and results ``piece`` per piece. Like the other lists they
    hold what existed at S0 (a rung's slots keep their order; results are appended); moved_on and no_jump
    are read whole when written (they only grow: the lines after S0 add to them), the rest is small."""
    sizes = [(len(rung), len(results)) for rung, results in zip(rungs.slots, rungs.results)]
    yield ',"async_rungs":{"plan":' + _dumps([[p.n, p.budget] for p in rungs.plan]) + ',"slots":[', 0
    for k, (n_slots, _) in enumerate(sizes):
        yield ("," if k else "") + "[", 0
        yield from _chunks(lambda a, b: [[x.config_id, x.status.value, x.loss]
                                         for x in islice(rungs.slots[k].values(), a, b)], n_slots, piece)
        yield "]", 0
    yield '],"results":[', 0
    for k, (_, n_results) in enumerate(sizes):
        yield ("," if k else "") + "[", 0
        yield from _chunks(lambda a, b: rungs.results[k][a:b], n_results, piece)
        yield "]", 0
    yield '],"moved_on":[', 0
    for k in range(len(sizes)):
        yield ("," if k else "") + _dumps(sorted(rungs.moved_on[k])), len(rungs.moved_on[k])
    yield "]", 0
    yield (',"no_jump":' + _dumps(sorted(rungs.no_jump)) + ',"queue":' + _dumps([list(q) for q in rungs.queue])
           + ',"stop_rear":' + _dumps([[int(v), float(x)] for v, x in rungs.stop_rear])
           + ',"allocated":' + _dumps([float(a) for a in rungs.allocated]) + "}"), len(rungs.no_jump)


def _bracket_pieces(bracket: Bracket, first: bool, piece: int) -> Iterator[tuple[str, int]]:
    """``bracket_to_dict(bracket)``, its slots ``piece`` per piece."""
    d = persistence.bracket_to_dict_head(bracket)
    yield ("" if first else ",") + _dumps(d)[:-1] + ',"slots":[', 1
    for stage, slots in enumerate(bracket.slots):
        yield ("," if stage else "") + "[", 0
        yield from _chunks(lambda a, b: [[x.config_id, x.status.value, x.loss] for x in slots[a:b]], len(slots),
                           piece)
        yield "]", 0
    yield "]}", 0
