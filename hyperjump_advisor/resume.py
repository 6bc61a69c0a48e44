"""NNI's resume messages: IMPORT_DATA (finished trials) and AddCustomizedTrialJob (re-runs of the trials
that were running), and the trials a power cut took out of the journal.

After ``nnictl resume`` NNI sends the finished trials' parameters and final metrics (without parameter
ids) and re-runs the running trials under their parameter ids. The restored state may lack some of
them: a FINAL still queued at ``nnictl stop``, or, after a power cut, every trial issued in the journal
lines that were never synced. Those trials come back from what NNI holds:

- a re-run of a parameter id the state does not know (an int: a web-UI trial has none) takes the
  pending slot of its configuration and budget, if an open stage of the restored brackets has one (it is
  the slot it was issued for); otherwise it is a *stray*: its FINAL still becomes an observation;
- a finished trial's result that no trial of the state accounts for (counted per configuration and
  budget, so a result is used once) fills the unresolved trial, else the pending slot, of its
  configuration and budget, else it becomes an observation of the model.
"""
from __future__ import annotations

import json
import logging
import math
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Optional

from .keys import BUDGET_KEY, CONFIG_KEY, RESUME_KEY
from .ledger import Trial
from .schedule import Scheduler, Slot, SlotStatus

if TYPE_CHECKING:
    from .engine import Engine

_logger = logging.getLogger("hyperjump_advisor")

Parse = Callable[[Any], Optional[float]]


def import_results(engine: "Engine", items: list[Any], parse: Parse) -> None:
    """Finished trials of a resumed experiment without our state: they only teach the model."""
    index = _config_index(engine)
    used = sum(_observe(engine, params, metric, index) for params, metric in _rows(engine, items, parse))
    _logger.warning("IMPORT_DATA without a HyperJump state: %d of %d results used as model observations only "
                    "(NNI's pairing of parameters and values may be wrong, issue 5726)", used, len(items))


def import_after_resume(engine: "Engine", items: list[Any], parse: Parse) -> None:
    """Results NNI recorded that the restored state lacks fill their trials or slots (module docstring)."""
    known = Counter((_key(engine.searcher.configs[t.slot.config_id]), t.slot.budget)
                    for t in engine.ledger.trials.values() if t.final_seen)
    filled = observed = 0
    index = _config_index(engine)
    for params, metric in _rows(engine, items, parse):
        config, budget = _config(params), int(params[BUDGET_KEY])
        if known[(_key(config), budget)] > 0:
            known[(_key(config), budget)] -= 1  # already in the state
            continue
        trial = _unresolved_trial_of(engine, config, budget) or _adopt_pending(engine, config, budget, None)
        if trial is None:
            observed += _observe(engine, params, metric, index)
            continue
        trial.final_seen, trial.awaiting_final = True, False
        engine.ledger.mark_ended(trial, engine.clock())
        engine.finish(trial, metric)
        filled += 1
    _logger.info("IMPORT_DATA: %d of %d results were missing from the restored state and fill their slots, %d more "
                 "are observations only; the others were already known", filled, len(items), observed)
    if filled:
        engine.fill_credit()


def rerun(engine: "Engine", parameter_id: Any, item: Any) -> None:
    """NNI re-runs a trial that was running when the experiment stopped (or a user's customized trial)."""
    trial = engine.ledger.trials.get(parameter_id) if isinstance(parameter_id, int) else None
    if isinstance(parameter_id, int):
        engine.ledger.reserve_parameter_id(parameter_id)
    if trial is not None and not trial.ended:
        _logger.info("parameter %d (config %d, budget %d) runs again after the resume",
                     parameter_id, trial.slot.config_id, trial.slot.budget)
    elif trial is not None:
        _logger.warning("NNI re-runs parameter %d, which already ended; its result will not be used twice",
                        parameter_id)
    elif isinstance(parameter_id, int) and _usable_parameters(engine, item):
        _recover_rerun(engine, parameter_id, item["parameters"])
    else:
        _logger.warning("customized trial %r is not HyperJump's; it is not scheduled", item)


def stray_final(engine: "Engine", parameter_id: int, value: Optional[float]) -> None:
    """The FINAL of a re-run whose slot is gone: an observation of the model (once)."""
    config, budget, since = engine.strays.pop(parameter_id)
    engine.ledger.record_run(budget, engine.clock() - since)   # a run the stall guard can time others by
    if value is not None and _observe(engine, dict(config, **{BUDGET_KEY: budget}), value, _config_index(engine)):
        _logger.info("parameter %d (a trial issued in journal lines lost at the stop) reported %g: an observation "
                     "at budget %d", parameter_id, value, budget)


