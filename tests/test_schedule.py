"""The schedule against Hyperband's table and NNI 3.0 Hyperband's own bracket arithmetic."""
import math

import pytest
from nni.algorithms.hpo.hyperband_advisor import Bracket as NNIBracket

from hyperjump_advisor.schedule import (ExecMode, Scheduler, SlotStatus, iteration_plan,
                                        max_bracket_index)

# Li et al., "Hyperband", JMLR 2018, Table 1 (R=81, eta=3): (n_i, r_i) per bracket s, rounds i.
HYPERBAND_R81_ETA3 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(34, 3), (11, 9), (3, 27), (1, 81)],
    [(15, 9), (5, 27), (1, 81)],
    [(8, 27), (2, 81)],
    [(5, 81)],
]


def as_pairs(plan):
    return [[(st.n, st.budget) for st in bracket] for bracket in plan]


def nni_plan(R, eta):
    """What NNI's own Hyperband Bracket class computes, round by round."""
    s_max = math.floor(math.log(R, eta) + 1e-6)
    plan = []
    for s in range(s_max, -1, -1):
        bracket = NNIBracket(f"0-{s}", s, s_max, eta, R, "maximize")
        rounds = []
        for _ in range(s + 1):
            rounds.append(bracket.get_n_r())
            bracket.increase_i()
        plan.append(rounds)
    return plan


def test_r81_eta3_is_the_hyperband_table():
    assert as_pairs(iteration_plan(81, 3)) == HYPERBAND_R81_ETA3


@pytest.mark.parametrize("R,eta", [(81, 3), (27, 3), (100, 3), (60, 3), (16, 2), (50, 4), (1, 3), (10, 10), (243, 3)])
def test_plan_matches_nni_hyperband(R, eta):
    assert as_pairs(iteration_plan(R, eta)) == nni_plan(R, eta)


def test_max_bracket_index_uses_nni_epsilon():
    assert max_bracket_index(81, 3) == 4   # log_3 81 is 3.9999999 in floating point
    assert max_bracket_index(80, 3) == 3


def counting_searcher():
    counter = {"next": 0}

    def new_configs(bracket, n):
        start = counter["next"]
        counter["next"] += n
        return list(range(start, start + n))
    return new_configs


def run_serially(scheduler, n_trials, loss_of=lambda slot: float(slot.config_id)):
    """One worker: dispatch, finish, repeat. Returns the dispatched slots."""
    dispatched = []
    for _ in range(n_trials):
        slot = scheduler.next_slot()
        assert slot is not None, "one worker must never stall"
        dispatched.append(slot)
        scheduler.finish(slot, loss_of(slot))
    return dispatched


@pytest.mark.parametrize("mode", ["serial", "parallelism"])
def test_one_worker_runs_every_bracket_stage_by_stage(mode):
    sched = Scheduler(81, 3, ExecMode(mode), counting_searcher())
    plan = iteration_plan(81, 3)
    total = sum(st.n for bracket in plan for st in bracket)
    slots = run_serially(sched, total + 5)
    expected = [st.budget for bracket in plan for st in bracket for _ in range(st.n)]
    assert [x.budget for x in slots[:total]] == expected
    assert [x.budget for x in slots[total:]] == [1] * 5, "a new Hyperband iteration follows the last bracket"
    assert [b.iteration for b in sched.brackets] == [0, 0, 0, 0, 0, 1]


def test_successive_halving_promotes_the_best_and_never_a_failure():
    sched = Scheduler(9, 3, ExecMode.SERIAL, counting_searcher())
    losses = {0: 5.0, 1: 1.0, 2: None, 3: 3.0, 4: 0.5, 5: float("nan"), 6: 2.0, 7: 9.0, 8: 0.7}
    for _ in range(9):
        slot = sched.next_slot()
        sched.finish(slot, losses[slot.config_id])
    bracket = sched.brackets[0]
    assert bracket.stage == 1
    assert [x.config_id for x in bracket.current] == [4, 8, 1]
    assert {x.config_id for x in bracket.slots[0] if x.status is SlotStatus.FAILED} == {2, 5}


def test_stage_with_only_failures_ends_the_bracket():
    sched = Scheduler(9, 3, ExecMode.SERIAL, counting_searcher())
    for _ in range(9):
        sched.finish(sched.next_slot(), None)
    assert sched.brackets[0].finished
    assert sched.next_slot().bracket_id == 1


