"""The searcher: no repeats across brackets, sampling without replacement in a finite space, pending-aware EI."""
import logging
import math
from types import SimpleNamespace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hyperjump_advisor.schedule import Bracket, SlotStatus, StagePlan
from hyperjump_advisor.searcher import SearchOptions, Searcher
from hyperjump_advisor.searchspace import SearchSpace
from hyperjump_advisor.warmstart import believer_batch, expected_improvement, split_random_and_model

FINITE = {"a": {"_type": "choice", "_value": [0, 1, 2, 3, 4]}, "b": {"_type": "choice", "_value": ["x", "y", "z"]}}


class NotReady:
    ready = False


class FakeScheduler:
    def __init__(self):
        self.brackets = []

    def run(self, ids, budget, status=SlotStatus.DONE):
        """A finished one-stage bracket that ran ``ids`` at ``budget``."""
        bracket = Bracket(bracket_id=len(self.brackets), iteration=0, s=0, plan=[StagePlan(len(ids), budget)])
        bracket.fill_stage(0, ids)
        for slot in bracket.current:
            slot.status, slot.loss = status, (0.5 if status is SlotStatus.DONE else None)
        bracket.stage = 1
        self.brackets.append(bracket)


def searcher(space=FINITE, seed=0, **options):
    s = Searcher(seed, 0.3, SearchOptions(**options))
    s.set_space(SearchSpace(space))
    scheduler = FakeScheduler()
    s.attach(scheduler)
    return s, scheduler


def keys(s, ids):
    return [s.space.key(s.configs[c]) for c in ids]


def test_a_finite_space_is_exhausted_without_repeats_at_one_budget():
    s, scheduler = searcher()
    seen = []
    for n in (4, 5, 6):                       # 15 = the whole space, over three brackets at budget 1
        ids, _ = s.propose(n, NotReady(), None, budget=1)
        scheduler.run(ids, 1)
        seen += keys(s, ids)
    assert len(seen) == 15 and len(set(seen)) == 15


def test_a_configuration_run_at_a_larger_budget_is_not_proposed_at_a_smaller_one():
    s, scheduler = searcher()
    ids, _ = s.propose(3, NotReady(), None, budget=1)
    scheduler.run(ids[:1], 9)                 # promoted to 9: known there
    scheduler.run(ids[1:], 1)
    later, _ = s.propose(12, NotReady(), None, budget=3)
    assert keys(s, ids[:1])[0] not in keys(s, later)
    assert len(set(keys(s, later))) == 12     # the two run only at budget 1 may come back at 3, once


def test_failed_configurations_are_not_proposed_again():
    s, scheduler = searcher()
    ids, _ = s.propose(5, NotReady(), None, budget=1)
    scheduler.run(ids, 1, SlotStatus.FAILED)
    later, _ = s.propose(10, NotReady(), None, budget=3)
    assert not set(keys(s, ids)) & set(keys(s, later))


def test_an_exhausted_space_falls_back_to_the_least_explored_and_says_so(caplog):
    s, scheduler = searcher()
    ids, _ = s.propose(15, NotReady(), None, budget=1)
    scheduler.run(ids[:5], 27)
    scheduler.run(ids[5:], 1)
    with caplog.at_level(logging.INFO, logger="hyperjump_advisor"):
        again, _ = s.propose(10, NotReady(), None, budget=1)
    assert set(keys(s, again)) == set(keys(s, ids[5:]))   # the ten that ran only at budget 1, not the five at 27
    assert any("least explored" in r.getMessage() for r in caplog.records)


def test_an_infinite_space_rejects_repeats_and_the_old_behaviour_is_kept_when_off():
    space = {"a": {"_type": "uniform", "_value": [0, 1]}}
    s, scheduler = searcher(space)
    first, _ = s.propose(20, NotReady(), None, budget=1)
    assert s._grid is None and len(set(keys(s, first))) == 20
    off, _ = searcher(FINITE, no_repeat=False)
    ids, _ = off.propose(30, NotReady(), None, budget=1)
    assert len(ids) == 30 and len(set(keys(off, ids))) <= 15   # with replacement: 30 draws of 15 repeat


def test_pending_points_lower_ei_near_them():
    # two candidates of equal belief; candidate 0 is strongly correlated with a pending point, candidate 1 is not
    mean = np.array([0.30, 0.30, 0.30])
    cov = np.array([[0.01, 0.0, 0.0095],
                    [0.0, 0.01, 0.0],
                    [0.0095, 0.0, 0.01]])
    assert believer_batch(mean, cov, 2, 1, best=0.35) == [1]
    assert believer_batch(mean[:2], cov[:2, :2], 2, 1, best=0.35) == [0]   # without the pending point: a tie


def test_the_batch_spreads_out_and_the_target_follows_the_fantasies():
    # a cluster of three near-identical good candidates and one independent one slightly worse
    mean = np.array([0.20, 0.20, 0.20, 0.22])
    c = 0.01
    cov = np.full((4, 4), 0.99 * c)
    cov[3, :] = cov[:, 3] = 0.0
    np.fill_diagonal(cov, c)
    picked = believer_batch(mean, cov, 4, 2, best=0.3)
    assert picked[0] in (0, 1, 2) and picked[1] == 3
    plain = np.argsort(-expected_improvement(mean, np.sqrt(np.diag(cov)), 0.3), kind="stable")[:2]
    assert 3 not in plain          # plain EI would have crowded the cluster


