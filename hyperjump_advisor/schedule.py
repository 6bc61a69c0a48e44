"""Hyperband brackets and successive halving as pure, serialisable state.

No NNI here: the advisor turns messages into calls on :class:`Scheduler`, and
the replay and the tests drive it directly.

The arithmetic is NNI 3.0 Hyperband's, so that budgets match exactly:
``s_max = floor(log_eta R)``; bracket ``s`` starts ``n0 = ceil((s_max+1) eta^s / (s+1))``
configurations at ``r0 = R / eta^s``; its round ``i`` runs ``floor(n0 / eta^i)``
configurations at ``TRIAL_BUDGET = floor(r0 eta^i)`` (with NNI's 1e-6 epsilon).
For R=81, eta=3 this is the Hyperband paper's table (81/1, 34/3, 15/9, 8/27, 5/81 in round 0).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

_EPSILON = 1e-6  # NNI's, so floor/ceil land on the same integers
# Brackets a policy may skip whole, in a row, before one is run as plain successive halving.
# (With p_no_jump > 0 a plain bracket comes long before; this only bounds p_no_jump = 0.)
MAX_SKIPPED_BRACKETS = 20
_JOURNALED_FIELDS = frozenset(("status", "loss"))  # a slot's fields that change after it is created


@dataclass(frozen=True)
class StagePlan:
    n: int       # configurations in the stage
    budget: int  # TRIAL_BUDGET of each


def max_bracket_index(R: int, eta: int) -> int:
    """s_max = floor(log_eta R)."""
    return math.floor(math.log(R, eta) + _EPSILON)


def bracket_plan(s: int, R: int, eta: int) -> list[StagePlan]:
    """The s+1 stages of bracket s."""
    s_max = max_bracket_index(R, eta)
    n0 = math.ceil((s_max + 1) * eta ** s / (s + 1) - _EPSILON)
    r0 = R / eta ** s
    return [StagePlan(math.floor(n0 / eta ** i + _EPSILON), math.floor(r0 * eta ** i + _EPSILON))
            for i in range(s + 1)]


def iteration_plan(R: int, eta: int) -> list[list[StagePlan]]:
    """Brackets of one Hyperband iteration, in the order they run (s = s_max .. 0)."""
    return [bracket_plan(s, R, eta) for s in range(max_bracket_index(R, eta), -1, -1)]


class SlotStatus(str, enum.Enum):
    PENDING = "PENDING"      # waiting for a worker
    RUNNING = "RUNNING"      # sent to NNI
    DONE = "DONE"            # has a finite loss
    FAILED = "FAILED"        # failed, cancelled or no usable metric: the worst result
    SKIPPED = "SKIPPED"      # dropped by a jump (never run, or killed while running)


@dataclass
class Slot:
    """One evaluation: a configuration at one stage of one bracket."""
    bracket_id: int
    stage: int
    config_id: int
    budget: int
    status: SlotStatus = SlotStatus.PENDING
    loss: Optional[float] = None

    def __init__(self, bracket_id: int, stage: int, config_id: int, budget: int,
                 status: SlotStatus = SlotStatus.PENDING, loss: Optional[float] = None) -> None:
        # written out (a dataclass's __init__ would go through __setattr__ six times per slot)
        self.__dict__.update(bracket_id=bracket_id, stage=stage, config_id=config_id, budget=budget,
                             status=status, loss=loss)

    def __setattr__(self, name: str, value: Any) -> None:
        """A slot the journal wrote (``_journal_at`` = (its set of changed positions, bracket, stage, index))
        puts its position (bracket, stage, index) in that set when its status or loss changes."""
        object.__setattr__(self, name, value)
        if name in _JOURNALED_FIELDS:
            at = self.__dict__.get("_journal_at")
            if at is not None:
                at[0].add(at[1:])

    @property
    def finished(self) -> bool:
        return self.status in (SlotStatus.DONE, SlotStatus.FAILED, SlotStatus.SKIPPED)

    def record(self, loss: Optional[float]) -> None:
        """The slot's result: DONE with a finite loss, else FAILED (the worst result of its stage)."""
        if loss is None or not math.isfinite(loss):
            self.status, self.loss = SlotStatus.FAILED, None
        else:
            self.status, self.loss = SlotStatus.DONE, float(loss)


def _measured_loss(slot: Slot) -> float:
    """The loss of a DONE slot (DONE always carries one)."""
    assert slot.loss is not None
    return slot.loss


