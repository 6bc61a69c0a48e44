"""The NNI glue: turns NNI commands into scheduler calls and scheduler slots into trials.

Protocol rules learned from NNI 3.0 (see README, "How it talks to NNI"):

- every command goes through ONE queue, so a trial's FINAL metric and its
  TrialEnd are handled in the order NNI sent them;
- unused trial requests are kept as credit and filled as soon as work appears;
- trial_job_id -> parameter_id comes from the metrics (they carry the true
  parameter_id; TrialEnd's hyper_params can name another trial's, NNI issue 5726);
- parameter ids are ints and payloads hold plain Python numbers;
- an exception in a handler is reported with ``report_error`` so the experiment
  turns ERROR with the traceback instead of hanging.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import traceback
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

import nni
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from .jumping import RiskOptions, RiskPolicy, min_observations
from .model import MultiFidelityGP
from .schedule import Bracket, Scheduler, Slot, SlotStatus
from .searchspace import SearchSpace
from . import state
from .settings import ClassArgsError, Settings, parse_class_args
from .warmstart import MIN_POOL, POOL_PER_CONFIG, expected_improvement, split_random_and_model, top_distinct

_logger = logging.getLogger("hyperjump_advisor")

BUDGET_KEY = "TRIAL_BUDGET"
CONFIG_KEY = "HYPERJUMP_CONFIG_KEY"     # pause-resume: which checkpoint belongs to this configuration
RESUME_KEY = "HYPERJUMP_RESUME_FROM"    # pause-resume: the largest budget it already completed
AUDIT_FILE = "hyperjump-audit.jsonl"
_ENDED_OK = "SUCCEEDED"


@dataclass
class Trial:
    """What the advisor knows of one NNI parameter id."""
    parameter_id: int
    slot: Slot
    trial_job_id: Optional[str] = None
    final_seen: bool = False
    ended: bool = False
    killed_by_us: bool = False


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
        self.rng = np.random.default_rng(self.settings.seed)
        self.space: Optional[SearchSpace] = None
        self.configs: list[dict] = []          # config_id -> hyperparameters
        self.encoded: list[np.ndarray] = []    # config_id -> unit-cube encoding for the model
        self.model: Optional[MultiFidelityGP] = None
        self.audit_path = _audit_path()
        self.trials: dict[int, Trial] = {}     # parameter_id -> Trial
        self.parameter_of_slot: dict[tuple, int] = {}  # (bracket, stage, config) -> parameter_id
        self.job_to_parameter: dict[str, int] = {}
        self.credit = 0
        self.next_parameter_id = 0
        self.incumbent: Optional[tuple[float, int]] = None  # (loss at R, config_id)
        self.observations: list[tuple[int, int, float]] = []  # (config_id, budget, loss): what the model learns from
        self.restored = False
        self.scheduler = self._make_scheduler()
        self.stage_budgets = {st.budget for bracket in self.scheduler.iteration_plans for st in bracket}
        self.completed_budget: dict[int, int] = {}  # config_id -> largest budget with a final result

    # ---- brackets, configurations, model --------------------------------------------
    def _make_scheduler(self) -> Scheduler:
        s = self.settings
        # hold_first_bracket is the paper's Sec. 3.4 rule (idle workers wait for the first bracket). Off by
        # default: in the replay suite it was slower at 8 and 32 workers on every table (see README).
        return Scheduler(s.R, s.eta, s.exec_mode, new_configs=self._sample_configs,
                         hold_first_bracket=s.jumping and s.hold_first_bracket)

    def _sample_configs(self, bracket: Bracket, n: int) -> list[int]:
        if self.space is None:
            raise RuntimeError("no search space yet: NNI sends it with INITIALIZE")
        if self.settings.jumping:
            bracket.no_jump = bool(self.rng.random() < self.settings.p_no_jump)
        n_random, n_model = split_random_and_model(n, self.settings.random_fraction)
        if not self.model.ready:
            n_random, n_model = n, 0
        configs = [self.space.sample(self.rng) for _ in range(n_random)]
        configs += self._configs_by_expected_improvement(n_model, taken={self.space.key(c) for c in configs})
        start = len(self.configs)
        for config in configs:
            self.configs.append(config)
            self.encoded.append(self.space.encode(config))
        _logger.info("bracket %d (iteration %d, s=%d): %d new configurations at budget %d (%d by EI, %d random)",
                     bracket.bracket_id, bracket.iteration, bracket.s, len(configs), bracket.plan[0].budget,
                     len(configs) - n_random, n_random)
        return list(range(start, start + len(configs)))

    def _configs_by_expected_improvement(self, n: int, taken: set) -> list[dict]:
        """The n configurations of a pool of random ones with the highest EI at the full budget."""
        if n == 0:
            return []
        pool = [self.space.sample(self.rng) for _ in range(max(MIN_POOL, POOL_PER_CONFIG * n))]
        mean, std = self.model.predict(self.space.encode_many(pool), 1.0)
        best = self.incumbent[0] if self.incumbent is not None else float(np.min(mean))
        keys = [self.space.key(c) for c in pool]
        picked = top_distinct(expected_improvement(mean, std, best), keys, n, taken)
        chosen = [pool[i] for i in picked]
        while len(chosen) < n:  # a small discrete space can run out of unseen candidates
            chosen.append(self.space.sample(self.rng))
        return chosen

    def _install_model(self) -> None:
        """A fresh GP for the current search space, fed with every result so far, and the risk policy on top."""
        s = self.settings
        self.model = MultiFidelityGP(self.space.n_dims, min_observations(self.space.n_params),
                                     seed=0 if s.seed is None else s.seed)
        for config_id, budget, loss in self.observations:
            self._feed_model(config_id, budget, loss)
        if s.jumping:
            options = RiskOptions(eta=s.eta, R=s.R, threshold=s.threshold, best_loss=s.best_loss,
                                  order_by_risk=s.order_by_risk, rank_one_order=s.rank_one_order,
                                  noise_std=s.noise_std)
            self.scheduler.policy = RiskPolicy(options, self.model, self._encodings,
                                               lambda: None if self.incumbent is None else self.incumbent[0],
                                               self._audit)

    def _config_key(self, config_id: int) -> str:
        """Stable per configuration, and different for another configuration under the same id."""
        digest = hashlib.sha1(json.dumps(_plain(self.configs[config_id]), sort_keys=True).encode()).hexdigest()
        return f"c{config_id}-{digest[:10]}"

    def _encodings(self, config_ids: list[int]) -> np.ndarray:
        if not config_ids:
            return np.zeros((0, self.space.n_dims))
        middle = np.full(self.space.n_dims, 0.5)  # a config from an earlier search space: centre of the cube
        return np.vstack([middle if self.encoded[c] is None else self.encoded[c] for c in config_ids])

    def _add_observation(self, config_id: int, budget: int, loss: float) -> None:
        self.observations.append((config_id, int(budget), float(loss)))
        self._feed_model(config_id, budget, loss)

    def _feed_model(self, config_id: int, budget: int, loss: float) -> None:
        x = self.encoded[config_id]
        if x is not None:
            self.model.add_observations(x[None, :], np.array([budget / self.settings.R]), np.array([loss]))

    def _audit(self, record: dict) -> None:
        """One JSON line per audited risk evaluation, with the parameter ids behind each config id."""
        if self.audit_path is None:
            return
        runs = {}
        for parameter_id, trial in self.trials.items():
            runs.setdefault(trial.slot.config_id, []).append(parameter_id)
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
        self.space = SearchSpace(data, reserved=(BUDGET_KEY, CONFIG_KEY, RESUME_KEY))
        _logger.info("search space: %d parameters, %d model dimensions", self.space.n_params, self.space.n_dims)
        self.encoded = [self._encode_or_none(c) for c in self.configs]
        self._install_model()

    def _encode_or_none(self, config: dict) -> Optional[np.ndarray]:
        try:
            return self.space.encode(config)
        except Exception:  # a config of an earlier search space: kept for its bracket, unknown to the model
            return None

    def handle_request_trial_jobs(self, data):
        self.credit += int(data)
        self._fill_credit()

    def handle_report_metric_data(self, data):
        metric_type = data.get("type")
        if metric_type == "REQUEST_PARAMETER":
            _logger.warning("multi-phase trials are not supported by HyperJump; ignoring a parameter request "
                            "from %s", data.get("trial_job_id"))
            return
        trial = self._trial_of_metric(data)
        if trial is None:
            return
        value = parse_metric(data.get("value"))
        if metric_type == "PERIODICAL":
            self._on_intermediate(trial, data, value)
        elif metric_type == "FINAL":
            self._on_final(trial, data, value)
        else:
            _logger.warning("unknown metric type %r from trial %s", metric_type, data.get("trial_job_id"))

    def handle_trial_end(self, data):
        job = data.get("trial_job_id")
        trial = self._trial_of_end(job, data.get("hyper_params"))
        if trial is None:
            return
        trial.ended = True
        event = data.get("event")
        if trial.killed_by_us:
            _logger.info("trial %s (parameter %d) ended after our kill", job, trial.parameter_id)
        elif not trial.final_seen:
            why = "succeeded without a final metric" if event == _ENDED_OK else f"ended as {event}"
            _logger.warning("trial %s (parameter %d, config %d, budget %d) %s: counted as the worst result",
                            job, trial.parameter_id, trial.slot.config_id, trial.slot.budget, why)
            self._finish(trial, None)
        self._fill_credit()

    def handle_import_data(self, data):
        """Finished trials of a resumed experiment. Our own records win: NNI pairs parameters and values
        by trial job, which can be wrong (issue 5726). Without records, they only teach the model."""
        items = data if isinstance(data, list) else []
        if self.restored:
            _logger.info("IMPORT_DATA: %d results ignored, the advisor's own records of them were restored", len(items))
            return
        used = 0
        for item in items:
            params = item.get("parameter") if isinstance(item, dict) else None
            metric = parse_metric(item.get("value")) if isinstance(item, dict) else None
            if not isinstance(params, dict) or metric is None or not isinstance(params.get(BUDGET_KEY), (int, float)):
                continue
            config = {k: v for k, v in params.items() if k not in (BUDGET_KEY, CONFIG_KEY, RESUME_KEY)}
            try:
                encoded = self.space.encode(config)
            except Exception:
                continue
            self.configs.append(config)
            self.encoded.append(encoded)
            self._add_observation(len(self.configs) - 1, params[BUDGET_KEY], self.settings.to_loss(metric))
            used += 1
        _logger.warning("IMPORT_DATA without a HyperJump state: %d of %d results used as model observations only "
                        "(NNI's pairing of parameters and values may be wrong, issue 5726)", used, len(items))

    def handle_add_customized_trial(self, data):
        """On resume NNI re-runs the trials that were running, under their parameter ids."""
        for item in data if isinstance(data, list) else [data]:
            item = nni.load(item) if isinstance(item, str) else item
            parameter_id = item.get("parameter_id") if isinstance(item, dict) else None
            trial = self.trials.get(parameter_id)
            if trial is not None and not trial.ended:
                _logger.info("parameter %d (config %d, budget %d) runs again after the resume",
                             parameter_id, trial.slot.config_id, trial.slot.budget)
            elif trial is not None:
                _logger.warning("NNI re-runs parameter %d, which already ended; its result will not be used twice",
                                parameter_id)
            else:
                _logger.warning("customized trial %r is not HyperJump's; it is not scheduled", item)
            if isinstance(parameter_id, int):
                self.next_parameter_id = max(self.next_parameter_id, parameter_id + 1)

    # ---- state that survives nnictl resume ------------------------------------------------
    def _state_document(self) -> dict:
        s = self.settings
        return {
            "version": state.VERSION,
            "settings": {"R": s.R, "eta": s.eta, "optimize_mode": s.optimize_mode},
            "configs": self.configs,
            "trials": [[t.parameter_id, t.slot.bracket_id, t.slot.stage, t.slot.config_id, t.trial_job_id,
                        t.final_seen, t.ended, t.killed_by_us] for t in self.trials.values()],
            "brackets": state.scheduler_to_dict(self.scheduler),
            "next_parameter_id": self.next_parameter_id,
            "incumbent": self.incumbent,
            "observations": self.observations,
            "rng": self.rng.bit_generator.state,
        }

    def _save_state(self) -> None:
        folder = self.get_checkpoint_path()
        if folder:
            state.write_atomically(folder, self._state_document())

    def load_checkpoint(self):
        folder = self.get_checkpoint_path()
        try:
            document = state.read(folder)
            if document is None:
                _logger.warning("resume: no HyperJump state in %s; starting afresh", folder)
                return
            state.check_same_settings(document["settings"], {"R": self.settings.R, "eta": self.settings.eta,
                                                              "optimize_mode": self.settings.optimize_mode},
                                      os.path.join(folder, state.STATE_FILE))
            self._restore(document)
        except (state.StateError, KeyError, TypeError, ValueError) as error:
            _logger.warning("resume: cannot use the saved HyperJump state (%s); starting afresh", error)
            self._reset_state()
            return
        running = sum(not t.ended for t in self.trials.values())
        _logger.info("resume: restored %d brackets, %d configurations, %d trials (%d were running), incumbent %s",
                     len(self.scheduler.brackets), len(self.configs), len(self.trials), running, self.incumbent)

    def _restore(self, d: dict) -> None:
        state.restore_scheduler(self.scheduler, d["brackets"])
        self.configs = [dict(c) for c in d["configs"]]
        self.trials, self.job_to_parameter, self.parameter_of_slot = {}, {}, {}
        for pid, bracket_id, stage, config_id, job, final_seen, ended, killed in d["trials"]:
            slot = self.scheduler.brackets[bracket_id].slot(stage, config_id)
            # a trial that was running is re-run by NNI under a new job: its old job id means nothing now
            trial = Trial(pid, slot, job if ended else None, final_seen, ended, killed)
            self.trials[pid] = trial
            self.parameter_of_slot[_slot_key(slot)] = pid
            if ended and job is not None:
                self.job_to_parameter[job] = pid
        self.next_parameter_id = int(d["next_parameter_id"])
        self.incumbent = None if d["incumbent"] is None else (float(d["incumbent"][0]), int(d["incumbent"][1]))
        self.observations = [(int(c), int(b), float(v)) for c, b, v in d["observations"]]
        self.rng.bit_generator.state = d["rng"]
        for trial in self.trials.values():
            if trial.slot.status is SlotStatus.DONE:
                c = trial.slot.config_id
                self.completed_budget[c] = max(trial.slot.budget, self.completed_budget.get(c, 0))
        self.credit = 0
        self.restored = True

    # ---- metrics and ends -----------------------------------------------------------
    def _trial_of_metric(self, data) -> Optional[Trial]:
        parameter_id, job = data.get("parameter_id"), data.get("trial_job_id")
        trial = self.trials.get(parameter_id) if isinstance(parameter_id, int) else None
        if trial is None:
            _logger.warning("metric for unknown parameter id %r (trial %s) ignored", parameter_id, job)
            return None
        if job is not None:
            known = self.job_to_parameter.get(job)
            if known is not None and known != parameter_id:
                _logger.warning("trial %s reported parameter %d after %d; using the latest", job, parameter_id, known)
            self.job_to_parameter[job] = parameter_id
            newly_known = trial.trial_job_id is None
            trial.trial_job_id = job
            if newly_known and trial.killed_by_us and not trial.ended:
                self.send(CommandType.KillTrialJob, nni.dump(job))  # dropped by a jump before we knew its job
        return trial

    def _trial_of_end(self, job, hyper_params) -> Optional[Trial]:
        parameter_id = self.job_to_parameter.get(job)
        if parameter_id is None:
            parameter_id = self._guess_silent_job(job, parameter_id_of(hyper_params))
            if parameter_id is None:
                _logger.warning("trial end of %s matches no running parameter; ignored", job)
                return None
            self.trials[parameter_id].trial_job_id = job
            self.job_to_parameter[job] = parameter_id
        trial = self.trials[parameter_id]
        if trial.ended:
            _logger.info("duplicate trial end for %s ignored", job)
            return None
        return trial

    def _guess_silent_job(self, job, claimed: Optional[int]) -> Optional[int]:
        """A job that ended without ever reporting a metric: which parameter did it run?

        Its hyper_params are right unless NNI swapped parameters between jobs (issue 5726),
        which shows when another job's metrics already claimed that id. Then it must have
        run one of the parameters no job has spoken for: take the oldest, so the stage never
        waits for a trial that will not come."""
        unclaimed = [t for t in self.trials.values() if t.trial_job_id is None and not t.ended]
        if any(t.parameter_id == claimed for t in unclaimed):
            return claimed
        if not unclaimed:
            return None
        guess = min(unclaimed, key=lambda t: t.parameter_id).parameter_id
        _logger.warning("trial %s ended without metrics and its hyper_params name parameter %r, which another "
                        "job ran (NNI issue 5726); attributing it to parameter %d", job, claimed, guess)
        return guess

    def _on_intermediate(self, trial: Trial, data, value: Optional[float]) -> None:
        """Opportunistic evaluation: a metric that names a smaller budget of the schedule is an observation."""
        if value is None:
            _logger.debug("non-numeric intermediate metric from %s ignored: %r", data.get("trial_job_id"),
                          data.get("value"))
            return
        if not self.settings.opportunistic or trial.killed_by_us:
            return
        budget = intermediate_budget(data.get("value"))
        if budget is None or budget >= trial.slot.budget or budget not in self.stage_budgets:
            _logger.debug("intermediate metric of parameter %d names no smaller budget of the schedule (%r): "
                          "not an observation", trial.parameter_id, data.get("value"))
            return
        self._add_observation(trial.slot.config_id, budget, self.settings.to_loss(value))

    def _on_final(self, trial: Trial, data, value: Optional[float]) -> None:
        if trial.final_seen:
            _logger.info("second final metric of parameter %d ignored", trial.parameter_id)
            return
        trial.final_seen = True
        if trial.killed_by_us:
            # our kill came too late (the trial finished first): the slot stays skipped, the measurement is kept
            if value is not None:
                self._observe(trial.slot, self.settings.to_loss(value))
            return
        if value is None:
            _logger.warning("parameter %d reported a final metric that is not a finite number (%r): "
                            "counted as a failed evaluation", trial.parameter_id, data.get("value"))
        self._finish(trial, value)
        self._fill_credit()

    def _finish(self, trial: Trial, metric: Optional[float]) -> None:
        slot = trial.slot
        loss = None if metric is None else self.settings.to_loss(metric)
        if loss is not None:
            self._observe(slot, loss)  # model and incumbent first: the jump decision below uses both
            if slot.status is SlotStatus.FAILED:
                self.scheduler.revise(slot, loss)  # a final metric that arrived after its TrialEnd
        self._kill(self.scheduler.finish(slot, loss))

    def _observe(self, slot: Slot, loss: float) -> None:
        self._add_observation(slot.config_id, slot.budget, loss)
        self.completed_budget[slot.config_id] = max(slot.budget, self.completed_budget.get(slot.config_id, 0))
        if slot.budget >= self.settings.R and (self.incumbent is None or loss < self.incumbent[0]):
            self.incumbent = (loss, slot.config_id)
            _logger.info("new incumbent: config %d %s, metric %g", slot.config_id, self.configs[slot.config_id],
                         self.settings.to_loss(loss))

    def _kill(self, slots: list[Slot]) -> None:
        for slot in slots:
            trial = self.trials[self.parameter_of_slot[_slot_key(slot)]]
            if trial.ended:
                continue
            trial.killed_by_us = True
            if trial.trial_job_id is not None:  # else: killed when its first metric names the job
                self.send(CommandType.KillTrialJob, nni.dump(trial.trial_job_id))

    # ---- sending trials ---------------------------------------------------------------
    def _fill_credit(self) -> None:
        while self.credit > 0:
            slot = self.scheduler.next_slot()
            if slot is None:
                return
            self._send_trial(slot)
            self.credit -= 1

    def _send_trial(self, slot: Slot) -> None:
        parameter_id = self.next_parameter_id
        self.next_parameter_id += 1
        self.trials[parameter_id] = Trial(parameter_id, slot)
        self.parameter_of_slot[_slot_key(slot)] = parameter_id
        parameters = dict(self.configs[slot.config_id])
        parameters[BUDGET_KEY] = int(slot.budget)
        if self.settings.pause_resume:
            parameters[CONFIG_KEY] = self._config_key(slot.config_id)
            parameters[RESUME_KEY] = int(self.completed_budget.get(slot.config_id, 0))
        self.send(CommandType.NewTrialJob, nni.dump({
            "parameter_id": parameter_id,
            "parameter_source": "algorithm",
            "parameters": _plain(parameters),
            "parameter_index": 0,
        }))


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


def _audit_path() -> Optional[str]:
    """The audit trail lives beside dispatcher.log in the experiment's log folder."""
    from nni.runtime.env_vars import dispatcher_env_vars
    folder = dispatcher_env_vars.NNI_LOG_DIRECTORY
    return os.path.join(folder, AUDIT_FILE) if folder and os.path.isdir(folder) else None


def _slot_key(slot: Slot) -> tuple:
    return (slot.bracket_id, slot.stage, slot.config_id)


def parameter_id_of(hyper_params: Any) -> Optional[int]:
    """The parameter id in a TrialEnd's hyper_params (JSON text), or None."""
    try:
        value = nni.load(hyper_params) if isinstance(hyper_params, str) else hyper_params
        parameter_id = value.get("parameter_id") if isinstance(value, dict) else None
    except Exception:
        return None
    return parameter_id if isinstance(parameter_id, int) else None


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to plain Python (nni.dump mangles them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
