"""The advisor's state as JSON: what ``nnictl resume`` needs to continue the same brackets.

NNI saves nothing of an advisor's own (design notes, section 4): the brackets, their stages and
slots, the configurations, the trials and their job ids, the observations, the incumbent and the
random state are written here after every change, atomically (write a temporary file, then
``os.replace``), and read back by ``load_checkpoint`` before NNI sends INITIALIZE again.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

from .schedule import Bracket, Scheduler, Slot, SlotStatus, StagePlan

STATE_FILE = "hyperjump-state.json"
VERSION = 1


class StateError(ValueError):
    """The state file cannot be used (corrupt, another version, or another experiment's settings)."""


def bracket_to_dict(b: Bracket) -> dict:
    return {"bracket_id": b.bracket_id, "iteration": b.iteration, "s": b.s,
            "plan": [[p.n, p.budget] for p in b.plan], "stage": b.stage, "jumped": b.jumped, "no_jump": b.no_jump,
            "slots": [[[x.config_id, x.status.value, x.loss] for x in stage] for stage in b.slots]}


def bracket_from_dict(d: dict) -> Bracket:
    plan = [StagePlan(int(n), int(budget)) for n, budget in d["plan"]]
    b = Bracket(bracket_id=int(d["bracket_id"]), iteration=int(d["iteration"]), s=int(d["s"]), plan=plan,
                stage=int(d["stage"]), jumped=bool(d["jumped"]), no_jump=bool(d["no_jump"]))
    b.slots = [[Slot(b.bracket_id, k, int(c), plan[k].budget, SlotStatus(status), loss) for c, status, loss in stage]
               for k, stage in enumerate(d["slots"])]
    return b


def scheduler_to_dict(s: Scheduler) -> list:
    return [bracket_to_dict(b) for b in s.brackets]


def restore_scheduler(s: Scheduler, brackets: list) -> None:
    s.brackets = [bracket_from_dict(d) for d in brackets]
    for k, b in enumerate(s.brackets):
        if b.bracket_id != k:
            raise StateError(f"bracket {k} is stored as {b.bracket_id}")


def write_atomically(folder: str, document: dict) -> str:
    path = os.path.join(folder, STATE_FILE)
    fd, tmp = tempfile.mkstemp(prefix=".hyperjump-state-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read(folder: Optional[str]) -> Optional[dict]:
    """The stored document, None when there is none; StateError when it cannot be used."""
    if not folder:
        return None
    path = os.path.join(folder, STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as error:
        raise StateError(f"{path} is unreadable ({error})") from error
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise StateError(f"{path} is not a version-{VERSION} HyperJump state")
    return document


def check_same_settings(stored: dict, current: dict, path_hint: str) -> None:
    """The schedule depends on these: resuming with others would mix two experiments."""
    for key in ("R", "eta", "optimize_mode"):
        if stored.get(key) != current.get(key):
            raise StateError(f"{path_hint} was written with classArgs.{key}={stored.get(key)!r}, "
                             f"the resumed experiment has {current.get(key)!r}")
