"""The advisor's state as JSON: what ``nnictl resume`` needs to continue the same brackets.

NNI saves nothing of an advisor's own (design notes, section 4): the brackets, their stages and
slots, the configurations, the trials and their job ids, the observations, the incumbent and the
random state are written to ``hyperjump-state.json`` in NNI's checkpoint folder after every
command, atomically, and read back by ``load_checkpoint`` before NNI sends INITIALIZE again.
Contract: ``restore(engine, document)`` leaves the engine exactly as ``document(engine)`` saw it,
or raises :class:`StateError` and leaves the engine untouched for a clean start.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

import numpy as np

from .async_schedule import AsyncScheduler
from .engine import Engine
from .ledger import Ledger
from .schedule import Bracket, Slot, SlotStatus, StagePlan

STATE_FILE = "hyperjump-state.json"
VERSION = 1
_SCHEDULE_SETTINGS = ("R", "eta", "optimize_mode")


class StateError(ValueError):
    """The state file cannot be used (corrupt, another version, or another experiment's settings)."""


# ---- brackets ------------------------------------------------------------------------------------
def bracket_to_dict(b: Bracket) -> dict[str, Any]:
    d = bracket_to_dict_head(b)
    d["slots"] = [[[x.config_id, x.status.value, x.loss] for x in stage] for stage in b.slots]
    return d


def bracket_to_dict_head(b: Bracket) -> dict[str, Any]:
    """``bracket_to_dict`` without the slots."""
    return {"bracket_id": b.bracket_id, "iteration": b.iteration, "s": b.s,
            "plan": [[p.n, p.budget] for p in b.plan], "stage": b.stage, "jumped": b.jumped, "no_jump": b.no_jump}


def bracket_from_dict(d: dict[str, Any]) -> Bracket:
    plan = [StagePlan(int(n), int(budget)) for n, budget in d["plan"]]
    b = Bracket(bracket_id=int(d["bracket_id"]), iteration=int(d["iteration"]), s=int(d["s"]), plan=plan,
                stage=int(d["stage"]), jumped=bool(d["jumped"]), no_jump=bool(d["no_jump"]))
    b.slots = [[Slot(b.bracket_id, k, int(c), plan[k].budget, SlotStatus(status), loss) for c, status, loss in stage]
               for k, stage in enumerate(d["slots"])]
    return b


def _brackets_from(documents: list[dict[str, Any]]) -> list[Bracket]:
    brackets = [bracket_from_dict(d) for d in documents]
    for k, b in enumerate(brackets):
        if b.bracket_id != k:
            raise StateError(f"bracket {k} is stored as {b.bracket_id}")
    return brackets


# ---- the whole state -------------------------------------------------------------------------------
def document(engine: Engine) -> dict[str, Any]:
    doc = document_head(engine)
    doc.update(configs=engine.searcher.configs, trials=engine.ledger.to_rows(),
               brackets=[bracket_to_dict(b) for b in engine.scheduler.brackets],
               observations=engine.evidence.observations)
    return doc


def document_head(engine: Engine, rungs: bool = True) -> dict[str, Any]:
    """``document`` without its four long lists (configs, trials, brackets, observations), and without the
    async rungs when ``rungs`` is False."""
    s = engine.settings
    doc = {
        "version": VERSION,
        "settings": {key: getattr(s, key) for key in _SCHEDULE_SETTINGS},
        "next_parameter_id": engine.ledger.next_parameter_id,
        "incumbent": engine.evidence.incumbent,
        "rng": engine.searcher.rng.bit_generator.state,
        "longest_run": engine.ledger.longest_run,
    }
    if rungs:
        doc.update(async_part(engine))
    return doc


def async_part(engine: Engine) -> dict[str, Any]:
    """exec_mode async: its rungs, under "async_rungs" (nothing for the synchronous modes: their format is unchanged)."""
    return {"async_rungs": engine.scheduler.to_dict()} if isinstance(engine.scheduler, AsyncScheduler) else {}


def restore(engine: Engine, d: dict[str, Any]) -> None:
    """Everything is parsed and checked before anything of the engine changes; StateError if unusable."""
    try:
        brackets = _brackets_from(d["brackets"])
        configs = [dict(c) for c in d["configs"]]
        rungs = None
        if isinstance(engine.scheduler, AsyncScheduler):
            rungs = engine.scheduler.load_dict(d["async_rungs"])
            _check_async_consistent(rungs, len(configs))
        slot_owners: Any = brackets if rungs is None else [rungs]  # both answer .slot(stage, config_id)
        ledger = Ledger.from_rows(d["trials"], slot_owners, int(d["next_parameter_id"]), engine.clock())
        ledger.longest_run = {int(b): float(t) for b, t in d.get("longest_run", {}).items()}
        incumbent = None if d["incumbent"] is None else (float(d["incumbent"][0]), int(d["incumbent"][1]))
        observations = [(int(c), int(b), float(v)) for c, b, v in d["observations"]]
        _check_consistent(engine, brackets, len(configs), ledger, observations, incumbent)
        rng = np.random.default_rng()
        rng.bit_generator.state = d["rng"]
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise StateError(f"the state is corrupt ({type(error).__name__}: {error})") from error
    engine.searcher.rng = rng
    if isinstance(engine.scheduler, AsyncScheduler):
        assert rungs is not None
        engine.scheduler.install(rungs)
    else:
        engine.scheduler.brackets = brackets
    engine.searcher.configs = configs
    engine.ledger = ledger
    engine.evidence.restore(observations, incumbent)
    for config_id, budget, loss in engine.evidence.observations:   # the rank correlations and the measured
        engine.diagnostics.state.add_result(config_id, budget, loss)   # seconds go on (calibration restarts)
    for trial in ledger.trials.values():
        if trial.cost is not None:
            engine.diagnostics.state.add_duration(*trial.cost)
    for trial in ledger.trials.values():
        if trial.slot.status is SlotStatus.DONE:
            c = trial.slot.config_id
            engine.evidence.completed_budget[c] = max(trial.slot.budget, engine.evidence.completed_budget.get(c, 0))
    engine.credit = 0


def _check_consistent(engine: Engine, brackets: list[Bracket], n_configs: int, ledger: Ledger,
                      observations: list[tuple[int, int, float]], incumbent: Optional[tuple[float, int]]) -> None:
    """What a corrupt file could hold that parses but would crash later or reuse parameter ids."""
    plans = engine.scheduler.iteration_plans
    for b in brackets:
        if b.plan != plans[b.bracket_id % len(plans)] or not 0 <= b.stage <= len(b.plan):
            raise StateError(f"bracket {b.bracket_id} does not follow the Hyperband plan of R and eta")
        for stage in b.slots:
            for x in stage:
                if not 0 <= x.config_id < n_configs:
                    raise StateError(f"bracket {b.bracket_id} names configuration {x.config_id} of {n_configs}")
                if (x.status is SlotStatus.DONE) != (x.loss is not None and math.isfinite(x.loss)):
                    raise StateError(f"bracket {b.bracket_id} has a slot {x.status.value} with loss {x.loss!r}")
    if ledger.trials and max(ledger.trials) >= ledger.next_parameter_id or min(ledger.trials, default=0) < 0:
        raise StateError(f"next_parameter_id {ledger.next_parameter_id} would reuse a parameter id")
    if len(ledger.parameter_of_slot) != len(ledger.trials):
        raise StateError("two trials share one slot")
    if any(t.slot.status is SlotStatus.PENDING for t in ledger.trials.values()):
        raise StateError("a trial runs a slot that was never sent")
    for c, budget, loss in observations:
        if not (0 <= c < n_configs and 0 < budget <= engine.settings.R and math.isfinite(loss)):
            raise StateError(f"observation {(c, budget, loss)!r} is out of range")
    if incumbent is not None and not (0 <= incumbent[1] < n_configs and math.isfinite(incumbent[0])):
        raise StateError(f"incumbent {incumbent!r} is out of range")


def _check_async_consistent(rungs: Any, n_configs: int) -> None:
    for k, rung in enumerate(rungs.slots):
        if any(not 0 <= c < n_configs for c in rung):
            raise StateError(f"async rung {k} names a configuration out of the {n_configs} known")
    if any(not 0 <= c < n_configs for queue in rungs.queue for c in queue):
        raise StateError("the async queue names an unknown configuration")


def check_same_settings(stored: dict[str, Any], engine: Engine, path_hint: str) -> None:
    """The schedule depends on these: resuming with others would mix two experiments."""
    for key in _SCHEDULE_SETTINGS:
        current = getattr(engine.settings, key)
        if stored.get(key) != current:
            raise StateError(f"{path_hint} was written with classArgs.{key}={stored.get(key)!r}, "
                             f"the resumed experiment has {current!r}")


# ---- the file ----------------------------------------------------------------------------------------
def read(folder: Optional[str]) -> Optional[dict[str, Any]]:
    """The stored document, None when there is none; StateError when it cannot be used."""
    if not folder:
        return None
    path = os.path.join(folder, STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
    except (OSError, ValueError) as error:
        raise StateError(f"{path} is unreadable ({error})") from error
    if not isinstance(stored, dict) or stored.get("version") != VERSION:
        raise StateError(f"{path} is not a version-{VERSION} HyperJump state")
    return stored