@dataclass
class Bracket:
    bracket_id: int
    iteration: int
    s: int
    plan: list[StagePlan]
    stage: int = 0
    slots: list[list[Slot]] = field(default_factory=list)  # slots[stage] in dispatch-independent order
    jumped: bool = False    # a jump happened in this bracket
    no_jump: bool = False   # p_no_jump drew this bracket as plain successive halving

    def __post_init__(self) -> None:
        while len(self.slots) < len(self.plan):
            self.slots.append([])

    # ---- queries ----------------------------------------------------------
    @property
    def current(self) -> list[Slot]:
        return self.slots[self.stage]

    @property
    def finished(self) -> bool:
        return self.stage >= len(self.plan)

    def pending(self) -> list[Slot]:
        return [] if self.finished else [x for x in self.current if x.status is SlotStatus.PENDING]

    def running(self) -> list[Slot]:
        return [] if self.finished else [x for x in self.current if x.status is SlotStatus.RUNNING]

    def stage_complete(self) -> bool:
        return not self.finished and all(x.finished for x in self.current)

    def slot(self, stage: int, config_id: int) -> Slot:
        for x in self.slots[stage]:
            if x.config_id == config_id:
                return x
        raise KeyError(f"bracket {self.bracket_id} stage {stage} has no config {config_id}")

    # ---- transitions ------------------------------------------------------
    def fill_stage(self, stage: int, config_ids: list[int]) -> None:
        budget = self.plan[stage].budget
        self.slots[stage] = [Slot(self.bracket_id, stage, c, budget) for c in config_ids]

    def promote(self) -> None:
        """Successive halving: the best n_{i+1} finished configs move on; failed ones never do."""
        ranked = sorted((x for x in self.current if x.status is SlotStatus.DONE), key=_measured_loss)
        self.stage += 1
        if not self.finished:
            self.fill_stage(self.stage, [x.config_id for x in ranked[:self.plan[self.stage].n]])
            if not self.current:  # every config failed: nothing left to promote
                self.stage = len(self.plan)

    def jump(self, target_stage: Optional[int], keep: list[int]) -> None:
        """Skip to ``target_stage`` with the configs ``keep`` (None: finish the bracket).

        Unfinished slots of the current stage become SKIPPED (the caller kills running ones)."""
        for x in self.current:
            if not x.finished:
                x.status = SlotStatus.SKIPPED
        self.jumped = True
        if target_stage is None or target_stage >= len(self.plan):
            self.stage = len(self.plan)
        else:
            assert target_stage > self.stage and keep, "a jump goes forward with at least one config"
            self.stage = target_stage
            self.fill_stage(target_stage, list(keep))


# A jump: (target stage, config ids kept there); target None finishes the bracket.
Jump = tuple[Optional[int], list[int]]


class StagePolicy(Protocol):
    """The one override point for HyperJump: order within a stage and jumps."""

    def choose(self, bracket: Bracket, pending: list[Slot]) -> Slot: ...

    def decide_jump(self, bracket: Bracket) -> Optional[Jump]:
        """None: carry on. (target_stage, keep): jump; target None finishes the bracket."""


class SuccessiveHalving:
    """Plain Hyperband: dispatch in order, never jump."""

    def choose(self, bracket: Bracket, pending: list[Slot]) -> Slot:
        return pending[0]

    def decide_jump(self, bracket: Bracket) -> Optional[Jump]:
        return None


class ExecMode(str, enum.Enum):
    SERIAL = "serial"
    PARALLELISM = "parallelism"


NewConfigs = Callable[[Bracket, int], list[int]]
EventSink = Callable[[dict[str, object]], None]  # bracket openings and successive-halving promotions


