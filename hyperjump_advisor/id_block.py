"""Parameter ids taken on disk before NNI sees them: a resumed advisor never sends one twice.

The journal is synced in batches (``journal.SYNC_EVERY`` lines or ``SYNC_SECONDS``), so a power cut
can take its last lines, and with them the ids those lines handed out. Before an id at or past the
reserved mark goes out, the mark moves ``BLOCK`` ids on, in a file of its own (``hyperjump-ids.json``,
written beside the snapshot, fsynced, renamed, its folder synced): one fsync per block, not per trial,
and no journal line, torn or lost, can take it back. A resume continues from the mark: the ids up to it
may have been sent, so none of them is sent again (the gap is harmless: ids are only names).

A write that fails (a full disk) sends nothing: the credit waits, and the next command or tick of the
advisor's clock tries again.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Callable, Optional

from .files import sync_folder, write_atomically

_logger = logging.getLogger("hyperjump_advisor")

IDS_FILE = "hyperjump-ids.json"
BLOCK = 100


class IdReservation:
    """``allows(parameter_id)``: True once ids up to it are reserved on disk (always, with no folder)."""

    def __init__(self, folder: Callable[[], Optional[str]]):
        self._folder = folder
        self.reserved = 0        # ids below it are on disk as taken (in this folder)
        self._for_folder: Optional[str] = None
        self._failing = False

    def allows(self, parameter_id: int) -> bool:
        folder = self._folder()
        if not folder:
            return True
        if folder != self._for_folder:  # another checkpoint folder (a first save, or a test): read its mark
            self.reserved, self._for_folder = read(folder) or 0, folder
        if parameter_id < self.reserved:
            return True
        mark = parameter_id + BLOCK
        try:
            write_atomically(os.path.join(folder, IDS_FILE), json.dumps({"v": 1, "reserved": mark}).encode())
            sync_folder(folder)
        except OSError as error:
            if not self._failing:
                _logger.warning("cannot reserve parameter ids in %s (%s): no trial is sent until they are on disk "
                                "(a resume must never send an id twice); trying again at the next command or tick",
                                folder, error)
            self._failing = True
            return False
        if self._failing:
            _logger.warning("parameter ids are reserved on disk again; trials go out")
        self._failing = False
        self.reserved = mark
        return True


def read(folder: Optional[str]) -> Optional[int]:
    """The reserved mark stored in ``folder`` (None: no file, or unreadable, with a warning)."""
    if not folder:
        return None
    path = os.path.join(folder, IDS_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            mark = json.load(f)["reserved"]
        if isinstance(mark, bool) or not isinstance(mark, int) or mark < 0:
            raise ValueError(f"reserved = {mark!r}")
        return mark
    except (OSError, ValueError, KeyError, TypeError) as error:
        _logger.warning("%s is unusable (%s); parameter ids continue from the saved state", path, error)
        return None
