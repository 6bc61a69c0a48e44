"""The NNI protocol glue: decodes NNI's commands for the :class:`~hyperjump_advisor.engine.Engine`
and sends what it decides. No decisions here.

Protocol rules learned from NNI 3.0 (see README, "How it talks to NNI"):

- every command goes through ONE queue, so a trial's FINAL metric and its TrialEnd are
  handled in the order NNI sent them;
- parameter ids are ints and payloads hold plain Python numbers;
- an exception in a handler is reported with ``report_error`` so the experiment turns ERROR
  with the traceback instead of hanging;
- the state is saved after every command and restored by ``load_checkpoint`` (``nnictl resume``);
- NNI 3.0 never delivers PING: the advisor's own clock (:mod:`.clock`) puts a TICK into the same queue,
  from INITIALIZE (or a resume) to TERMINATE, so the stall guard acts when NNI says nothing.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import traceback
from typing import Any, Optional

from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from . import gc_pauses, id_block, journal, persistence, resume
from .background import REFIT_DONE, Worker
from .clock import TICK, Ticker, TickGate, tick_interval
from .engine import Engine
from .keys import RESERVED_KEYS
from .metrics import intermediate_budget, load_json, metric_value, read_metric
from .model.fitting import import_gpy
from .records import Records
from .searchspace import SearchSpace, SearchSpaceError
from .settings import ClassArgsError, Settings, parse_class_args, serial_starts_warning

_logger = logging.getLogger("hyperjump_advisor")
_OWN_COMMANDS = (TICK, REFIT_DONE)  # put into the command queue by the advisor's own threads, not by NNI



def parameter_id_of(hyper_params: Any) -> Optional[int]:
    """The parameter id in a TrialEnd's hyper_params (JSON text), or None."""
    try:
        value = load_json(hyper_params) if isinstance(hyper_params, str) else hyper_params
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
        _set_log_levels(self.settings.log_level if "log_level" in class_args else None)
        if serial_starts_warning(class_args):
            _logger.warning("%s", serial_starts_warning(class_args))
        import_gpy()  # at the dispatcher's start, not inside the command that starts the first refit
        self.own_clock = True  # in-process drivers (inprocess.build_offline) send TICKs themselves instead
        self._tick_gate = TickGate(lambda tick: self.default_command_queue.put((tick, None)))
        self._ticker: Optional[Ticker] = None
        self._worker = Worker(lambda item: self.default_command_queue.put(item))  # refits off the command path
        self._ids = id_block.IdReservation(lambda: self.get_checkpoint_path())
        self._reset_state()

    def _reset_state(self) -> None:
        """Everything the advisor learns during an experiment (what a resume restores)."""
        self.records = Records(_log_folder())
        self.engine = Engine(self.settings, send_trial=self._send_trial, kill=self._send_kill, audit=self._audit,
                             trial_record=lambda row: self.records.trial(row), reserve_id=self._ids.allows)
        if getattr(self, "_trial_clock", None) is not None:
            self.engine.diagnostics.use_clock(self._trial_clock)
        self.restored = False
        self._save_failing = False
        self._halt_reported = False
        self._journal: Optional[journal.Journal] = None

    def use_trial_clock(self, clock: Any) -> None:
        """Measure trial durations on this clock (the replay's simulated one) instead of the wall clock."""
        self._trial_clock = clock
        self.engine.diagnostics.use_clock(clock)

    def _send_trial(self, payload: dict[str, Any]) -> None:
        self.send(CommandType.NewTrialJob, json.dumps(payload))  # plain values: standard JSON is NNI's

    def _send_kill(self, job: str) -> None:
        self.send(CommandType.KillTrialJob, json.dumps(job))

    def _audit(self, record: dict[str, Any]) -> None:
        """One audit record; a promotion also names the parameter ids behind each configuration."""
        if self.records.folder is None:
            return
        if record.get("event") == "promotion":
            runs = self.engine.ledger.parameter_ids_of
            for key in ("kept", "discarded"):
                record[f"{key}_parameter_ids"] = {str(c): runs(c) for c in record[f"{key}_config_ids"]}
        self.records.event(record)

    def _audit_header(self) -> None:
        """The audit file exists from the start and says what the experiment runs."""
        if self.records.has_audit():
            self.records.event({"event": "resume" if self.restored else "restart"})
            return
        s = self.settings
        self.records.event({"event": "header", "class_args": {k: getattr(s, k) for k in s.allowed_keys()},
                            "R": s.R, "eta": s.eta,
                            "plan": [[[st.n, st.budget] for st in b] for b in self.engine.scheduler.iteration_plans]})

    # ---- the advisor's own clock -------------------------------------------------------
    def _start_clock(self) -> None:
        """From INITIALIZE (or a resume) on: a TICK in the command queue every few seconds."""
        if not self.own_clock or (self._ticker is not None and self._ticker.running):
            return
        s = self.settings
        self._ticker = Ticker(tick_interval(s.final_grace_seconds, s.min_lost_seconds), self._tick_gate.offer,
                              should_stop=lambda: self.stopping or bool(self.worker_exceptions))
        self._ticker.start()
        frozen = gc_pauses.settle_long_lived()  # the libraries' objects: out of every later full collection
        gc_pauses.freeze_after_full_collections()
        _logger.debug("%d long-lived objects frozen out of the garbage collector's full passes", frozen)

    def _stop_clock(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._worker.stop()

    def _refits_in_background(self) -> None:
        """Under NNI (own_clock), the model's large refits run on the worker (background.py)."""
        if self.own_clock and self.engine.evidence.model is not None:
            self._worker.start()
            self.engine.evidence.model.background = self._worker.submit

    def run(self):
        """NNI's dispatcher loop; it returns at TERMINATE, and the clock stops with it."""
        try:
            super().run()
        finally:
            self._stop_clock()

    # ---- one queue, errors reported -------------------------------------------------
    def enqueue_command(self, command, data):
        self.default_command_queue.put((command, data))

    def process_command(self, command, data):
        """One command; nothing but a failed INITIALIZE may end the experiment (it has nothing to run)."""
        changed = False
        try:
            if command == TICK:
                self._tick_gate.took()
            elif command == REFIT_DONE and self.engine.evidence.model is not None:
                self.engine.evidence.model.refit_finished(data)
            changed = self.engine.tick()
            if command not in _OWN_COMMANDS:
                super().process_command(command, data)
        except Exception as error:
            # first line self-contained: NNI shows only "Dispatcher stream error" in its status; this text is in
            # nnimanager.log ("Dispatcher error: ...") and dispatcher.log, the web UI's "Learn more" logs
            message = (f"HyperJump failed while handling {getattr(command, 'name', command)}: "
                       f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
            _logger.error(message)
            if command is CommandType.Initialize:
                self.report_error(message)
                raise
        if command not in (CommandType.Ping, *_OWN_COMMANDS) or changed:  # unchanged unless the stall guard acted
            self._save_state()
        self._stop_if_halted()

    def _stop_if_halted(self) -> None:
        """After too many failed trials in a row: no more trials, and the cause as the experiment's error."""
        failures = self.engine.failures
        if not failures.halted or self._halt_reported:
            return
        self._halt_reported = True
        message = failures.explain()
        first = failures.first[0] if failures.first else None
        tail = _stderr_tail(self.records.folder, first.trial_job_id) if first is not None else ""
        if tail:
            message += "\n" + tail
        self.records.event({"event": "halted", "reason": message})
        self.send(CommandType.NoMoreTrialJobs, "")
        self.report_error(message)

    # ---- NNI handlers -------------------------------------------------------------
    def handle_initialize(self, data):
        self.handle_update_search_space(data)
        self._audit_header()
        self.send(CommandType.Initialized, "")
        self._start_clock()

    def handle_update_search_space(self, data):
        try:
            space = SearchSpace(data, reserved=RESERVED_KEYS)
        except SearchSpaceError as error:
            if self.engine.searcher.space is None:
                raise
            _logger.error("the updated search space is not usable, so the previous one stays: %s", error)
            return
        self.engine.set_search_space(space)
        self._refits_in_background()

    def handle_request_trial_jobs(self, data):
        count = _count(data)
        if count is None:
            _logger.warning("RequestTrialJobs with %r, not a number of trials; ignored", data)
            return
        self.engine.request(count)

    def handle_report_metric_data(self, data):
        if not isinstance(data, dict):
            _logger.warning("metric payload %r is not a JSON object; ignored", data)
            return
        if data.get("type") == "REQUEST_PARAMETER":
            _logger.warning("multi-phase trials are not supported by HyperJump; ignoring a parameter request "
                            "from %s", data.get("trial_job_id"))
            return
        job = data.get("trial_job_id")
        if job is not None and not isinstance(job, str):
            _logger.warning("metric with trial_job_id %r, not a job id; ignored", job)
            return
        raw = data.get("value")
        reading = read_metric(raw)
        parameter_id = data.get("parameter_id")
        if isinstance(parameter_id, int) and parameter_id in self.engine.strays:  # a re-run without a slot (resume.py)
            if job is not None:
                self.engine.ledger.foreign_jobs.add(job)  # it runs no slot: its end must not be guessed onto one
            if data.get("type") == "FINAL":
                resume.stray_final(self.engine, parameter_id, reading.value)
            return
        self.engine.metric(data.get("parameter_id"), job, data.get("type"), reading.value,
                           intermediate_budget(raw), reading.problem or raw)

    def handle_trial_end(self, data):
        job = data.get("trial_job_id") if isinstance(data, dict) else None
        if not isinstance(job, str):
            _logger.warning("TrialEnd payload %r names no job; ignored", data)
            return
        self.engine.trial_end(job, data.get("event"), parameter_id_of(data.get("hyper_params")))

    def handle_import_data(self, data):
        """Finished trials of a resumed experiment. Our own records win: NNI pairs parameters and values
        by trial job, which can be wrong (issue 5726). Without records, they only teach the model."""
        items = data if isinstance(data, list) else []
        if self.restored:
            resume.import_after_resume(self.engine, items, metric_value)
        else:
            resume.import_results(self.engine, items, metric_value)

    def handle_add_customized_trial(self, data):
        """On resume NNI re-runs the trials that were running, under their parameter ids."""
        for item in data if isinstance(data, list) else [data]:
            try:
                item = load_json(item) if isinstance(item, str) else item
            except Exception:
                _logger.warning("customized trial %r is not JSON; ignored", item)
                continue
            resume.rerun(self.engine, item.get("parameter_id") if isinstance(item, dict) else None, item)

    # ---- state that survives nnictl resume ------------------------------------------------
    def _save_state(self) -> None:
        """Best effort: a failed write (a full disk) is a warning, and the next command writes again."""
        folder = self.get_checkpoint_path()
        if not folder:
            return
        if self._journal is None or self._journal.folder != folder:
            self._journal = journal.Journal(folder)
        try:
            self._journal.save(self.engine)
        except OSError as error:
            if not self._save_failing:
                _logger.warning("cannot save the HyperJump state in %s (%s); the experiment goes on and the "
                                "state is written again after the next command", folder, error)
            self._save_failing = True
        else:
            if self._save_failing:
                _logger.warning("the HyperJump state is saved again in %s", folder)
            self._save_failing = False

    def load_checkpoint(self):
        """``nnictl resume``: the saved state, before NNI sends INITIALIZE again; the clock runs from here.
        Ids continue past the reserved mark (id_block), whatever the journal lost: none is sent twice."""
        self._restore()
        mark = id_block.read(self.get_checkpoint_path())
        if mark is not None and mark > self.engine.ledger.next_parameter_id:
            _logger.info("resume: parameter ids continue from %d (reserved before the stop; the saved state says %d)",
                         mark, self.engine.ledger.next_parameter_id)
            self.engine.ledger.reserve_parameter_id(mark - 1)
        self._start_clock()

    def _restore(self) -> None:
        folder = self.get_checkpoint_path()
        try:
            document = journal.load(folder)
            if document is None:
                _logger.warning("resume: no HyperJump state in %s; starting afresh", folder)
                return
            persistence.check_same_settings(document["settings"], self.engine,
                                            os.path.join(folder, persistence.STATE_FILE))
            persistence.restore(self.engine, document)
        except (persistence.StateError, KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            _logger.warning("resume: cannot use the saved HyperJump state (%s); starting afresh", error)
            self._reset_state()
            return
        self.restored = True
        e = self.engine
        _logger.info("resume: restored %d brackets, %d configurations, %d trials (%d were running), incumbent %s",
                     len(e.scheduler.brackets), len(e.searcher.configs), len(e.ledger.trials), e.ledger.running(),
                     e.evidence.incumbent)


def stderr_paths(log_folder: str, job: str) -> list[str]:
    """Where NNI 3.0 keeps a trial's stderr on the manager's machine: the local training service writes
    ``<experiment>/environments/<env>/trials/<job>/trial.stderr``; the remote one leaves it on the remote host
    and copies it to ``<experiment>/trials/<job>/trial.stderr`` only when the web UI opens the trial's log;
    NNI 2's local service wrote ``<experiment>/trials/<job>/stderr``."""
    experiment = os.path.dirname(os.path.abspath(log_folder))
    local = glob.glob(os.path.join(glob.escape(experiment), "environments", "*", "trials", glob.escape(job),
                                   "trial.stderr"))
    remote_copy = os.path.join(experiment, "trials", job, "trial.stderr")
    nni2_local = os.path.join(experiment, "trials", job, "stderr")
    return sorted(local) + [remote_copy, nni2_local]


def _stderr_tail(log_folder: Optional[str], job: Optional[str], lines: int = 15) -> str:
    """The end of a trial's stderr ('' when it is empty), or where to find it when it is not on this machine."""
    if not log_folder or not job:
        return f"Its stderr was not found (trial job {job or 'unknown'})."
    for path in stderr_paths(log_folder, job):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                tail = "".join(f.readlines()[-lines:]).rstrip()
        except OSError:
            continue
        return f"Its stderr ({path}) ends with:\n{tail}" if tail else ""
    return (f"Its stderr is not on this machine: on a remote training service it stays on the remote host (in "
            f"trials/{job}/trial.stderr of the experiment's folder there); opening the trial's log in the web UI "
            f"copies it to trials/{job}/ of this experiment's folder.")


def _count(data: Any) -> Optional[int]:
    """A RequestTrialJobs payload as a number of trials (NNI sends an int), or None."""
    if isinstance(data, str) and data.strip().isdigit():
        return int(data)
    if isinstance(data, bool) or not isinstance(data, int) or data < 0:
        return None
    return data


def _set_log_levels(level: Optional[str]) -> None:
    """Our log at the classArg's level, when given (else NNI's); GPy and paramz (INFO per fit) at WARNING."""
    if level is not None:
        logging.getLogger("hyperjump_advisor").setLevel(level.upper())
    for noisy in ("GPy", "paramz"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _log_folder() -> Optional[str]:
    """The experiment's log folder, where NNI writes dispatcher.log (None outside an experiment)."""
    from nni.runtime.env_vars import dispatcher_env_vars
    return dispatcher_env_vars.NNI_LOG_DIRECTORY
