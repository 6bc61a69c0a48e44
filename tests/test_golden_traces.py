"""The advisor reproduces its recorded command traces exactly (see tests/golden_traces.py)."""
import pytest

import golden_traces as golden

FAST = [c for c in golden.CASES if c.fast]
SHARED = [c for c in golden.CASES if not c.fast]


def check(case):
    if not golden.shared_available(case):
        pytest.skip(f"{case.table} needs ../shared/benchmarks/hyperjump-tables beside the repository")
    expected = golden.load(case)
    difference = golden.first_difference(expected, golden.replay_inputs(case, expected))
    assert difference is None, (f"{case.name} diverged from its golden trace at {difference}\n(if only under "
                                "another BLAS kernel: a decision compares computed floats outside "
                                "hyperjump_advisor/ties.py's rule)")


@pytest.mark.parametrize("case", FAST, ids=lambda c: c.name)
def test_golden_trace_without_shared_tables(case):
    check(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SHARED, ids=lambda c: c.name)
def test_golden_trace_on_a_shared_table(case):
    check(case)


def test_the_golden_traces_exercise_jumps_kills_and_faults():
    outs = {c.name: [step[1] for step in golden.load(c) if step[0] == "out"] for c in FAST}
    assert any("KillTrialJob" in names for names in outs.values()), "a jump killed running trials somewhere"
    ins = [step for step in golden.load(golden.BY_NAME["synthetic-w4-faults-s4"]) if step[0] == "in"]
    events = {step[2].get("event") for step in ins if step[1] == "TrialEnd"}
    assert {"FAILED", "USER_CANCELED", "SUCCEEDED"} <= events


def test_the_default_traces_weigh_brackets_by_what_they_measured():
    """The learned cases end with every rung's correlation to R measured, and brackets weighed by it."""
    case = golden.BY_NAME["synthetic-w8-async-learned-s10"]
    advisor, _ = golden.replayed(case, golden.load(case))
    _, rates, _ = advisor.engine.scheduler.choose_bracket.weights()
    assert all(r is not None for r in rates) and len(set(rates)) == len(rates)
