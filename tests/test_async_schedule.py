"""exec_mode async: ASHA's rung logic against hand-computed promotions, and the rEAR rules on a fake posterior."""
import math

import numpy as np
import pytest

from hyperjump_advisor.async_schedule import AsyncScheduler
from hyperjump_advisor.async_schedule.rungs import (asha_promotable, bracket_start_costs, challengers, promotion_bar,
                                                    rung_plan)
from hyperjump_advisor.async_schedule.scheduler import NEW_CONFIG_BATCH
from hyperjump_advisor.async_schedule.state import Rungs
from hyperjump_advisor.jumping import RiskOptions
from hyperjump_advisor.schedule import SlotStatus


def counting_searcher():
    """New ids in ascending start order (the scheduler starts a batch from its end: model-chosen first)."""
    counter = {"next": 0}

    def new_configs(n, budget=None):
        start = counter["next"]
        counter["next"] += n
        return list(range(start + n - 1, start - 1, -1))
    return new_configs


def test_rungs_are_hyperbands_most_aggressive_bracket():
    assert [p.budget for p in rung_plan(81, 3)] == [1, 3, 9, 27, 81]
    assert [p.budget for p in rung_plan(16, 2)] == [1, 2, 4, 8, 16]
    assert [p.budget for p in rung_plan(60, 3)] == [2, 6, 20, 60]
    assert [p.budget for p in rung_plan(2, 3)] == [2]          # R < eta: one rung, plain random search at R


# (results in arrival order as (config, loss or None = failed), moved on, eta) -> ASHA's candidates, best first
PROMOTABLE = [
    ([(0, 0.5)], set(), 3, []),                                  # 1 result: top floor(1/3) = 0
    ([(0, 0.5), (1, 0.2)], set(), 3, []),
    ([(0, 0.5), (1, 0.2), (2, 0.9)], set(), 3, [1]),
    ([(0, 0.5), (1, 0.2), (2, 0.9)], {1}, 3, []),                # already moved on
    ([(0, 0.5), (1, 0.2), (2, 0.9), (3, 0.1), (4, 0.8), (5, 0.7)], {1}, 3, [3]),
    ([(0, 0.5), (1, 0.2), (2, 0.9), (3, 0.1), (4, 0.8), (5, 0.7)], set(), 3, [3, 1]),
    ([(0, None), (1, 0.5), (2, None)], set(), 3, [1]),            # failed ones rank last
    ([(0, None), (1, None), (2, None)], set(), 3, []),            # and never move on
    ([(0, 0.3), (1, 0.3), (2, 0.3), (3, 0.3)], set(), 2, [0, 1]),  # ties: earlier first
    ([(0, 0.4), (1, 0.1)], set(), 2, [1]),
]


@pytest.mark.parametrize("results,moved_on,eta,expected", PROMOTABLE)
def test_asha_promotable(results, moved_on, eta, expected):
    assert asha_promotable(results, eta, moved_on) == expected


# (results in arrival order, moved on, incumbent) -> the challenger of the rung, if any
CHALLENGERS = [
    ([], set(), None, []),
    ([(0, 0.5)], set(), None, [0]),                              # no incumbent yet: the rung's best moves up
    ([(0, 0.5)], set(), 0.4, []),                                # it does not beat the incumbent
    ([(0, 0.4)], set(), 0.4, []),                                # a tie does not beat it either
    ([(0, 0.5), (1, 0.3)], set(), 0.4, [1]),
    ([(0, 0.3), (1, 0.5)], {0}, None, []),                       # the best moved on: a worse result is no record
    ([(0, 0.3), (1, 0.2)], {0}, None, [1]),                      # a new record is
    ([(0, None), (1, None)], set(), None, []),                   # failed results never move on
    ([(0, 0.3), (1, 0.3)], set(), None, [0]),                    # ties: earlier first
]


@pytest.mark.parametrize("results,moved_on,incumbent,expected", CHALLENGERS)
def test_challengers(results, moved_on, incumbent, expected):
    assert challengers(results, moved_on, incumbent) == expected