class LinearModel:
    """loss = x[0] at every budget, std 0.1, correlation exp(-|dx|/0.05): a smooth known posterior."""
    ready = True

    def predict(self, X, budget):
        return X[:, 0].copy(), np.full(len(X), 0.1)

    def predict_joint(self, X, budgets):
        d = np.abs(X[:, :1] - X[:, :1].T)
        return [X[:, 0].copy() for _ in budgets], [0.01 * np.exp(-d / 0.05) for _ in budgets]


def test_model_picks_follow_the_model_and_avoid_pending_configurations():
    space = {"a": {"_type": "choice", "_value": list(range(40))}}
    s, scheduler = searcher(space, seed=1, pending_aware=True)
    s.random_fraction = 0.0
    ids, n_random = s.propose(3, LinearModel(), 0.5, budget=1)
    assert n_random == 0
    values = sorted(s.configs[c]["a"] for c in ids)
    assert values[0] == 0 and len(set(values)) == 3
    # those three are now pending in an open bracket: the next bracket's picks keep away from them
    bracket = Bracket(bracket_id=0, iteration=0, s=1, plan=[StagePlan(3, 1), StagePlan(1, 3)])
    bracket.fill_stage(0, ids)
    scheduler.brackets.append(bracket)
    more, _ = s.propose(3, LinearModel(), 0.5, budget=1)
    assert not set(keys(s, ids)) & set(keys(s, more))


class FakeRungs:
    """What the searcher reads of the async scheduler: its ``rungs`` (slots per rung and the log of the slots
    added, as ``async_schedule.state.Rungs`` keeps them) and ``all_slots``."""

    def __init__(self):
        self.rungs = SimpleNamespace(slots=[{}], added=[], replaced=0)

    @property
    def slots(self):
        return self.rungs.added

    @slots.setter
    def slots(self, slots):
        self.rungs.slots[0].update({s.config_id: s for s in slots})
        self.rungs.added.extend(slots)

    @property
    def brackets(self):
        return []

    def all_slots(self):
        return iter(self.rungs.added)


def test_async_pending_configurations_are_fantasised_by_the_believer():
    from hyperjump_advisor.schedule import Slot
    space = {"a": {"_type": "choice", "_value": list(range(40))}}
    s = Searcher(1, 0.0, SearchOptions(pending_aware=True))
    s.set_space(SearchSpace(space))
    rungs = FakeRungs()
    s.attach(rungs)
    ids, _ = s.propose(3, LinearModel(), 0.5, budget=1)
    rungs.slots = [Slot(0, 0, c, 1, status=SlotStatus.RUNNING) for c in ids]
    assert s._pending_ids() == ids
    near_pending, _ = s.propose(3, LinearModel(), 0.5, budget=1)
    for slot in rungs.slots:
        slot.status = SlotStatus.DONE
    assert s._pending_ids() == []
    near_done, _ = s.propose(3, LinearModel(), 0.5, budget=1)
    assert sorted(s.configs[c]["a"] for c in ids) == [0, 1, 2]
    # running configurations are fantasised at their means: the picks keep further from them than when done
    pending_values = sorted(s.configs[c]["a"] for c in near_pending)
    done_values = sorted(s.configs[c]["a"] for c in near_done)
    assert done_values == [3, 4, 5] and sum(pending_values) > sum(done_values)


@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=30),
       st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 1.0]))
def test_small_batches_keep_the_random_share_of_all_proposals(batches, fraction):
    from hyperjump_advisor.searcher import RunningShare
    share, total, drawn = RunningShare(), 0, 0
    for n in batches:
        n_random, n_model = share.split(n, fraction)
        assert n_random + n_model == n and n_random >= 0 and n_model >= 0
        total, drawn = total + n, drawn + n_random
        # the running share is the fraction rounded up, as split_random_and_model does per batch
        assert drawn == math.ceil(fraction * total - 1e-9)
    if all(n == 10 for n in batches) and float(fraction * 10).is_integer():   # the default batch and share
        assert drawn == len(batches) * split_random_and_model(10, fraction)[0]


@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=30),
       st.sampled_from([0.25, 0.5, 1.0]))
def test_small_batches_keep_local_searchs_share_of_the_model_chosen_ones(batches, fraction):
    """With the running share (exec_mode async), local search takes ceil(fraction * all model-chosen so far):
    a batch of one alternates between the neighbours of the best and the whole space, where a per-batch
    share would send every one of them to the neighbours."""
    from hyperjump_advisor.searcher import RunningShare
    share, total, local = RunningShare(), 0, 0
    for n in batches:
        wanted = share.wanted(n, fraction)
        assert 0 <= wanted <= n
        share.took(n, wanted)
        total, local = total + n, local + wanted
        assert local == math.ceil(fraction * total - 1e-9)
    one_at_a_time = RunningShare()
    picks = []
    for _ in range(6):
        picks.append(one_at_a_time.wanted(1, 0.5))
        one_at_a_time.took(1, picks[-1])
    assert picks == [1, 0, 1, 0, 1, 0]


def test_a_local_share_the_neighbours_cannot_fill_is_owed_to_later_batches():
    from hyperjump_advisor.searcher import RunningShare
    share = RunningShare()
    share.took(4, 0)                      # no anchors yet: none of the 2 wanted could be taken
    assert share.wanted(4, 0.5) == 4      # ceil(0.5 * 8) - 0