# ---- helpers -----------------------------------------------------------------------------------------
def _recover_rerun(engine: "Engine", parameter_id: int, parameters: dict[str, Any]) -> None:
    config, budget = _config(parameters), int(parameters[BUDGET_KEY])
    trial = _adopt_pending(engine, config, budget, parameter_id)
    if trial is not None:
        _logger.warning("NNI re-runs parameter %d, which the restored state does not know (issued in journal lines "
                        "lost at the stop): it runs the pending slot of its configuration at budget %d again",
                        parameter_id, budget)
        return
    engine.strays[parameter_id] = (config, budget, engine.clock())
    _logger.warning("NNI re-runs parameter %d, issued in journal lines lost at the stop; no open stage waits for its "
                    "configuration at budget %d, so its result will only teach the model", parameter_id, budget)


def _adopt_pending(engine: "Engine", config: dict[str, Any], budget: int,
                   parameter_id: Optional[int]) -> Optional[Trial]:
    """The pending slot of (config, budget) in an open stage, now running under ``parameter_id`` (a new
    unsent id when None: an imported result, sent to nobody)."""
    slot = _pending_slot(engine, config, budget)
    if slot is None:
        return None
    slot.status = SlotStatus.RUNNING
    engine.touched_brackets.add(slot.bracket_id)
    now = engine.clock()
    if parameter_id is None:
        return engine.ledger.open_trial(slot, now)
    return engine.ledger.adopt(parameter_id, slot, now)


def _pending_slot(engine: "Engine", config: dict[str, Any], budget: int) -> Optional[Slot]:
    if not isinstance(engine.scheduler, Scheduler):
        return None  # async rungs hold no pending slots: their trials are made when dispatched
    for bracket in engine.scheduler.open_brackets:
        for slot in bracket.pending():
            if slot.budget == budget and engine.searcher.configs[slot.config_id] == config:
                return slot
    return None


def _unresolved_trial_of(engine: "Engine", config: dict[str, Any], budget: int) -> Optional[Trial]:
    for trial in engine.ledger.unresolved():
        same_config = engine.searcher.configs[trial.slot.config_id] == config
        if trial.slot.budget == budget and not trial.final_seen and same_config:
            return trial
    return None


def _observe(engine: "Engine", params: dict[str, Any], metric: float, index: dict[str, int]) -> bool:
    """(config, budget, metric) as an observation of the model; False when unusable or already measured.
    ``index``: the known configurations by key (a new one is added to it)."""
    if engine.searcher.space is None:
        return False
    config = _config(params)
    config_id = index.get(_key(config))
    if config_id is None:
        try:
            encoded = engine.searcher.space.encode(config)
        except Exception:
            return False
        config_id = index[_key(config)] = engine.searcher.add(config, encoded)
    return engine.evidence.add(config_id, params[BUDGET_KEY], engine.settings.to_loss(metric))


def _config_index(engine: "Engine") -> dict[str, int]:
    return {_key(c): k for k, c in enumerate(engine.searcher.configs)}


def _config(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in (BUDGET_KEY, CONFIG_KEY, RESUME_KEY)}


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _usable_parameters(engine: "Engine", item: Any) -> bool:
    params = item.get("parameters") if isinstance(item, dict) else None
    budget = params.get(BUDGET_KEY) if isinstance(params, dict) else None
    return isinstance(budget, int) and not isinstance(budget, bool) and 0 < budget <= engine.settings.R


def _rows(engine: "Engine", items: list[Any], parse: Parse) -> list[tuple[dict[str, Any], float]]:
    rows = []
    for item in items:
        params, metric = _import_row(item, parse, engine.settings.R)
        if params is not None and metric is not None:
            rows.append((params, metric))
    return rows


def _import_row(item: Any, parse: Parse, R: int) -> tuple[Optional[dict[str, Any]], Optional[float]]:
    """(parameters, metric) of an IMPORT_DATA row, or Nones when it is unusable (the reason is logged)."""
    if not isinstance(item, dict) or not isinstance(item.get("parameter"), dict):
        _logger.warning("IMPORT_DATA row %r is not {'parameter': {...}, 'value': ...}; skipped", item)
        return None, None
    params, metric = item["parameter"], parse(item.get("value"))
    budget = params.get(BUDGET_KEY)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) \
            or not 0 < budget <= R:
        _logger.warning("IMPORT_DATA row with %s=%r skipped: it must be a number in (0, R=%d] (imported from an "
                        "experiment with another R?)", BUDGET_KEY, budget, R)
        return None, None
    if metric is None:
        _logger.warning("IMPORT_DATA row with value %r skipped: not a finite number", item.get("value"))
        return None, None
    return params, metric
