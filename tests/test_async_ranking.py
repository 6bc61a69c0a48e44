"""The rungs' ranking (async_schedule/ranking.py) answers as the reference functions of rungs.py, whatever the
order of results, failures, revisions and moves."""
import random

import pytest

from hyperjump_advisor.async_schedule.ranking import RungRanking
from hyperjump_advisor.async_schedule.rungs import asha_promotable, challengers, rung_plan
from hyperjump_advisor.async_schedule.state import Rungs
from hyperjump_advisor.schedule import SlotStatus


@pytest.mark.parametrize("seed", range(20))
def test_the_ranking_gives_the_reference_answers_after_every_change(seed):
    rng = random.Random(seed)
    eta = rng.choice([2, 3, 4])
    rungs = Rungs(rung_plan(81, 3))
    ranking = RungRanking(rungs)
    next_id = 0
    for _ in range(400):
        k = rng.randrange(len(rungs.plan))
        action = rng.random()
        if action < 0.6:                      # a result: ties on purpose, some failed
            slot = rungs.add(k, next_id)
            next_id += 1
            slot.record(None if rng.random() < 0.15 else float(rng.randrange(20)))
            rungs.results[k].append(slot.config_id)
        elif action < 0.8 and rungs.results[k]:   # a move: promoted or dropped
            rungs.moved_on[k].add(rng.choice(rungs.results[k]))
        elif action < 0.85:                   # a failed result revised (scheduler.revise)
            failed = [c for c in rungs.results[k] if rungs.slots[k][c].status is SlotStatus.FAILED]
            if failed:
                x = rungs.slots[k][rng.choice(failed)]
                x.status, x.loss = SlotStatus.DONE, float(rng.randrange(20))
                ranking.revised(k)
        ranking.sync()
        incumbent = rng.choice([None, float(rng.randrange(20))])
        for j in range(len(rungs.plan)):
            pairs = rungs.result_pairs(j)
            expected = asha_promotable(pairs, eta, rungs.moved_on[j])
            assert ranking.asha_first(j, eta) == (expected[0] if expected else None)
            expected = challengers(pairs, rungs.moved_on[j], incumbent)
            assert ranking.challenger(j, incumbent) == (expected[0] if expected else None)
            losses = [loss for _, loss in pairs if loss is not None]
            assert ranking.best_loss(j) == (min(losses) if losses else None)
