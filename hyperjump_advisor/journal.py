"""The advisor's state on disk: a snapshot plus an append-only journal of what changed since.

Rewriting the whole state after every command costs O(trials) per command (60 ms at 1,000 trials,
0.7 s at 10,000, measured before this module). Instead each command appends one line with what it
changed: new configurations and observations, the rows of the trials it touched, the brackets it
touched, and the small scalars (next parameter id, incumbent, random state). A bracket is written
whole when it opens; afterwards only what changed: its stage, jumped and no_jump ("heads"), a stage
list filled by a promotion or a jump ("stages"), and the slots whose status or loss changed ("slots",
by bracket, stage and index: each slot the journal wrote notes its own changes, ``Slot.__setattr__``).
At R=100000 a bracket holds 59,049 slots; a result changes one of them.

When the journal outgrows the snapshot (and 1 MB) it is compacted without stopping a command for
O(state): the journal is renamed ``hyperjump-state.journal.old`` at sequence number S0, and the new
snapshot is written ``PIECE_ITEMS`` items (configurations, observations, trial rows, slots) per save
into a ``.partial`` file, then renamed over the snapshot. Its pieces are read at different saves
after S0 (a fuzzy snapshot); it names S0, and every line after S0 rewrites what it changed by
position or id (configurations and observations carry their start index), so snapshot + the lines
after S0 is the live state whichever save each piece was read at. Until the rename the old snapshot,
the old journal and the journal are what a resume reads. A fuzzy snapshot is consistent only with
every line up to the save that completed it: the journal is synced before the rename, so the torn
line a crash leaves is always a later one. The first save of a session (and of another list of
brackets) still writes the whole state at once.

- Every line carries the schema version and a sequence number; the snapshot names the last sequence
  number it includes, so a journal left over from before a snapshot is skipped, not applied twice.
- ``fsync`` is batched (every ``SYNC_EVERY`` lines or ``SYNC_SECONDS``); the snapshot is always synced.
- A write that fails (a full disk) raises ``OSError`` to the caller, which warns and carries on; what
  was not written stays marked and goes out with the next successful write.
- On load, a line that does not parse ends the journal there: the state resumes from the last good
  line, with a warning (a torn last line after a crash is the common case). The parameter ids the lost
  lines may have handed out are skipped (``LOST_ID_MARGIN``), so NNI never sees one id twice.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Optional

from . import journal_rungs, persistence
from .compaction import Compaction
from .engine import Engine
from .journal_rungs import RungsWatch, rungs_of
from .files import sync_folder as _sync_folder, write_atomically
from .schedule import Bracket, Scheduler, Slot

_logger = logging.getLogger("hyperjump_advisor")

JOURNAL_FILE = "hyperjump-state.journal"
OLD_JOURNAL_FILE = "hyperjump-state.journal.old"  # the lines up to a compaction's start, until it ends
PARTIAL_SUFFIX = ".partial"
SYNC_EVERY = 50
SYNC_SECONDS = 2.0
COMPACT_MIN_BYTES = 1 << 20
PIECE_ITEMS = 2000  # items a compaction serialises per save (~2-4 ms)
LOST_ID_MARGIN = 1000

Head = tuple[int, bool, bool]  # a bracket's (stage, jumped, no_jump)


class Journal:
    """Writes one engine's state into ``folder``; ``save`` after every command."""

    def __init__(self, folder: str):
        self.folder = folder
        self.snapshot_path = os.path.join(folder, persistence.STATE_FILE)
        self.journal_path = os.path.join(folder, JOURNAL_FILE)
        self.old_journal_path = os.path.join(folder, OLD_JOURNAL_FILE)
        self._seq = 0
        self._snapshot_bytes = 0
        self._journal_bytes = 0
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._snapshot_written = False
        self._configs_written = 0
        self._observations_written = 0
        self._brackets_written = 0
        self._bracket_list: Optional[list[Bracket]] = None  # the engine's list of brackets as written
        self._stages: list[list[list[Slot]]] = []  # per bracket written: its stage lists as written
        self._heads: list[Head] = []
        self._open: set[int] = set()  # brackets written while open: their heads and stage lists are compared
        self._changed_slots: set[tuple[int, int, int]] = set()  # (bracket, stage, index) of slots that changed
        self._compaction_seq: Optional[int] = None  # S0 of a compaction in progress (the journal was renamed)
        self._compaction: Optional[Compaction] = None
        self._rungs: Optional[RungsWatch] = None  # exec_mode async: what of its rungs was written

    def save(self, engine: Engine) -> None:
        rungs = rungs_of(engine)
        if (not self._snapshot_written or self._brackets_of(engine) is not self._bracket_list
                or rungs is not (self._rungs.rungs if self._rungs is not None else None)):
            self._write_snapshot(engine)
            self._mark_written(engine)
            return
        self._append(engine)
        self._mark_written(engine)
        self._compact_step(engine)

    # ---- writing -------------------------------------------------------------------------------
    def _write_snapshot(self, engine: Engine) -> None:
        """The whole state at once: the first save of a session (or of another list of brackets)."""
        self._seq += 1
        document = persistence.document(engine)
        document["journal_seq"] = self._seq
        data = json.dumps(document, separators=(",", ":")).encode("utf-8")
        write_atomically(self.snapshot_path, data)
        with open(self.journal_path, "w", encoding="utf-8"):
            pass  # everything it held is in the snapshot
        self._abandon_compaction()
        for path in (self.old_journal_path, self.snapshot_path + PARTIAL_SUFFIX):
            if os.path.exists(path):
                os.unlink(path)
        self._compaction_seq = None
        self._snapshot_bytes, self._journal_bytes = len(data), 0
        self._snapshot_written = True
        self._bracket_list = self._brackets_of(engine)
        self._stages, self._heads, self._open = [], [], set()
        self._changed_slots.clear()
        for bracket in self._bracket_list or []:
            self._watch(bracket)
        self._brackets_written = len(self._bracket_list or [])
        rungs = rungs_of(engine)
        self._rungs = RungsWatch(rungs) if rungs is not None else None  # _mark_written watches its slots

    def _append(self, engine: Engine) -> None:
        self._seq += 1
        line = json.dumps(self._delta(engine), separators=(",", ":")) + "\n"
        with open(self.journal_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            self._unsynced += 1
            if self._unsynced >= SYNC_EVERY or time.monotonic() - self._last_sync >= SYNC_SECONDS:
                os.fsync(f.fileno())
                self._unsynced, self._last_sync = 0, time.monotonic()
        self._journal_bytes += len(line)

    def _delta(self, engine: Engine) -> dict[str, Any]:
        brackets = engine.scheduler.brackets
        opened = [persistence.bracket_to_dict(brackets[i]) for i in range(self._brackets_written, len(brackets))]
        heads, stages, rewritten = [], [], set()
        for k in self._written_to_compare(engine):
            b = brackets[k]
            head = (b.stage, b.jumped, b.no_jump)
            if head != self._heads[k]:
                heads.append([k, *head])
            for stage, slots in enumerate(b.slots):
                if stage >= len(self._stages[k]) or slots is not self._stages[k][stage]:
                    stages.append([k, stage, [[x.config_id, x.status.value, x.loss] for x in slots]])
                    rewritten.add((k, stage))
        changed = []
        for k, stage, i in sorted(self._changed_slots):
            if (k, stage) in rewritten or k >= self._brackets_written:
                continue
            x = self._stages[k][stage][i]
            changed.append([k, stage, i, x.config_id, x.status.value, x.loss])
        delta = {
            "v": persistence.VERSION, "seq": self._seq,
            "configs": [self._configs_written, engine.searcher.configs[self._configs_written:]],
            "observations": engine.evidence.observations[self._observations_written:],
            "observations_at": self._observations_written,
            "trials": engine.ledger.to_rows(engine.ledger.changed),
            "brackets": opened,
            "next_parameter_id": engine.ledger.next_parameter_id,
            "incumbent": engine.evidence.incumbent,
            "rng": engine.searcher.rng.bit_generator.state,
            "longest_run": engine.ledger.longest_run,
        }
        for key, value in (("heads", heads), ("stages", stages), ("slots", changed)):
            if value:
                delta[key] = value
        if self._rungs is not None:  # exec_mode async: what changed in its rungs (journal_rungs.py)
            delta["rungs"] = self._rungs.delta()
        return delta

    def _mark_written(self, engine: Engine) -> None:
        brackets = engine.scheduler.brackets
        for k in self._written_to_compare(engine):
            self._watch(brackets[k], again=True)
        for k in range(self._brackets_written, len(brackets)):
            self._watch(brackets[k])
        self._changed_slots.clear()
        if self._rungs is not None:
            self._rungs.mark_written()
        self._configs_written = len(engine.searcher.configs)
        self._observations_written = len(engine.evidence.observations)
        self._brackets_written = len(engine.scheduler.brackets)
        engine.ledger.changed.clear()
        engine.touched_brackets.clear()

    def _written_to_compare(self, engine: Engine) -> list[int]:
        """Brackets written before whose heads or stage lists may have changed: open or touched since."""
        return sorted(k for k in self._open | engine.touched_brackets if k < self._brackets_written)

    def _watch(self, bracket: Bracket, again: bool = False) -> None:
        """Remember the bracket as written; its slots (of stage lists not seen yet) note their changes."""
        k = bracket.bracket_id
        if not again:
            assert k == len(self._stages), "brackets are written in order"
            self._stages.append([])
            self._heads.append((bracket.stage, bracket.jumped, bracket.no_jump))
        seen = self._stages[k]
        for stage, slots in enumerate(bracket.slots):
            if stage < len(seen) and seen[stage] is slots:
                continue
            for i, x in enumerate(slots):
                object.__setattr__(x, "_journal_at", (self._changed_slots, k, stage, i))
            if stage < len(seen):
                seen[stage] = slots
            else:
                seen.append(slots)
        self._heads[k] = (bracket.stage, bracket.jumped, bracket.no_jump)
        if bracket.finished:
            self._open.discard(k)
        else:
            self._open.add(k)

    @staticmethod
    def _brackets_of(engine: Engine) -> Optional[list[Bracket]]:
        return engine.scheduler.brackets if isinstance(engine.scheduler, Scheduler) else None

    # ---- compaction, a few pieces per save -------------------------------------------------------
    def _compact_step(self, engine: Engine) -> None:
        if self._compaction_seq is None:
            if self._journal_bytes <= max(COMPACT_MIN_BYTES, 2 * self._snapshot_bytes):
                return
            os.replace(self.journal_path, self.old_journal_path)  # the lines up to S0 = this save's
            self._compaction_seq, self._journal_bytes = self._seq, 0
        if self._compaction is None:
            self._compaction = Compaction(engine, self._compaction_seq, self.snapshot_path + PARTIAL_SUFFIX,
                                          PIECE_ITEMS)
        try:
            done = self._compaction.step(PIECE_ITEMS)
        except BaseException:
            self._abandon_compaction()  # started again from S0 at the next save
            raise
        if not done:
            return
        self._sync_journal()  # the lines after S0 must outlive the old journal
        os.replace(self._compaction.path, self.snapshot_path)
        _sync_folder(self.folder)
        self._snapshot_bytes = self._compaction.bytes
        self._compaction, self._compaction_seq = None, None
        os.unlink(self.old_journal_path)

    def _abandon_compaction(self) -> None:
        if self._compaction is not None:
            self._compaction.abandon()
            self._compaction = None

    def _sync_journal(self) -> None:
        if os.path.exists(self.journal_path):
            with open(self.journal_path, "a", encoding="utf-8") as f:
                os.fsync(f.fileno())
        self._unsynced, self._last_sync = 0, time.monotonic()


# ---- reading --------------------------------------------------------------------------------------
def load(folder: Optional[str]) -> Optional[dict[str, Any]]:
    """The snapshot with the journal applied; None when there is no state; StateError when unusable."""
    document = persistence.read(folder)
    if document is None or folder is None:
        return document
    _apply_journals(document, folder)
    if isinstance(document.get("async_rungs"), dict):
        journal_rungs.finish(document["async_rungs"])
    return document


def _apply_journals(document: dict[str, Any], folder: str) -> None:
    for name in (OLD_JOURNAL_FILE, JOURNAL_FILE):  # the old one: a compaction had not ended
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as error:
            _logger.warning("cannot read %s (%s); resuming from what was read before it", path, error)
            return
        if not _apply_lines(document, lines, path):
            return


def _apply_lines(document: dict[str, Any], lines: list[str], path: str) -> bool:
    """Apply the lines after the snapshot's sequence number; False when one was unusable (the rest is not applied)."""
    after = int(document.get("journal_seq", 0))
    trials = {row[0]: i for i, row in enumerate(document["trials"])}
    for number, text in enumerate(lines, start=1):
        try:
            entry = json.loads(text)
            if entry.get("v") != persistence.VERSION:
                raise ValueError(f"schema version {entry.get('v')!r}")
            if int(entry["seq"]) <= after:
                continue
            _apply(document, entry, trials)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            _logger.warning("%s: line %d of %d is unusable (%s); the state resumes from the line before it, and "
                            "parameter ids restart %d further on", path, number, len(lines), error, LOST_ID_MARGIN)
            document["next_parameter_id"] = int(document["next_parameter_id"]) + LOST_ID_MARGIN
            return False
    return True


def _apply(document: dict[str, Any], entry: dict[str, Any], trials: dict[Any, int]) -> None:
    start, configs = entry["configs"]
    _put(document["configs"], int(start), configs, "configurations")
    if "observations_at" in entry:  # positioned: a compaction's snapshot may already hold some of them
        _put(document["observations"], int(entry["observations_at"]), entry["observations"], "observations")
    else:
        document["observations"].extend(entry["observations"])
    for row in entry["trials"]:
        if row[0] in trials:
            document["trials"][trials[row[0]]] = row
        else:
            trials[row[0]] = len(document["trials"])
            document["trials"].append(row)
    for bracket in entry["brackets"]:
        k = int(bracket["bracket_id"])
        if k < len(document["brackets"]):
            document["brackets"][k] = bracket
        elif k == len(document["brackets"]):
            document["brackets"].append(bracket)
        else:
            raise ValueError(f"bracket {k} after {len(document['brackets'])} brackets")
    brackets = document["brackets"]
    for k, stage, jumped, no_jump in entry.get("heads", []):
        brackets[k].update(stage=stage, jumped=jumped, no_jump=no_jump)
    for k, stage, rows in entry.get("stages", []):
        slots = brackets[k]["slots"]
        if not 0 <= stage < len(slots):
            raise ValueError(f"bracket {k} has no stage {stage}")
        slots[stage] = rows
    for k, stage, i, config_id, status, loss in entry.get("slots", []):
        row = brackets[k]["slots"][stage][i]
        if row[0] != config_id:
            raise ValueError(f"bracket {k} stage {stage} slot {i} holds configuration {row[0]}, not {config_id}")
        row[1], row[2] = status, loss
    for key in ("next_parameter_id", "incumbent", "rng", "longest_run"):
        document[key] = entry[key]
    if "async_rungs" in entry:  # written whole (before journal_rungs.py)
        document["async_rungs"] = entry["async_rungs"]
    if "rungs" in entry:
        journal_rungs.apply(document["async_rungs"], entry["rungs"])


def _put(items: list[Any], start: int, new: list[Any], what: str) -> None:
    """items[start:start + len(new)] = new; ``start`` past the end is a gap (an unusable line)."""
    if not 0 <= start <= len(items):
        raise ValueError(f"{what} from {start}, the state has {len(items)}")
    items[start:start + len(new)] = new