def test_a_rung_record_that_beats_the_incumbent_moves_up_before_asha_would_rank_it():
    """One bracket, R=9, eta=3. The first configuration climbs to R (no incumbent yet); a worse one stays;
    a better one leaves rung 0 by ASHA's rule (top third of three) and rung 1 at once, with two results
    there where ASHA needs three."""
    events = []
    sched = AsyncScheduler(9, 3, counting_searcher(), several_brackets=False, on_event=events.append)
    loss = {0: 0.5, 1: 0.6, 2: 0.2}
    dispatched = []
    for _ in range(7):
        slot = sched.next_slot()
        dispatched.append((slot.config_id, slot.budget))
        sched.finish(slot, loss[slot.config_id])
    assert dispatched == [(0, 1), (0, 3), (0, 9), (1, 1), (2, 1), (2, 3), (2, 9)]
    kinds = [e["kind"] for e in events if e.get("event") == "promotion"]
    assert kinds == ["challenger", "challenger", "asha", "challenger"]


@pytest.mark.parametrize("losses,divisor,expected", [
    ([], 3, None), ([0.4], 3, 0.4), ([0.4, 0.1], 3, 0.1), ([0.4, 0.1, 0.3], 2, 0.3), ([0.5, 0.4, 0.1, 0.3, 0.2], 3, 0.2),
    ([0.5, 0.4, 0.1, 0.3, 0.2], 9, 0.1)])
def test_promotion_bar_is_the_rank_a_newcomer_must_beat(losses, divisor, expected):
    assert promotion_bar(losses, divisor) == expected


# Serial ASHA, eta=3, R=9 (rungs 1, 3, 9), loss of config c = LOSS[c] at every budget. Hand-computed:
# after c0..c2 rung 0 has 3 results, its top 1 (c1) moves to 3; c3 (4 results, top 1) moves to 3; c4..c8 fill
# rung 0 to 9 results (top 3: c3, c1, c6) so c6 moves to 3; rung 1 then has 3 results (top 1: c3) so c3 moves
# to 9; then nothing is promotable and c9 starts.
LOSS = {0: 0.5, 1: 0.2, 2: 0.9, 3: 0.1, 4: 0.8, 5: 0.7, 6: 0.3, 7: 0.6, 8: 0.4, 9: 0.95, 10: 0.05}
ASHA_R9_ETA3 = [(0, 1), (1, 1), (2, 1), (1, 3), (3, 1), (3, 3), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (6, 3),
                (3, 9), (9, 1)]


def test_serial_asha_matches_the_hand_computed_promotions():
    sched = AsyncScheduler(9, 3, counting_searcher(), several_brackets=False, promote_challengers=False)
    dispatched = []
    for _ in ASHA_R9_ETA3:
        slot = sched.next_slot()
        dispatched.append((slot.config_id, slot.budget))
        assert sched.finish(slot, LOSS[slot.config_id]) == []
    assert dispatched == ASHA_R9_ETA3


def test_parallel_asha_promotes_as_soon_as_a_result_ranks():
    """Four workers: nothing is promotable until three results are in, then the best moves at once."""
    sched = AsyncScheduler(9, 3, counting_searcher(), several_brackets=False, promote_challengers=False)
    running = [sched.next_slot() for _ in range(4)]
    assert [(x.config_id, x.budget) for x in running] == [(0, 1), (1, 1), (2, 1), (3, 1)]
    for x in running[:2]:
        sched.finish(x, LOSS[x.config_id])
    assert (sched.next_slot().config_id, 1) == (4, 1)           # 2 results: nothing ranks in a top third
    sched.finish(running[2], LOSS[2])
    promoted = sched.next_slot()
    assert (promoted.config_id, promoted.budget, promoted.stage) == (1, 3, 1)


def test_failed_results_count_as_the_worst_and_a_late_metric_revises_once():
    sched = AsyncScheduler(9, 3, counting_searcher(), several_brackets=False)
    slots = [sched.next_slot() for _ in range(3)]
    sched.finish(slots[0], None)
    sched.finish(slots[1], math.nan)
    sched.finish(slots[2], 0.7)
    assert [x.status for x in slots] == [SlotStatus.FAILED, SlotStatus.FAILED, SlotStatus.DONE]
    assert sched.next_slot().config_id == 2 and sched.rungs.slots[1][2].budget == 3
    sched.revise(slots[0], 0.1)                                   # its final metric came after its end
    sched.revise(slots[0], 0.05)                                  # a second one is not used
    sched.finish(slots[0], 0.01)                                  # nor a second finish
    assert slots[0].status is SlotStatus.DONE and slots[0].loss == 0.1
    assert sched.rungs.results[0] == [0, 1, 2], "each result counts once"


