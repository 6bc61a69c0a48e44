"""The NNI protocol glue: decodes NNI's commands for the :class:`~hyperjump_advisor.engine.Engine`
and sends what it decides. No decisions here.

Protocol rules learned from NNI 3.0 (see README, "How it talks to NNI"):

- every command goes through ONE queue, so a trial's FINAL metric and its TrialEnd are
  handled in the order NNI sent them;
- parameter ids are ints and payloads hold plain Python numbers;
- an exception in a handler is reported with ``report_error`` so the experiment turns ERROR
  with the traceback instead of hanging;
- the state is saved after every command and restored by ``load_checkpoint`` (``nnictl resume``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import traceback
from typing import Any, Optional

import nni
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from . import persistence
from .engine import Engine
from .keys import RESERVED_KEYS
from .searchspace import SearchSpace
from .settings import ClassArgsError, Settings, parse_class_args

_logger = logging.getLogger("hyperjump_advisor")

AUDIT_FILE = "hyperjump-audit.jsonl"


def parse_metric(raw: Any) -> Optional[float]:
    """A metric as NNI delivers it (JSON text of a number or of a dict with "default").

    Returns None for anything that is not a finite number."""
    value = raw
    if isinstance(value, str):
        try:
            value = nni.load(value)
        except Exception:  # not JSON at all
            return None
    if isinstance(value, dict):
        value = value.get("default")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def intermediate_budget(raw: Any) -> Optional[int]:
    """The budget an intermediate metric says it belongs to: ``{"default": value, "budget": b}``."""
    try:
        value = nni.load(raw) if isinstance(raw, str) else raw
    except Exception:
        return None
    budget = value.get("budget") if isinstance(value, dict) else None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) \
            or not float(budget).is_integer():
        return None
    return int(budget)


def parameter_id_of(hyper_params: Any) -> Optional[int]:
    """The parameter id in a TrialEnd's hyper_params (JSON text), or None."""
    try:
        value = nni.load(hyper_params) if isinstance(hyper_params, str) else hyper_params
        parameter_id = value.get("parameter_id") if isinstance(value, dict) else None
    except Exception:
        return None
    return parameter_id if isinstance(parameter_id, int) else None


class HyperJump(MsgDispatcherBase):
    """HyperJump advisor for NNI. classArgs: see :class:`hyperjump_advisor.settings.Settings` and the README."""

    def __init__(self, **class_args: Any):
        super().__init__()
        try:
            self.settings: Settings = parse_class_args(**class_args)
        except ClassArgsError as error:
            self.report_error(f"HyperJump: {error}")
            raise
        self._reset_state()

    def _reset_state(self) -> None:
        """Everything the advisor learns during an experiment (what a resume restores)."""
        self.audit_path = _audit_path()
        self.engine = Engine(self.settings, send_trial=self._send_trial, kill=self._send_kill, audit=self._audit)
        self.restored = False

    def _send_trial(self, payload: dict[str, Any]) -> None:
        self.send(CommandType.NewTrialJob, nni.dump(payload))

    def _send_kill(self, job: str) -> None:
        self.send(CommandType.KillTrialJob, nni.dump(job))

    def _audit(self, record: dict[str, Any]) -> None:
        """One JSON line per audited risk evaluation, with the parameter ids behind each config id."""
        if self.audit_path is None:
            return
        runs = self.engine.ledger.parameter_ids_by_config()
        for key in ("kept", "discarded"):
            record[f"{key}_parameter_ids"] = {str(c): runs.get(c, []) for c in record[f"{key}_config_ids"]}
        with open(self.audit_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    # ---- one queue, errors reported -------------------------------------------------
    def enqueue_command(self, command, data):
        self.default_command_queue.put((command, data))

    def process_command(self, command, data):
        try:
            super().process_command(command, data)
            if command is not CommandType.Ping:
                self._save_state()
        except Exception:
            message = f"HyperJump failed while handling {command}:\n{traceback.format_exc()}"
            _logger.error(message)
            self.report_error(message)
            raise

    # ---- NNI handlers -------------------------------------------------------------
    def handle_initialize(self, data):
        self.handle_update_search_space(data)
        self.send(CommandType.Initialized, "")

    def handle_update_search_space(self, data):
        self.engine.set_search_space(SearchSpace(data, reserved=RESERVED_KEYS))

    def handle_request_trial_jobs(self, data):
        self.engine.request(int(data))

    def handle_report_metric_data(self, data):
        if data.get("type") == "REQUEST_PARAMETER":
            _logger.warning("multi-phase trials are not supported by HyperJump; ignoring a parameter request "
                            "from %s", data.get("trial_job_id"))
            return
        raw = data.get("value")
        self.engine.metric(data.get("parameter_id"), data.get("trial_job_id"), data.get("type"),
                           parse_metric(raw), intermediate_budget(raw), raw)

    def handle_trial_end(self, data):
        self.engine.trial_end(data.get("trial_job_id"), data.get("event"), parameter_id_of(data.get("hyper_params")))

    def handle_import_data(self, data):
        """Finished trials of a resumed experiment. Our own records win: NNI pairs parameters and values
        by trial job, which can be wrong (issue 5726). Without records, they only teach the model."""
        items = data if isinstance(data, list) else []
        if self.restored:
            _logger.info("IMPORT_DATA: %d results ignored, the advisor's own records of them were restored", len(items))
            return
        self.engine.import_results(items, parse_metric)

    def handle_add_customized_trial(self, data):
        """On resume NNI re-runs the trials that were running, under their parameter ids."""
        for item in data if isinstance(data, list) else [data]:
            item = nni.load(item) if isinstance(item, str) else item
            self.engine.rerun(item.get("parameter_id") if isinstance(item, dict) else None, item)

    # ---- state that survives nnictl resume ------------------------------------------------
    def _save_state(self) -> None:
        folder = self.get_checkpoint_path()
        if folder:
            persistence.save(folder, self.engine)

    def load_checkpoint(self):
        folder = self.get_checkpoint_path()
        try:
            document = persistence.read(folder)
            if document is None:
                _logger.warning("resume: no HyperJump state in %s; starting afresh", folder)
                return
            persistence.check_same_settings(document["settings"], self.engine,
                                            os.path.join(folder, persistence.STATE_FILE))
            persistence.restore(self.engine, document)
        except (persistence.StateError, KeyError, TypeError, ValueError) as error:
            _logger.warning("resume: cannot use the saved HyperJump state (%s); starting afresh", error)
            self._reset_state()
            return
        self.restored = True
        e = self.engine
        _logger.info("resume: restored %d brackets, %d configurations, %d trials (%d were running), incumbent %s",
                     len(e.scheduler.brackets), len(e.searcher.configs), len(e.ledger.trials), e.ledger.running(),
                     e.evidence.incumbent)


def _audit_path() -> Optional[str]:
    """The audit trail lives beside dispatcher.log in the experiment's log folder."""
    from nni.runtime.env_vars import dispatcher_env_vars
    folder = dispatcher_env_vars.NNI_LOG_DIRECTORY
    return os.path.join(folder, AUDIT_FILE) if folder and os.path.isdir(folder) else None
