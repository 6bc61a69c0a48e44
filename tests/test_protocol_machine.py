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