def test_new_configurations_come_in_batches_from_the_searcher():
    calls = []

    def searcher(n, budget):
        calls.append((n, budget))
        return list(range(100 * len(calls), 100 * len(calls) + n))
    sched = AsyncScheduler(1, 3, searcher)                        # R < eta: every trial is new, at R
    ids = [sched.next_slot().config_id for _ in range(NEW_CONFIG_BATCH + 1)]
    assert calls == [(NEW_CONFIG_BATCH, 1), (NEW_CONFIG_BATCH, 1)]
    assert ids[0] == 100 + NEW_CONFIG_BATCH - 1 and len(set(ids)) == len(ids)


def test_each_start_rung_has_its_own_batch_proposed_for_its_budget():
    calls = []

    def searcher(n, budget):
        calls.append(budget)
        return list(range(100 * len(calls), 100 * len(calls) + n))
    sched = AsyncScheduler(9, 3, searcher)                        # rungs 1, 3, 9
    starts = [sched.next_slot() for _ in range(3)]
    assert [x.budget for x in starts] == [9, 3, 1] and calls == [9, 3, 1]
    assert all(x.config_id == 100 * (k + 1) + NEW_CONFIG_BATCH - 1 for k, x in enumerate(starts))
    assert [len(q) for q in sched.rungs.queue] == [NEW_CONFIG_BATCH - 1] * 3
    restored = AsyncScheduler(9, 3, searcher).load_dict(sched.to_dict())
    assert restored.queue == sched.rungs.queue
    old = dict(sched.to_dict(), queue=[7, 8])                     # a one-bracket version's flat queue: rung 0's
    assert AsyncScheduler(9, 3, searcher).load_dict(old).queue == [[7, 8], [], []]


# ---- the rEAR rules with a fake posterior ----------------------------------------------------------------------
class FakePolicy:
    """What AsyncScheduler reads of a RiskPolicy: a posterior N(mean[c], std[c]^2) at every budget."""

    def __init__(self, mean, std, threshold=0.1, incumbent=None, ready=True):
        self.options = RiskOptions(eta=3, R=9, threshold=threshold, best_loss=0.0)
        self.posterior = self
        self.mean, self.std, self._ready, self.incumbent = mean, std, ready, incumbent

    @property
    def ready(self):
        return self._ready

    def encode(self, configs):
        return np.array([[float(c)] for c in configs])

    def predict(self, X, budget):
        rows = [int(x) for x in X[:, 0]]
        return np.array([self.mean[c] for c in rows]), np.array([self.std[c] for c in rows])

    def incumbent_loss(self):
        return self.incumbent


def scheduler_with(policy, R=27, no_jump=False):
    sched = AsyncScheduler(R, 3, counting_searcher(), draw_no_jump=lambda: no_jump, several_brackets=False)
    sched.policy = policy
    return sched


def fill_rung0(sched, losses):
    slots = [sched.next_slot() for _ in losses]
    for x, loss in zip(slots, losses):
        sched.finish(x, loss)
    return slots


def test_a_sure_winner_jumps_past_rungs_and_a_doubtful_one_does_not():
    # R=27: rungs 1, 3, 9, 27. Config 0 is predicted far below everyone's bar with no doubt: it skips rungs 1 and 2.
    mean = {c: 0.5 + 0.01 * c for c in range(20)}
    mean[0] = 0.05
    policy = FakePolicy(mean, {c: 0.01 for c in range(20)})
    sched = scheduler_with(policy)
    fill_rung0(sched, [0.05, 0.6, 0.7])
    promoted = sched.next_slot()
    assert (promoted.config_id, promoted.stage, promoted.budget) == (0, 3, 27)
    # the same with a vague belief (std 1): it only moves one rung (ASHA)
    sched = scheduler_with(FakePolicy(mean, {c: 1.0 for c in range(20)}))
    fill_rung0(sched, [0.05, 0.6, 0.7])
    assert sched.next_slot().stage == 1


def test_no_jump_for_a_configuration_whose_own_result_the_model_does_not_explain():
    # config 0 is believed at 0.05 +- 0.01 but measured 0.1 at rung 0 (5 std away): ASHA's one rung, unless told
    mean = {c: 0.5 + 0.01 * c for c in range(20)}
    mean[0] = 0.05
    for explain, stage in ((True, 1), (False, 3)):
        sched = scheduler_with(FakePolicy(mean, {c: 0.01 for c in range(20)}))
        sched.explain_jumps = explain
        fill_rung0(sched, [0.1, 0.6, 0.7])
        assert sched.next_slot().stage == stage


