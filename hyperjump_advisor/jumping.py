"""HyperJump's stage policy: risk-ordered evaluation and risk-checked jumps (paper Alg. 1, lines 6-10).

Plugs into :class:`hyperjump_advisor.schedule.Scheduler` as its ``StagePolicy``. It reads the
bracket, asks a :class:`~hyperjump_advisor.posterior.Posterior` for beliefs about the stage's
configurations and lets :mod:`hyperjump_advisor.risk` decide. No NNI and no GP here; the advisor
supplies the posterior, the encodings, the incumbent and an audit sink.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from . import risk
from .posterior import Array, Posterior
from .schedule import Bracket, Jump, Slot, SlotStatus

_logger = logging.getLogger("hyperjump_advisor")

# The risk engine's cost grows faster than linearly with a stage's size (measured, 2 cores: a jump
# evaluation takes 2 ms at 81 configurations, 90 ms at 729, 0.9 s at 2,187; the test order, 27 ms
# at 81 and over 1 s at 243). Larger stages, which only R > 729 (eta 3) creates, are run as
# Hyperband runs them: in order above MAX_ORDERED_STAGE, without jumps above MAX_RISK_STAGE.
MAX_ORDERED_STAGE = 81
MAX_RISK_STAGE = 729

AuditSink = Callable[[dict[str, Any]], None]
Encode = Callable[[list[int]], Array]


@dataclass(frozen=True)
class RiskOptions:
    eta: int
    R: int
    threshold: float            # lambda
    best_loss: float            # zero point of rEAR's normaliser
    order_by_risk: bool = True  # NEXT_CONF_TO_TEST; False: Hyperband's order
    rank_one_order: bool = False
    noise_std: float = 0.0
    audit_every: int = 10       # one in this many risk evaluations that do not jump is audited
    min_stage_observations: int = 0  # no jump from a stage with fewer observed configs at budgets >= its own


@dataclass
class StageView:
    """The current stage of a bracket as the risk engine sees it (failed configs left out: never promoted)."""
    slots: list[Slot]
    beliefs: list[risk.StageBelief]
    keep_sizes: list[int]


class RiskPolicy:
    """HyperJump's ``StagePolicy``: which pending config of a stage runs next, and whether to jump.

    Reads
      - the bracket: the current stage's slots (FAILED ones are left out: never promoted; DONE ones are tested
        at their measured loss, PENDING and RUNNING ones untested), its stage index, ``plan`` (budgets and
        sizes of the later stages) and ``no_jump`` flag;
      - beliefs from the posterior: ``predict_budgets`` of the stage's configs (``encode``) at the budgets of
        the current and every later stage, divided by R; ``predict_joint`` when ``options.rank_one_order``;
      - the incumbent's loss (``incumbent_loss()``; None before any): the final hop's point mass and rEAR's
        normaliser l* = incumbent - options.best_loss (1 when there is no incumbent or l* <= 0);
      - options: eta, R, threshold (lambda), best_loss, order_by_risk, rank_one_order, noise_std, audit_every.

    The policy is inactive (plain successive halving) when the threshold is <= 0, the bracket is ``no_jump``
    or the posterior is not ready.

    Returns
      - ``choose(bracket, pending)``: one slot of ``pending``. Inactive, a single pending slot or
        ``order_by_risk`` off: ``pending[0]`` (Hyperband's order). Otherwise NEXT_CONF_TO_TEST over the
        PENDING slots (RUNNING ones stay uncertain in every pretend evaluation).
      - ``decide_jump(bracket)``: None to carry on (inactive, nothing untested, or no safe jump);
        ``(target_stage, kept config ids)`` for a jump of EVALUATE_JUMP_RISK's hops; ``(None, [])`` when every
        remaining stage is skipped (the bracket ends).

    Audits every jump and one in ``options.audit_every`` evaluations that do not jump: a record (event,
    bracket, stage, budget, target_stage, rear_per_hop, threshold, incumbent_loss, scale (the l* that
    normalised rEAR), tested, configs, kept_config_ids, discarded_config_ids, seconds) goes to ``audit``; each jump is also logged at INFO.
    """

    def __init__(self, options: RiskOptions, posterior: Posterior, encode: Encode,
                 incumbent_loss: Callable[[], Optional[float]], audit: Optional[AuditSink] = None,
                 observed_at_least: Optional[Callable[[int], int]] = None) -> None:
        self.options = options
        self.observed_at_least = observed_at_least  # budget -> configurations observed at budgets >= it
        self.posterior = posterior
        self.encode = encode
        self.incumbent_loss = incumbent_loss
        self.audit = audit or (lambda record: None)
        self._quiet_evaluations = 0
        self._warned_scale = False

    # ---- StagePolicy --------------------------------------------------------------------
    def choose(self, bracket: Bracket, pending: list[Slot]) -> Slot:
        if len(pending) == 1 or not self._active(bracket) or not self.options.order_by_risk \
                or len(bracket.current) > MAX_ORDERED_STAGE:
            return pending[0]
        view = self._view(bracket)
        choosable = np.array([x.status is SlotStatus.PENDING for x in view.slots])
        cross_cov = self._cross_cov(bracket, view) if self.options.rank_one_order else None
        index = risk.next_config_to_test(view.beliefs, view.keep_sizes, self.options.eta, self.options.threshold,
                                         self._scale(), self.incumbent_loss(), noise_std=self.options.noise_std,
                                         cross_cov=cross_cov, choosable=choosable)
        return view.slots[index]

    def decide_jump(self, bracket: Bracket) -> Optional[Jump]:
        if not self._active(bracket) or all(x.finished for x in bracket.current) \
                or len(bracket.current) > MAX_RISK_STAGE:
            return None  # nothing untested (or too many to weigh): plain successive halving closes the stage
        if not self._enough_observations(bracket):
            return None  # too few results at this budget to trust the model's ranking: no jump yet
        view = self._view(bracket)
        started = time.perf_counter()
        decision = risk.evaluate_jump_risk(view.beliefs, view.keep_sizes, self.options.eta, self.options.threshold,
                                           self._scale(), self.incumbent_loss(), noise_std=self.options.noise_std)
        self._record(bracket, view, decision, time.perf_counter() - started)
        if decision.hops == 0:
            return None
        if decision.finishes_bracket:
            return None, []
        return bracket.stage + decision.hops, [view.slots[i].config_id for i in decision.keep]

    def _enough_observations(self, bracket: Bracket) -> bool:
        """The jump guard: configurations observed at budgets >= the stage's (in any bracket, this stage's own
        results included) must reach ``options.min_stage_observations`` before the model may jump from it."""
        needed = self.options.min_stage_observations
        if needed <= 0:
            return True
        tested = sum(1 for x in bracket.current if x.status is SlotStatus.DONE)
        budget = bracket.plan[bracket.stage].budget
        seen = self.observed_at_least(budget) if self.observed_at_least is not None else tested
        return max(seen, tested) >= needed

    # ---- beliefs ------------------------------------------------------------------------
    def _active(self, bracket: Bracket) -> bool:
        return self.options.threshold > 0 and not bracket.no_jump and self.posterior.ready

    def _view(self, bracket: Bracket) -> StageView:
        slots = [x for x in bracket.current if x.status is not SlotStatus.FAILED]
        X = self.encode([x.config_id for x in slots])
        tested = np.array([x.status is SlotStatus.DONE for x in slots], dtype=bool)
        budgets = [bracket.plan[stage].budget / self.options.R for stage in range(bracket.stage, len(bracket.plan))]
        means, stds = self.posterior.predict_budgets(X, budgets)
        beliefs = []
        for stage, mean, std in zip(range(bracket.stage, len(bracket.plan)), means, stds):
            if stage == bracket.stage:
                mean = np.where(tested, [x.loss if x.loss is not None else 0.0 for x in slots], mean)
                std = np.where(tested, 0.0, std)
                beliefs.append(risk.StageBelief(mean, std, tested))
            else:
                beliefs.append(risk.StageBelief(mean, std, np.zeros(len(slots), dtype=bool)))
        keep_sizes = [bracket.plan[stage].n for stage in range(bracket.stage + 1, len(bracket.plan))]
        return StageView(slots, beliefs, keep_sizes)

    def _cross_cov(self, bracket: Bracket, view: StageView) -> list[Array]:
        X = self.encode([x.config_id for x in view.slots])
        budgets = [bracket.plan[s].budget / self.options.R for s in range(bracket.stage, len(bracket.plan))]
        _, cross_cov = self.posterior.predict_joint(X, budgets)
        tested = view.beliefs[0].tested
        cross_cov[0] = cross_cov[0].copy()
        cross_cov[0][tested, :] = 0.0  # measured: no uncertainty left to share
        cross_cov[0][:, tested] = 0.0
        return cross_cov

    def _scale(self) -> float:
        """rEAR's normaliser l*: the incumbent's distance from the best attainable loss (1 before an incumbent)."""
        incumbent = self.incumbent_loss()
        if incumbent is None:
            return 1.0
        scale = incumbent - self.options.best_loss
        if scale > 0:
            return scale
        if not self._warned_scale:
            _logger.warning("the incumbent (loss %g) reached classArgs.best_metric (loss %g): rEAR cannot be "
                            "normalised, so jumps are judged on raw EAR; set best_metric to the best value your "
                            "metric can take", incumbent, self.options.best_loss)
            self._warned_scale = True
        return 1.0

    # ---- audit --------------------------------------------------------------------------
    def _record(self, bracket: Bracket, view: StageView, decision: risk.JumpDecision, seconds: float) -> None:
        jumped = decision.hops > 0
        self._quiet_evaluations += not jumped
        if not jumped and (self._quiet_evaluations - 1) % self.options.audit_every:
            return
        keep = set(int(i) for i in decision.keep)
        accepted = [float(r) for r in decision.rear_per_hop[:decision.hops]]
        rejected = decision.rear_per_hop[decision.hops] if len(decision.rear_per_hop) > decision.hops else None
        common = {"time": time.time(), "bracket": bracket.bracket_id, "stage": bracket.stage,
                  "rear_per_hop": accepted, "rejected_rear": None if rejected is None else float(rejected),
                  "threshold": self.options.threshold, "incumbent_loss": self.incumbent_loss(),
                  "scale": self._scale(), "tested": int(view.beliefs[0].tested.sum()), "configs": len(view.slots),
                  "seconds": round(seconds, 6)}
        if not jumped:
            self.audit({"event": "no_jump", **common})
            return
        target = None if decision.finishes_bracket else bracket.stage + decision.hops
        record = {"event": "promotion", "kind": "jump", **common,
                  "to_stage": target, "finishes_bracket": bool(decision.finishes_bracket),
                  "from_budget": bracket.plan[bracket.stage].budget,
                  "to_budget": None if target is None else bracket.plan[target].budget,
                  "kept_config_ids": [view.slots[i].config_id for i in sorted(keep)],
                  "discarded_config_ids": [x.config_id for i, x in enumerate(view.slots) if i not in keep]}
        self.audit(record)
        _logger.info("jump in bracket %d: stage %d -> %s with %d of %d configs (rEAR per accepted hop %s, lambda %g)",
                     bracket.bracket_id, bracket.stage, "a new bracket" if target is None else target, len(keep),
                     len(view.slots), ", ".join(f"{r:.3g}" for r in accepted), self.options.threshold)


def min_observations(n_params: int) -> int:
    """The paper uses the model only after d + 2 observations."""
    return n_params + 2


JUMP_GUARD_FACTOR = 0  # 0: the jump guard is off by default (measured without a consistent gain); 1: d + 2


def min_jump_observations(n_params: int, factor: int = JUMP_GUARD_FACTOR) -> int:
    """The jump guard: configurations observed at a stage's budget or above before a jump from it.

    The paper trusts the model after d + 2 observations in all; a jump from budget b ranks configurations
    at b and above, so the guard asks ``factor`` times d + 2 of the observations at budgets >= b. Off by
    default (factor 0): in the replay it helped only together with pending-aware EI (ablation
    ``hyperjump:pending_aware=true,jump_guard=1``) and cost time to 1% regret without it
    (``hyperjump:jump_guard=1``)."""
    return factor * min_observations(n_params)
