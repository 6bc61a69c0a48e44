"""Parallel execution and faults through the replay: workers never idle while work exists, no stall, results used once."""
import pytest

from hyperjump_advisor.replay import advisors
from hyperjump_advisor.replay.faults import Faults
from hyperjump_advisor.replay.simulator import SimConfig, Simulator
from hyperjump_advisor.replay.tables import auto_time_limit, resolve_R_eta
from hyperjump_advisor.schedule import SlotStatus

from conftest import shared_table

pytestmark = pytest.mark.slow


def replay(workers, seed, faults=Faults(), iterations=1, **class_args):
    table = shared_table("mnist_epochs")
    budgets = resolve_R_eta(table)
    class_args = {"exec_mode": "parallelism", **class_args}   # the synchronous brackets' parallelism
    advisor = advisors.get("hyperjump").build(R=budgets.R, eta=budgets.eta, seed=seed, class_args=class_args)
    limit = auto_time_limit(table, budgets, workers, iterations)
    result = Simulator(advisor, table, budgets, SimConfig(workers=workers, time_limit=limit, faults=faults)).run()
    return advisor, result, limit


def first_bracket_end(advisor, result):
    ids = {pid for pid, t in advisor.engine.ledger.trials.items() if t.slot.bracket_id == 0}
    return max(t["end"] for t in result["trials"] if t["parameter_id"] in ids)


@pytest.mark.parametrize("workers", [8, 32])
def test_no_worker_idles_while_work_exists_beyond_the_first_bracket_hold(workers):
    advisor, result, limit = replay(workers, seed=3, iterations=3, hold_first_bracket=True)
    assert result["error"] is None and result["queued_trials"] == 0 and result["end_reason"] == "time_limit"
    started = result["trials"] + result["unfinished"]
    starts = {round(t["start"], 9) for t in started}
    held_until = first_bracket_end(advisor, result)
    ends = [t["end"] for t in result["trials"] if t["end"] > held_until]
    assert len(ends) > 3 * workers
    for end in ends:
        assert round(end, 9) in starts, f"a worker freed at {end:.1f} s stayed idle"
    # the paper's rule: while the first bracket runs, no second bracket takes its workers
    first_ids = {pid for pid, t in advisor.engine.ledger.trials.items() if t.slot.bracket_id == 0}
    second = [t["start"] for t in result["trials"] if t["parameter_id"] not in first_ids]
    assert min(second) >= held_until, "no other bracket takes workers while the first one runs"
    killed = [t for t in result["trials"] if t["status"] == "KILLED"]
    for victim in killed:
        assert round(victim["end"], 9) in starts, "a killed trial's worker goes to new work at once"
    assert max(result["decision_ms"]) < 5000


@pytest.mark.parametrize("seed", range(6))
def test_faults_never_stall_and_every_result_counts_once(seed):
    faults = Faults(fail=0.3, cancel=0.05, duplicate_final=0.1, final_after_end=0.1, seed=seed)
    advisor, result, _ = replay(4, seed, faults=faults, iterations=2)
    assert result["error"] is None and not result["advisor_errors"]
    assert result["end_reason"] == "time_limit" and result["queued_trials"] == 0
    failed = [t for t in result["trials"] if t["status"] == "FAILED"]
    assert len(failed) > 0.15 * len(result["trials"])
    for t in result["trials"]:
        slot = advisor.engine.ledger.trials[t["parameter_id"]].slot
        if t["status"] == "FAILED" and slot.status is not SlotStatus.SKIPPED:
            assert slot.status is SlotStatus.FAILED
        if slot.status is SlotStatus.DONE:
            assert slot.loss == pytest.approx(t["loss"])
            finals = [o for o in advisor.engine.evidence.observations if o[:2] == (slot.config_id, slot.budget)]
            assert len(finals) == 1, "a duplicated or late final metric is used once"
    # the stages went on: results at the top budget despite 30% failures
    assert result["incumbent"]


@pytest.mark.parametrize("workers", [8, 32])
def test_by_default_no_worker_ever_idles(workers):
    advisor, result, _ = replay(workers, seed=3, iterations=2)
    assert result["error"] is None and result["queued_trials"] == 0
    started = result["trials"] + result["unfinished"]
    starts = {round(t["start"], 9) for t in started}
    assert len(result["trials"]) > 3 * workers
    for t in result["trials"]:
        assert round(t["end"], 9) in starts, f"a worker freed at {t['end']:.1f} s stayed idle"
    first_ids = {pid for pid, t in advisor.engine.ledger.trials.items() if t.slot.bracket_id == 0}
    assert min(t["start"] for t in result["trials"] if t["parameter_id"] not in first_ids) < \
        first_bracket_end(advisor, result), "idle workers opened brackets while the first one ran"