@pytest.mark.parametrize("change", ["threshold0", "not_ready", "no_jump"])
def test_without_risk_it_is_plain_asha(change):
    mean = {c: 0.5 for c in range(20)}
    mean[0] = 0.05
    policy = FakePolicy(mean, {c: 0.01 for c in range(20)}, threshold=0.0 if change == "threshold0" else 0.1,
                        ready=change != "not_ready", incumbent=0.01)
    sched = scheduler_with(policy, no_jump=change == "no_jump")
    fill_rung0(sched, [0.1, 0.6, 0.7])
    assert sched.next_slot().stage == 1
    assert all(not m for m in sched.rungs.moved_on[1:])


def test_a_last_promotion_whose_candidates_cannot_beat_the_incumbent_stops():
    # incumbent 0.01; every configuration is predicted at 0.6 +- 0.01 at R: no chance of holding the best
    # R=3: rungs 1 and 3, so rung 0's candidates are weighed against the incumbent at R
    policy = FakePolicy({c: 0.6 for c in range(20)}, {c: 0.01 for c in range(20)}, incumbent=0.01)
    sched = scheduler_with(policy, R=3)
    slots = [sched.next_slot() for _ in range(4)]
    sched.finish(slots[0], 0.595)
    sched.finish(slots[1], 0.6)
    dropped = sched.finish(slots[2], 0.61)                        # now config 0 is promotable: the rung is checked
    assert dropped == [] and slots[3].status is SlotStatus.RUNNING, "no result of its own: the model is not judged"
    assert sched.rungs.moved_on[0] == {0}
    assert sched.next_slot().stage == 0, "nothing is promoted: a new configuration starts"
    # a hopeful candidate keeps the rung open
    policy.mean[5] = 0.0
    policy.std[5] = 0.2
    sched2 = scheduler_with(policy, R=3)
    s2 = [sched2.next_slot() for _ in range(6)]
    for x, loss in zip(s2[:5], [0.5, 0.6, 0.7, 0.8, 0.9]):
        assert sched2.finish(x, loss) == []


def test_rungs_round_trip_through_json():
    import json
    sched = AsyncScheduler(9, 3, counting_searcher(), draw_no_jump=lambda: True, several_brackets=False,
                           promote_challengers=False)
    for slot_loss in [0.3, None, 0.2, 0.5]:
        sched.finish(sched.next_slot(), slot_loss)
    sched.next_slot()                                             # one running
    d = json.loads(json.dumps(sched.to_dict()))
    other = AsyncScheduler(9, 3, counting_searcher(), several_brackets=False)
    other.install(other.load_dict(d))
    assert other.to_dict() == sched.to_dict()
    assert other.rungs.slot(1, 2).loss == 0.5 and other.rungs.slot(0, 3).status is SlotStatus.RUNNING
    with pytest.raises(ValueError):
        AsyncScheduler(27, 3, counting_searcher(), several_brackets=False).load_dict(d)  # another R
    broken = json.loads(json.dumps(d))
    broken["results"][0].append(99)
    with pytest.raises(ValueError):
        Rungs.from_dict(broken)


def test_stops_of_a_rung_share_one_rear_budget_per_virtual_stage():
    """Small pieces may not each pass where the whole would not: a spent budget blocks further stops until
    the rung has seen the next block of n_k results (stage k of Hyperband's bracket s_max)."""
    policy = FakePolicy({c: 0.6 for c in range(40)}, {c: 0.01 for c in range(40)}, incumbent=0.01)
    sched = scheduler_with(policy, R=3)
    assert sched.rungs.plan[0].n == 3
    sched.rungs.stop_rear[0] = [1, 0.1]                           # lambda already spent in virtual stage 1
    slots = [sched.next_slot() for _ in range(4)]
    for x, loss in zip(slots, [0.595, 0.6, 0.61]):
        assert sched.finish(x, loss) == []
    assert not sched.rungs.moved_on[0]
    sched.rungs.stop_rear[0] = [0, 0.1]                           # stale: virtual stage 1 gets a fresh budget
    assert sched.finish(slots[3], 0.62) == [] and sched.rungs.moved_on[0] == {0}
    assert sched.rungs.stop_rear[0][0] == 1 and 0 <= sched.rungs.stop_rear[0][1] <= 0.1


