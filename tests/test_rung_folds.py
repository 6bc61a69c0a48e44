"""RungFolds (what the async rungs hold per configuration key, kept incrementally) against the full pass over
every slot that it replaces, under random sequences of starts, results, failures, kills, revisions and
replacements (hypothesis)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperjump_advisor import neighbours
from hyperjump_advisor.async_schedule.state import Rungs
from hyperjump_advisor.rung_folds import RungFolds
from hyperjump_advisor.schedule import SlotStatus, StagePlan
from hyperjump_advisor.searcher_memo import fold_slots

PLAN = [StagePlan(9, 1), StagePlan(3, 3), StagePlan(1, 9)]
N_CONFIGS = 8
KEYS = [("a",), ("b",), ("c",), ("a",), None, ("d",), ("e",), ("b",)]   # ids 0 and 3 share a key; 4 has none

op = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 2), st.integers(0, N_CONFIGS - 1)),
    st.tuples(st.sampled_from(["done", "failed", "skipped", "revise"]), st.integers(0, 40),
              st.floats(0.0, 1.0, allow_nan=False)),
)


def full_pass(rungs):
    largest = {}
    fold_slots(largest, (s for rung in rungs.slots for s in rung.values()), KEYS)
    results = neighbours.results_by_budget((s for rung in rungs.slots for s in rung.values()),
                                           lambda c: KEYS[c])
    return largest, {b: sorted(r) for b, r in results.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=40))
def test_the_folds_equal_the_full_pass_after_every_change(ops):
    rungs, folds = Rungs(PLAN), RungFolds()
    for kind, a, b in ops:
        if kind == "add":
            rungs.add(a, b)
        elif rungs.added:
            slot = rungs.added[a % len(rungs.added)]
            if kind == "done" and slot.status is SlotStatus.RUNNING:
                slot.status, slot.loss = SlotStatus.DONE, b
            elif kind == "failed" and slot.status is SlotStatus.RUNNING:
                slot.status = SlotStatus.FAILED
            elif kind == "skipped" and slot.status is SlotStatus.RUNNING:
                slot.status = SlotStatus.SKIPPED
            elif kind == "revise" and slot.status is SlotStatus.FAILED:   # a FINAL after its TrialEnd
                slot.status, slot.loss = SlotStatus.DONE, b
        folds.update(rungs, KEYS)
        largest, results = full_pass(rungs)
        assert folds.largest() == largest
        assert {b: sorted(r) for b, r in folds.results().items()} == results
        for pairs in results.values():
            for _, key in pairs:
                assert KEYS[folds.config_of(key)] == key


def test_another_rungs_object_after_a_resume_starts_over():
    rungs, folds = Rungs(PLAN), RungFolds()
    slot = rungs.add(0, 1)
    slot.status, slot.loss = SlotStatus.DONE, 0.5
    rungs.results[0].append(1)
    folds.update(rungs, KEYS)
    restored = Rungs.from_dict(rungs.to_dict())
    assert restored.added == []
    folds.update(restored, KEYS)
    assert folds.largest() == {("b",): 1.0} and folds.results() == {1.0: [(0.5, ("b",))]}
