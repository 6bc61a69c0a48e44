"""Stateful property test: a fake NNI 3.0 manager drives HyperJump with every command, in any order,
with faults (tests/protocol_machine.py has the rules and the invariants). Short profile for make test;
benchmarks/fuzz_protocol.py runs the long campaign and counts failures by kind."""
from hypothesis import HealthCheck, settings

from protocol_machine import ProtocolMachine


class ShortProfile(ProtocolMachine):
    STRICT = True


ShortProfile.TestCase.settings = settings(max_examples=25, stateful_step_count=40, deadline=None, derandomize=True,
                                          suppress_health_check=list(HealthCheck), database=None)
TestProtocolMachine = ShortProfile.TestCase


class DefaultStarts(ShortProfile):
    """serial_starts as users run it (true; the campaign's setting), not the protocol tests' false."""
    def _build(self):
        self.class_args["serial_starts"] = True
        return super()._build()


def test_async_a_parameter_no_job_runs_is_resolved_when_only_a_larger_budget_has_finished():
    """Found by the campaign once it fuzzed exec_mode async (the default): async's first configuration runs
    at R, so after a resume and a 5726 duplicate (J2 runs parameter 0 instead of its own 100, at budget 3)
    the only finished runs were at R. The stall guard had no run at or below budget 3 to time parameter 100
    by and waited for ever, holding NNI's request."""
    machine = DefaultStarts()
    try:
        machine.start(R=9, exec_mode="async", threshold=0.1, n_params=2, seed=0, optimize_mode="maximize")
        machine.request_trials(n=3)
        machine.restart()
        machine.run_same_parameters(i=0, j=0)
        machine.complete_every_live_job(request_after=False, values=[0.0])
        machine.no_stall()   # raises Violation("stall") when nothing is issued after the idle ticks
        assert machine.outstanding == 0
        lost = machine.engine.ledger.trials[100]
        assert lost.ended and lost.resolved and lost.slot.budget == 3
    finally:
        machine.teardown()   # the machine's fake clock replaces ``time`` in the package's modules until then


def test_the_machine_gives_the_package_its_clock_back():
    """A test that drives the machine by hand must not leave the fake clock behind (the trial checkpoint's
    stale-file sweep reads time.time())."""
    import time

    from hyperjump_advisor import trial
    machine = DefaultStarts()
    machine.start(R=9, exec_mode="async", threshold=0.1, n_params=2, seed=0, optimize_mode="maximize")
    assert abs(trial.time.time() - time.time()) > 60, "the machine's fake clock runs while it plays"
    machine.teardown()
    assert abs(trial.time.time() - time.time()) < 60


def test_async_a_rerun_the_state_lost_at_a_power_cut_still_times_the_stall_guard():
    """Found by the async campaign (shrunk): the power cut takes the journal line of parameter 0, so its re-run
    is a stray with no slot; then J2 runs parameter 0 too (5726) and parameter 100 is never run. No run of the
    ledger had ended, so the guard had nothing to time parameter 100 by and waited for ever; the stray's run
    is now measured as the guard's yardstick."""
    machine = DefaultStarts()
    try:
        machine.start(R=9, exec_mode="async", threshold=0.1, n_params=2, seed=0, optimize_mode="maximize")
        machine.request_trials(n=3)
        machine.power_cut(lines=1, torn=False)
        machine.run_same_parameters(i=0, j=0)
        machine.complete_every_live_job(request_after=False, values=[0.0])
        assert machine.engine.ledger.longest_run, "the stray's run was measured"
        machine.no_stall()   # raises Violation("stall") when nothing is issued after the idle ticks
        assert machine.outstanding == 0 and machine.engine.ledger.trials[100].resolved
    finally:
        machine.teardown()
