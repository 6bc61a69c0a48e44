"""The advisor's decisions, free of NNI: trial requests in, trials and kills out.

Contract (one call per NNI command, in the order NNI sent them):

- ``request(n)`` adds n to the credit; credit is spent on the scheduler's next slots as soon
  as there are any (the manager asks only when trials end, so unused requests are kept);
- ``metric(...)`` and ``trial_end(...)`` resolve the trial through the :class:`Ledger`, record
  what is usable in the :class:`Evidence`, close the slot in the :class:`Scheduler` and kill
  the running trials a jump dropped;
- a trial that ends without a usable final metric is its stage's worst result; a final metric
  after its end still counts while its stage is open; every result counts once.

What goes out is handed to two callbacks: ``send_trial(payload)`` (a NewTrialJob payload with
plain Python values) and ``kill(job_id)``.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Optional

from . import stall_guard
from .diagnostics_feed import DiagnosticsFeed, calibrated_posterior
from .clock import monotonic
from .async_schedule import AsyncScheduler, build_async_scheduler
from .evidence import Evidence
from .jumping import AuditSink, RiskOptions, RiskPolicy, min_jump_observations, min_observations
from .keys import BUDGET_KEY, RESUME_KEY
from .ledger import Ledger, Trial
from .files import plain
from .schedule import Bracket, ExecMode, Scheduler, Slot, SlotStatus
from .searcher import SearchOptions, Searcher
from .searchspace import SearchSpace
from .settings import ASYNC_MODE, Settings

_logger = logging.getLogger("hyperjump_advisor")

_ENDED_OK = "SUCCEEDED"


class Engine:
    def __init__(self, settings: Settings, send_trial: Callable[[dict[str, Any]], None],
                 kill: Callable[[str], None], audit: Optional[AuditSink] = None,
                 trial_record: Optional[Callable[[dict[str, Any]], None]] = None,
                 clock: Optional[Callable[[], float]] = None, reserve_id: Optional[Callable[[int], bool]] = None):
        self.settings = settings
        self._reserve_id = reserve_id or (lambda parameter_id: True)  # id_block: the id is on disk as taken
        self.ids_blocked = False  # the last fill_credit waited for an id reservation (a full disk)
        self.clock = clock or monotonic
        self._send_trial, self._send_kill = send_trial, kill
        self._audit: AuditSink = audit or (lambda record: None)
        self._trial_record = trial_record or (lambda row: None)
        self.searcher = Searcher(settings.seed, settings.random_fraction,
                                 SearchOptions(local_search=settings.local_search))
        self.evidence = Evidence(settings.R, lambda c: self.searcher.encoded[c])
        self.ledger = Ledger()
        self.scheduler: Scheduler | AsyncScheduler
        if settings.exec_mode == ASYNC_MODE:  # ASHA's rungs with HyperJump's risk (async_schedule/)
            self.scheduler = build_async_scheduler(settings, self.searcher, self.evidence, self._audit)
        else:
            self.scheduler = Scheduler(settings.R, settings.eta, ExecMode(settings.exec_mode),
                                       new_configs=self._new_bracket,
                                       hold_first_bracket=settings.jumping and settings.hold_first_bracket,
                                       on_event=self._audit)
        self.searcher.attach(self.scheduler)  # the searcher reads which configuration ran at which budget
        self.stage_budgets = {st.budget for bracket in self.scheduler.iteration_plans for st in bracket}
        self.diagnostics = DiagnosticsFeed(sorted(self.stage_budgets), self._audit, self.clock,
                                           self.evidence.predict_as_it_stands)
        self.diagnostics.attach(self.evidence, self.scheduler, settings)   # and learned_brackets, when set
        self.credit = 0
        self.failures = FailureStreak(settings.max_consecutive_failures)
        self.touched_brackets: set[int] = set()  # brackets whose slots changed (for the journal)
        self._starting: Optional[Trial] = None   # serial_starts: the last trial sent (this session)
        self.strays: dict[int, tuple[dict[str, Any], int, float]] = {}  # re-runs without a slot (resume.py):
        # config, budget, when NNI re-ran it

    # ---- the search space and the model ---------------------------------------------------------
    def set_search_space(self, space: SearchSpace) -> None:
        _logger.info("search space: %d parameters, %d model dimensions", space.n_params, space.n_dims)
        self.searcher.set_space(space)
        s = self.settings
        model = self.evidence.install_model(space.n_dims, min_observations(space.n_params),
                                            seed=0 if s.seed is None else s.seed,
                                            refuse_collapsed_fits=s.keep_budget_term)
        if s.jumping:
            options = RiskOptions(eta=s.eta, R=s.R, threshold=s.threshold, best_loss=s.best_loss,
                                  order_by_risk=s.order_by_risk, rank_one_order=s.rank_one_order,
                                  noise_std=s.noise_std, min_stage_observations=min_jump_observations(space.n_params))
            beliefs = calibrated_posterior(model, self.diagnostics.state) if s.calibrated_risk else model
            self.scheduler.policy = RiskPolicy(options, beliefs, self.searcher.encodings,
                                               lambda: self.evidence.incumbent_loss, self._audit,
                                               lambda b: len({c for c, at, _ in self.evidence.observations if at >= b}))

    def _new_bracket(self, bracket: Bracket, n: int) -> list[int]:
        if self.settings.jumping:
            bracket.no_jump = bool(self.searcher.rng.random() < self.settings.p_no_jump)
        assert self.evidence.model is not None, "the model is installed with the search space"
        ids, n_random = self.searcher.propose(n, self.evidence.model, self.evidence.incumbent_loss,
                                              bracket.plan[0].budget)
        _logger.info("bracket %d (iteration %d, s=%d): %d new configurations at budget %d (%d by EI, %d random)",
                     bracket.bracket_id, bracket.iteration, bracket.s, len(ids), bracket.plan[0].budget,
                     len(ids) - n_random, n_random)
        return ids

    # ---- requests ------------------------------------------------------------------------------------
    def request(self, n: int) -> None:
        self.credit += n
        self.fill_credit()

    def fill_credit(self) -> None:
        self.ids_blocked = False
        while self.credit > 0 and not self.failures.halted and not self._start_pending():
            if not self._reserve_id(self.ledger.next_parameter_id):
                self.ids_blocked = True  # no id goes out before it is on disk: a later command or tick sends it
                return
            slot = self.scheduler.next_slot()
            if slot is None:
                return
            self._starting = self._issue(slot)
            self.credit -= 1

    def _start_pending(self) -> bool:
        """serial_starts: the last trial sent has no job yet (no metric or end named one), so NNI's local
        training service has not handed its parameters out. It hands them to trial processes in the order
        they ask, not in the order NNI submitted the jobs (issue 5726); one parameter waiting at a time
        keeps every job with its own parameters. The credit waits for that trial's first metric or end."""
        t = self._starting
        return self.settings.serial_starts and t is not None and t.trial_job_id is None and not t.ended

    def _issue(self, slot: Slot) -> Trial:
        self.touched_brackets.add(slot.bracket_id)
        trial = self.ledger.open_trial(slot, self.clock())
        parameters = dict(self.searcher.configs[slot.config_id])
        parameters[BUDGET_KEY] = int(slot.budget)
        resumed_from = int(self.evidence.completed_budget.get(slot.config_id, 0)) if self.settings.pause_resume else 0
        if self.settings.pause_resume:  # the one bookkeeping key a trial gets (trial.Checkpoint reads it)
            parameters[RESUME_KEY] = resumed_from
        self.diagnostics.trial_sent(trial.parameter_id, resumed_from, slot.budget)
        self._send_trial({"parameter_id": trial.parameter_id, "parameter_source": "algorithm",
                          "parameters": plain(parameters), "parameter_index": 0})
        return trial

    # ---- results -------------------------------------------------------------------------------------
    def metric(self, parameter_id: object, job: Optional[str], kind: Any, value: Optional[float],
               budget: Optional[int], raw: Any) -> None:
        """A ReportMetricData: ``value`` is the parsed metric (None: unusable), ``budget`` the one it names."""
        trial, newly_known = self.ledger.claim_by_metric(parameter_id, job)
        if trial is None:
            return
        if newly_known and trial.killed_by_us:
            self._write_trial_row(trial, None)  # dropped by a jump before we knew its job: the record names it now
            if not trial.ended and job is not None and job not in self.ledger.ended_jobs:
                self._send_kill(job)
        if kind == "PERIODICAL":
            self._on_intermediate(trial, value, budget, raw)
        elif kind == "FINAL":
            self._on_final(trial, value, raw)
        else:
            _logger.warning("unknown metric type %r from trial %s", kind, job)
        if newly_known and self.settings.serial_starts:
            self.fill_credit()  # the trial started with its parameters: the next may be sent

    def _on_intermediate(self, trial: Trial, value: Optional[float], budget: Optional[int], raw: Any) -> None:
        """Opportunistic evaluation: a metric that names a smaller budget of the schedule is an observation."""
        if value is None:
            _logger.debug("non-numeric intermediate metric from %s ignored: %r", trial.trial_job_id, raw)
            return
        if not self.settings.opportunistic or trial.killed_by_us:
            return
        if budget is None or budget >= trial.slot.budget or budget not in self.stage_budgets:
            _logger.debug("intermediate metric of parameter %d names no smaller budget of the schedule (%r): "
                          "not an observation", trial.parameter_id, raw)
            return
        self.evidence.add(trial.slot.config_id, budget, self.settings.to_loss(value))

    def _on_final(self, trial: Trial, value: Optional[float], raw: Any) -> None:
        if trial.final_seen:
            _logger.info("second final metric of parameter %d ignored", trial.parameter_id)
            return
        trial.final_seen = True
        trial.awaiting_final = False
        if value is not None:   # its seconds, even when our kill came too late; kept in its record for a resume
            trial.cost = self.diagnostics.trial_done(trial.parameter_id)
        if trial.killed_by_us:
            # our kill came too late (the trial finished first): the slot stays skipped, the measurement is kept,
            # and the trial's record shows what it reported
            if value is not None:
                self._observe(trial, self.settings.to_loss(value))
            self._write_trial_row(trial, value)
            return
        if value is None:
            _logger.warning("parameter %d reported a final metric that is unusable, %s: counted as a failed "
                            "evaluation", trial.parameter_id, raw)
            self.failures.record(trial, f"reported an unusable final metric: {raw}")
        self.finish(trial, value)
        self.fill_credit()

    def trial_end(self, job: str, event: Any, named_parameter_id: Optional[int]) -> None:
        trial, newly_known = self.ledger.trial_of_end(job, named_parameter_id)
        if trial is None:
            return
        now = self.clock()
        if trial.killed_by_us:
            self.ledger.mark_ended(trial, now)
            if newly_known:
                self._write_trial_row(trial, None)  # dropped by a jump before any metric named its job
            _logger.info("trial %s (parameter %d) ended after our kill", job, trial.parameter_id)
        elif trial.final_seen:
            self.ledger.mark_ended(trial, now)
        elif event == _ENDED_OK:
            # NNI delivers FINAL and TrialEnd apart: the FINAL may still come (stall_guard bounds the wait)
            self.ledger.mark_ended(trial, now, awaiting_final=True)
            _logger.info("trial %s (parameter %d) succeeded before its final metric arrived; waiting for it",
                         job, trial.parameter_id)
        else:
            self.ledger.mark_ended(trial, now)
            _logger.warning("trial %s (parameter %d, config %d, budget %d) ended as %s without a final metric: "
                            "counted as the worst result", job, trial.parameter_id, trial.slot.config_id,
                            trial.slot.budget, event)
            self.failures.record(trial, f"ended as {event} without a final metric")
            self.finish(trial, None)
        self.fill_credit()

    def tick(self) -> bool:
        """Resolve the slots that no job will report on (see :mod:`stall_guard`); called before every command
        and at every tick of the advisor's clock. True when it resolved any; what that frees is sent at once."""
        now = self.clock()
        s = self.settings
        unresolved = self.ledger.unresolved()
        overdue = stall_guard.overdue_finals(unresolved, now, s.final_grace_seconds)
        lost = stall_guard.lost(unresolved, self.ledger.longest_run, now, self.ledger.ended_jobs, s.min_lost_seconds)
        for trial in overdue:
            trial.awaiting_final = False
            waited = now - (trial.ended_at or now)
            _logger.warning("parameter %d (config %d, budget %d) succeeded but its final metric never came "
                            "(waited %.0f s): counted as the worst result", trial.parameter_id,
                            trial.slot.config_id, trial.slot.budget, waited)
            self.failures.record(trial, f"ended SUCCEEDED but reported no final metric within {waited:.0f} s")
            self.finish(trial, None)
        for trial in lost:
            self.ledger.mark_ended(trial, now)
            _logger.warning("parameter %d (config %d, budget %d) has had no job for %.0f s, %.1f times the longest "
                            "run expected at its budget: no job runs it (NNI ran another parameter twice, issue 5726, or "
                            "it was lost at a stop); counted as failed so its stage goes on", trial.parameter_id,
                            trial.slot.config_id, trial.slot.budget, now - trial.issued_at,
                            (now - trial.issued_at) / max(stall_guard.expected_run(trial.slot.budget,
                                                                                   self.ledger.longest_run) or 0.0,
                                                          1e-9))
            self.finish(trial, None)
        next_id = self.ledger.next_parameter_id
        if overdue or lost or self.ids_blocked:
            self.fill_credit()
        return bool(overdue or lost) or self.ledger.next_parameter_id != next_id

    def finish(self, trial: Trial, metric: Optional[float]) -> None:
        slot = trial.slot
        loss = None if metric is None else self.settings.to_loss(metric)
        if loss is not None:
            self.failures.reset()
            self._observe(trial, loss)  # model and incumbent first: the jump decision below uses both
            if slot.status is SlotStatus.FAILED:
                self.scheduler.revise(slot, loss)  # a final metric that arrived after its TrialEnd
        self.touched_brackets.add(slot.bracket_id)
        dropped = self.scheduler.finish(slot, loss)
        self._write_trial_row(trial, metric)
        self._kill(dropped)

    def _observe(self, trial: Trial, loss: float) -> None:
        slot = trial.slot
        if self.evidence.add_final(slot.config_id, slot.budget, loss):
            metric = self.settings.to_loss(loss)
            _logger.info("new incumbent: config %d %s, metric %g", slot.config_id,
                         self.searcher.configs[slot.config_id], metric)
            self._audit({"event": "incumbent", "config_id": slot.config_id, "parameter_id": trial.parameter_id,
                         "metric": metric, "budget": slot.budget})

    def _kill(self, slots: list[Slot]) -> None:
        for slot in slots:
            trial = self.ledger.trial_of_slot(slot)
            if trial.ended:
                continue
            trial.killed_by_us = True
            self._write_trial_row(trial, None)
            job = trial.trial_job_id
            if job is not None and job not in self.ledger.ended_jobs:  # else: killed when a metric names it
                self._send_kill(job)

    def _write_trial_row(self, trial: Trial, metric: Optional[float]) -> None:
        slot = trial.slot
        self._trial_record({
            "parameter_id": trial.parameter_id, "trial_job_id": trial.trial_job_id, "config_id": slot.config_id,
            "bracket": slot.bracket_id, "stage": slot.stage, "budget": slot.budget, "status": slot.status.value,
            "metric": metric, "loss": slot.loss, "jumped": int(slot.status is SlotStatus.SKIPPED),
            "killed": int(trial.killed_by_us), "time": time.time(),
            "parameters": json.dumps(plain(self.searcher.configs[slot.config_id]), sort_keys=True)})

