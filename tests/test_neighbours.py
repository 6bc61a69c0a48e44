"""Local search (classArg local_search): neighbours on each parameter's grid, the anchors, the searcher's picks."""
import numpy as np

from hyperjump_advisor.neighbours import anchors, local_pool, neighbours, parameter_moves, results_by_budget
from hyperjump_advisor.schedule import Bracket, SlotStatus, StagePlan
from hyperjump_advisor.searcher import SearchOptions, Searcher
from hyperjump_advisor.searchspace import SearchSpace

MIXED = SearchSpace({
    "lr": {"_type": "choice", "_value": [0.1, 0.001, 0.01]},         # ordinal, listed out of order
    "act": {"_type": "choice", "_value": ["relu", "tanh", "elu"]},   # categorical
    "layers": {"_type": "randint", "_value": [1, 4]},                # 1, 2, 3
    "dropout": {"_type": "quniform", "_value": [0.0, 1.0, 0.05]},
})


def differing(a, b):
    return [k for k in a if repr(a[k]) != repr(b[k])]


def test_every_neighbour_is_a_valid_distinct_configuration_one_step_away():
    centre = {"lr": 0.01, "act": "tanh", "layers": 2, "dropout": 0.5}
    found = neighbours(MIXED, centre)
    keys = [MIXED.key(c) for c in found]
    assert len(set(keys)) == len(keys) and MIXED.key(centre) not in keys
    for c in found:
        assert MIXED.decode(MIXED.encode(c)) == c            # a point of the space
        assert len(differing(c, centre)) == 1
    by_param = {p: sorted(repr(c[p]) for c in found if differing(c, centre) == [p]) for p in centre}
    assert by_param["lr"] == sorted([repr(0.001), repr(0.1)])   # the adjacent values in numeric order
    assert by_param["act"] == sorted([repr("relu"), repr("elu")])
    assert by_param["layers"] == ["1", "3"]
    assert len(by_param["dropout"]) == 2 and all(abs(float(v) - 0.5) < 0.2 for v in by_param["dropout"])


def test_a_value_at_the_edge_of_its_grid_has_one_neighbour_on_that_parameter():
    lr = MIXED.parameters[0]
    assert parameter_moves(lr, 0.1) == [0.01]
    assert parameter_moves(lr, 0.001) == [0.01]
    assert parameter_moves(MIXED.parameters[2], 3) == [2]


def test_the_pool_leaves_out_the_centres_and_what_is_excluded():
    a = {"lr": 0.01, "act": "tanh", "layers": 2, "dropout": 0.5}
    b = dict(a, layers=3)                                   # a neighbour of a, and a centre itself
    ran = dict(a, act="relu")
    pool = local_pool(MIXED, [a, b], {MIXED.key(ran)})
    keys = [MIXED.key(c) for c in pool]
    assert len(set(keys)) == len(keys)
    assert not {MIXED.key(a), MIXED.key(b), MIXED.key(ran)} & set(keys)
    assert all(len(differing(c, a)) == 1 or len(differing(c, b)) == 1 for c in pool)


def test_anchors_come_from_the_highest_budget_with_enough_results():
    results = {
        9.0: [(0.1, ("top",))],                                             # too few results
        3.0: [(0.4, ("a",)), (0.2, ("b",)), (0.3, ("c",)), (0.9, ("b",)), (0.5, ("d",))],
        1.0: [(0.0, (str(i),)) for i in range(10)],
    }
    assert anchors(results, needed=4, k=2) == [("b",), ("c",)]             # b counts once, with its best loss
    assert anchors(results, needed=5, k=2) == [("0",), ("1",)]             # 3.0 has only 4 distinct keys
    assert anchors(results, needed=11) == []


class FakeScheduler:
    def __init__(self):
        self.brackets = []

    def run(self, ids, losses, budget):
        bracket = Bracket(bracket_id=len(self.brackets), iteration=0, s=0, plan=[StagePlan(len(ids), budget)])
        bracket.fill_stage(0, ids)
        for slot, loss in zip(bracket.current, losses):
            slot.status, slot.loss = SlotStatus.DONE, loss
        bracket.stage = 1
        self.brackets.append(bracket)


class FlatModel:
    """The same prediction everywhere: EI cannot tell configurations apart, so the pool decides."""
    ready = True

    def predict(self, X, budget):
        return np.full(len(X), 0.5), np.full(len(X), 0.1)


def test_local_picks_are_unseen_neighbours_of_the_best_configurations():
    grid = {"a": {"_type": "choice", "_value": list(range(10))}, "b": {"_type": "choice", "_value": list(range(10))}}
    s = Searcher(0, 0.0, SearchOptions(local_search=1.0))
    s.set_space(SearchSpace(grid))
    scheduler = FakeScheduler()
    s.attach(scheduler)
    first = [s.add(c, s.space.encode(c)) for c in ({"a": i, "b": i} for i in range(10))]
    scheduler.run(first, [0.9 - 0.05 * i for i in range(10)], budget=1)   # best: (9, 9), (8, 8), (7, 7)
    ids, _ = s.propose(6, FlatModel(), 0.4, budget=1)
    picked = [s.configs[c] for c in ids]
    ran = {s.space.key(s.configs[c]) for c in first}
    assert len({s.space.key(c) for c in picked}) == 6 and not {s.space.key(c) for c in picked} & ran
    centres = [{"a": i, "b": i} for i in (9, 8, 7)]
    assert all(any(len(differing(c, centre)) == 1 for centre in centres) for c in picked)


def test_results_by_budget_keeps_only_measured_losses():
    scheduler = FakeScheduler()
    scheduler.run([0, 1], [0.3, 0.4], budget=3)
    scheduler.brackets[0].slots[0][1].status = SlotStatus.FAILED
    slots = [s for b in scheduler.brackets for st in b.slots for s in st]
    assert results_by_budget(slots, lambda c: (str(c),)) == {3.0: [(0.3, ("0",))]}
    assert results_by_budget(slots, lambda c: None) == {}