def test_only_the_rung_below_the_top_stops():
    """R=9: hopeless candidates at rung 0 are left to ASHA; at rung 1 (below R) the last promotion stops."""
    policy = FakePolicy({c: 0.6 for c in range(40)}, {c: 0.01 for c in range(40)})
    sched = scheduler_with(policy, R=9)
    r = sched.rungs
    for c, loss in [(0, 0.595), (1, 0.6), (2, 0.6)]:
        sched.finish(r.add(0, c), loss)
    policy.incumbent = 0.01
    assert sched.finish(r.add(0, 3), 0.6) == [] and not r.moved_on[0], "rung 0 is not stopped by the model"
    for c, loss in [(0, 0.595), (1, 0.6)]:
        r.moved_on[0].add(c)
        sched.finish(r.add(1, c), loss)
    running = r.add(1, 2)
    assert sched.finish(r.add(1, 3), 0.61) == [running] and r.moved_on[1] == {0, 2}


def test_no_stop_on_a_candidate_whose_belief_contradicts_its_own_result():
    """The GP says 0.6 +- 0.01 at every budget, config 0 measured 0.1: the model is not trusted on it."""
    policy = FakePolicy({c: 0.6 for c in range(20)}, {c: 0.01 for c in range(20)}, incumbent=0.01)
    sched = scheduler_with(policy, R=3)
    slots = [sched.next_slot() for _ in range(3)]
    for x, loss in zip(slots, [0.1, 0.6, 0.6]):
        assert sched.finish(x, loss) == []
    assert not sched.rungs.moved_on[0] and sched.next_slot().stage == 1


# ---- several brackets (async Hyperband's start rule) -------------------------------------------------------
@pytest.mark.parametrize("R,eta", [(81, 3), (16, 2), (600, 3), (9, 3)])
def test_start_costs_are_hyperbands_budget_per_configuration_of_each_bracket(R, eta):
    from hyperjump_advisor.schedule import iteration_plan
    for plan, cost in zip(reversed(iteration_plan(R, eta)), bracket_start_costs(R, eta)):   # s = 0, 1, ...
        assert cost == pytest.approx(sum(p.n * p.budget for p in plan) / plan[0].n)
    assert bracket_start_costs(R, eta)[0] == R       # bracket 0 runs its configurations once, at R


@pytest.mark.parametrize("R,eta", [(81, 3), (16, 2), (27, 3)])
def test_starts_give_every_bracket_the_same_budget_and_the_first_runs_at_R(R, eta):
    sched = AsyncScheduler(R, eta, counting_searcher())
    costs = bracket_start_costs(R, eta)
    top = sched.rungs.top
    starts = [sched.next_slot() for _ in range(400)]     # no results: every slot is a new configuration
    assert starts[0].budget == R and starts[0].stage == top
    charged = [0.0] * len(costs)
    for x in starts:
        assert x.budget == sched.rungs.plan[x.stage].budget
        charged[top - x.stage] += costs[top - x.stage]
    assert charged == pytest.approx(sched.rungs.allocated)
    assert max(charged) - min(charged) <= max(costs)    # equal budgets, to one start
    assert len({x.config_id for x in starts}) == len(starts)


def test_a_configuration_started_above_rung_0_is_ranked_and_promoted_in_its_rung():
    sched = AsyncScheduler(9, 3, counting_searcher())   # rungs 1, 3, 9; brackets s = 0, 1, 2
    first = [sched.next_slot() for _ in range(6)]
    assert [x.budget for x in first][:3] == [9, 3, 1]
    at_3 = [x for x in first if x.budget == 3]
    for x, loss in zip(at_3, [0.2, 0.5, 0.6][:len(at_3)]):
        sched.finish(x, loss)
    assert sched.rungs.results[1] == [x.config_id for x in at_3]


def test_allocated_budgets_round_trip_and_states_without_them_load():
    sched = AsyncScheduler(9, 3, counting_searcher())
    for _ in range(5):
        sched.next_slot()
    d = sched.to_dict()
    assert AsyncScheduler(9, 3, counting_searcher()).load_dict(d).allocated == sched.rungs.allocated
    old = dict(d)
    del old["allocated"]
    assert AsyncScheduler(9, 3, counting_searcher()).load_dict(old).allocated == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        AsyncScheduler(9, 3, counting_searcher()).load_dict(dict(d, allocated=[1.0, math.nan, 0.0]))