def test_fewer_successes_than_places_promote_only_successes():
    sched = Scheduler(9, 3, ExecMode.SERIAL, counting_searcher())
    for _ in range(9):
        slot = sched.next_slot()
        sched.finish(slot, 1.0 if slot.config_id == 4 else None)
    assert [x.config_id for x in sched.brackets[0].current] == [4]


def test_serial_waits_for_the_bracket_to_finish():
    sched = Scheduler(9, 3, ExecMode.SERIAL, counting_searcher())
    first = [sched.next_slot() for _ in range(9)]
    assert sched.next_slot() is None, "serial: no second bracket while the first runs"
    for slot in first:
        sched.finish(slot, float(slot.config_id))
    promoted = [sched.next_slot() for _ in range(3)]
    assert sched.next_slot() is None
    for slot in promoted:
        sched.finish(slot, float(slot.config_id))
    last = sched.next_slot()
    assert (last.bracket_id, last.budget) == (0, 9)
    assert sched.next_slot() is None, "the last stage of bracket 0 is still running"
    sched.finish(last, 0.0)
    assert sched.next_slot().bracket_id == 1


def test_parallelism_opens_the_next_bracket_when_the_stage_has_nothing_to_give():
    sched = Scheduler(81, 3, ExecMode.PARALLELISM, counting_searcher())
    plan = iteration_plan(81, 3)
    first_rounds = sum(bracket[0].n for bracket in plan)
    slots = [sched.next_slot() for _ in range(first_rounds)]
    expected = [(k, bracket[0].budget) for k, bracket in enumerate(plan) for _ in range(bracket[0].n)]
    assert [(x.bracket_id, x.budget) for x in slots] == expected
    # finishing bracket 0's first stage gives its promotions priority over new brackets
    for slot in slots[:81]:
        sched.finish(slot, float(slot.config_id))
    nxt = sched.next_slot()
    assert (nxt.bracket_id, nxt.stage, nxt.budget) == (0, 1, 3)


def test_hold_first_bracket_keeps_workers_on_the_first_bracket():
    sched = Scheduler(9, 3, ExecMode.PARALLELISM, counting_searcher(), hold_first_bracket=True)
    for _ in range(9):
        assert sched.next_slot().bracket_id == 0
    assert sched.next_slot() is None


class JumpTo:
    """A policy that jumps once, from stage 0 after the first result, to the last stage."""

    def __init__(self):
        self.done = False

    def choose(self, bracket, pending):
        return pending[-1]

    def decide_jump(self, bracket):
        if self.done or bracket.stage != 0 or not any(x.status is SlotStatus.DONE for x in bracket.current):
            return None
        self.done = True
        return len(bracket.plan) - 1, [x.config_id for x in bracket.current if x.status is SlotStatus.DONE]


def test_jump_skips_stages_and_returns_running_slots_to_kill():
    sched = Scheduler(9, 3, ExecMode.PARALLELISM, counting_searcher(), policy=JumpTo())
    a, b, c = sched.next_slot(), sched.next_slot(), sched.next_slot()
    assert a.config_id == 8, "the policy chooses the order within a stage"
    to_kill = sched.finish(a, 0.1)
    assert {x.config_id for x in to_kill} == {b.config_id, c.config_id}
    bracket = sched.brackets[0]
    assert bracket.stage == 2 and [x.config_id for x in bracket.current] == [8]
    assert all(x.status is SlotStatus.SKIPPED for x in bracket.slots[0] if x.config_id != 8)
    assert sched.finish(b, 0.0) == [] and b.status is SlotStatus.SKIPPED, "a killed slot's late result is ignored"
    final = sched.next_slot()
    assert (final.config_id, final.budget) == (8, 9)


def test_late_metric_revises_a_failure_while_its_stage_is_open():
    sched = Scheduler(9, 3, ExecMode.SERIAL, counting_searcher())
    slots = [sched.next_slot() for _ in range(9)]
    sched.finish(slots[0], None)
    sched.revise(slots[0], 0.01)
    for slot in slots[1:]:
        sched.finish(slot, 1.0 + slot.config_id)
    assert sched.brackets[0].current[0].config_id == 0