class FailureStreak:
    """Trials in a row without a usable result. Past the limit the experiment cannot learn anything
    (a broken environment, a metric in the wrong shape): the engine stops issuing work and says why."""

    def __init__(self, limit: int):
        self.limit = limit
        self.count = 0
        self.first: Optional[tuple[Trial, str]] = None
        self.halted = False

    def record(self, trial: Trial, why: str) -> None:
        if self.count == 0:
            self.first = (trial, why)
        self.count += 1
        if self.limit and self.count >= self.limit and not self.halted:
            self.halted = True
            _logger.error("%s", self.explain())

    def reset(self) -> None:
        self.count, self.first = 0, None

    def explain(self) -> str:
        trial, why = self.first if self.first is not None else (None, "")
        head = (f"HyperJump stopped the experiment: {self.count} trials in a row gave no usable result "
                f"(classArgs.max_consecutive_failures = {self.limit}).")
        if trial is None:
            return head
        if why.startswith("ended as FAILED"):
            hint = " The trial process itself failed: its error is in its stderr."
        elif "final metric" in why and "'default'" not in why:
            hint = " A trial must report nni.report_final_result(number) or {'default': number, ...}."
        else:
            hint = ""
        return (f"{head} The first, trial {trial.trial_job_id} (parameter {trial.parameter_id}, TRIAL_BUDGET "
                f"{trial.slot.budget}), {why}.{hint}")