class Scheduler:
    """Runs Hyperband iterations forever; NNI's limits end the experiment.

    ``new_configs(bracket, n)`` is the searcher: it returns ``n`` config ids for a new
    bracket (random, or model-based warm start)."""

    def __init__(self, R: int, eta: int, exec_mode: ExecMode, new_configs: NewConfigs,
                 policy: Optional[StagePolicy] = None, hold_first_bracket: bool = False,
                 on_event: Optional[EventSink] = None):
        self.R, self.eta = R, eta
        self.on_event: EventSink = on_event or (lambda record: None)
        self.exec_mode = ExecMode(exec_mode)
        self.new_configs = new_configs
        self.policy = policy or SuccessiveHalving()
        self.hold_first_bracket = hold_first_bracket
        self.brackets: list[Bracket] = []
        self.iteration_plans = iteration_plan(R, eta)

    # ---- brackets -------------------------------------------------------------
    @property
    def open_brackets(self) -> list[Bracket]:
        return [b for b in self.brackets if not b.finished]

    def _may_open_bracket(self) -> bool:
        open_ = self.open_brackets
        if not open_:
            return True
        if self.exec_mode is ExecMode.SERIAL:
            return False
        if self.hold_first_bracket and self.brackets[0] in open_:
            return False
        return True

    def _open_bracket(self) -> Bracket:
        k = len(self.brackets)
        per_iteration = len(self.iteration_plans)
        plan = self.iteration_plans[k % per_iteration]
        bracket = Bracket(bracket_id=k, iteration=k // per_iteration, s=len(plan) - 1, plan=plan)
        bracket.fill_stage(0, self.new_configs(bracket, plan[0].n))
        self.brackets.append(bracket)
        self.on_event({"event": "bracket", "bracket": bracket.bracket_id, "iteration": bracket.iteration,
                       "s": bracket.s, "no_jump": bracket.no_jump, "config_ids": [x.config_id for x in bracket.current]})
        return bracket

    # ---- the two events -------------------------------------------------------
    def next_slot(self) -> Optional[Slot]:
        """The next evaluation to run, or None when every open bracket waits for results."""
        for bracket in self.open_brackets:
            pending = bracket.pending()
            if pending:
                return self._dispatch(bracket, pending)
        skipped = 0
        while self._may_open_bracket():
            bracket = self._open_bracket()
            if skipped >= MAX_SKIPPED_BRACKETS:
                bracket.no_jump = True  # the model skips everything: let Hyperband's rule decide this one
            self.advance(bracket)  # the policy may trust its model enough to jump at once (Alg. 1, line 6)
            pending = bracket.pending()
            if pending:
                return self._dispatch(bracket, pending)
            skipped += 1
        return None

    def _dispatch(self, bracket: Bracket, pending: list[Slot]) -> Slot:
        slot = self.policy.choose(bracket, pending)
        slot.status = SlotStatus.RUNNING
        return slot

    def finish(self, slot: Slot, loss: Optional[float]) -> list[Slot]:
        """Record a result (None or non-finite: failed). Returns running slots a jump dropped (to kill)."""
        if slot.finished:
            return []
        slot.record(loss)
        bracket = self.brackets[slot.bracket_id]
        if bracket.finished or slot.stage != bracket.stage:
            return []  # a late result from a stage a jump already left
        return self.advance(bracket)

    def revise(self, slot: Slot, loss: float) -> None:
        """A final metric that arrived after the slot was counted as failed: use it if its stage is still open."""
        bracket = self.brackets[slot.bracket_id]
        if slot.status is SlotStatus.FAILED and not bracket.finished and slot.stage == bracket.stage:
            slot.status, slot.loss = SlotStatus.DONE, float(loss)

    def advance(self, bracket: Bracket) -> list[Slot]:
        """Apply the policy's jump decision, then successive halving, until the bracket waits."""
        to_kill: list[Slot] = []
        while not bracket.finished:
            decision = None if bracket.no_jump else self.policy.decide_jump(bracket)
            if decision is not None:
                target, keep = decision
                running = bracket.running()
                bracket.jump(target, keep)
                to_kill.extend(running)
                continue
            if bracket.stage_complete():
                self._promote(bracket)
                continue
            break
        return to_kill

    def _promote(self, bracket: Bracket) -> None:
        """Successive halving, recorded: which configurations moved up and which stayed behind."""
        stage, ran = bracket.stage, [x.config_id for x in bracket.current]
        bracket.promote()
        if stage + 1 >= len(bracket.plan):
            return  # the last stage ends the bracket: nothing moves up
        kept = [x.config_id for x in bracket.slots[stage + 1]]
        self.on_event({"event": "promotion", "kind": "successive_halving", "bracket": bracket.bracket_id,
                       "stage": stage, "to_stage": stage + 1, "from_budget": bracket.plan[stage].budget,
                       "to_budget": bracket.plan[stage + 1].budget, "kept_config_ids": kept,
                       "discarded_config_ids": [c for c in ran if c not in kept]})
