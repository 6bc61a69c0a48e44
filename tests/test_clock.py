"""The advisor's own clock (issue 20): NNI 3.0 never delivers PING, so the stall guard must act on the
advisor's ticks, with no command from NNI.

The three sequences that stalled for good before, in every exec mode, on a fake clock; the manager
here is NNI's: it sends a RequestTrialJobs(1) after each TrialEnd and nothing else, never a Ping.
"""
import threading

import pytest
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump, stall_guard
from hyperjump_advisor.clock import TICK, Ticker, TickGate, tick_interval
from hyperjump_advisor.inprocess import build_offline, metric_message, tick, trial_end_message
from hyperjump_advisor.settings import ClassArgsError, parse_class_args

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}, "y": {"_type": "choice", "_value": [1, 2, 4]}}
MODES = ["serial", "parallelism", "async"]
RUN_SECONDS = 10.0  # each trial end comes this long after the previous command


class Manager:
    """NNI's manager as far as these sequences need it: jobs for NewTrialJobs, a request per ended trial."""

    def __init__(self, exec_mode: str):
        # threshold 0: no jump skips the slot a sequence leaves open
        self.advisor = build_offline(HyperJump, R=9, eta=3, seed=1, exec_mode=exec_mode, threshold=0)
        self.now = 1000.0
        self.advisor.engine.clock = lambda: self.now
        self.cursor = 0
        self.outstanding = 0
        self.payloads: list[dict] = []  # every NewTrialJob, in order

    def send(self, command, data) -> list[dict]:
        self.advisor.process_command(command, data)
        return self._collect()

    def tick(self) -> list[dict]:
        tick(self.advisor)
        return self._collect()

    def _collect(self) -> list[dict]:
        new = [s.data for s in self.advisor.sent[self.cursor:] if s.name == "NewTrialJob"]
        assert not [s for s in self.advisor.sent[self.cursor:] if s.name == "Error"]
        self.cursor = len(self.advisor.sent)
        assert len(new) <= self.outstanding, "never more trials than NNI asked for"
        self.outstanding -= len(new)
        self.payloads += new
        return new

    def start(self, n: int) -> list[dict]:
        self.send(C.Initialize, SPACE)
        self.outstanding += n
        return self.send(C.RequestTrialJobs, n)

    def final(self, job: str, parameter_id: int, value: float) -> None:
        self.send(C.ReportMetricData, metric_message(parameter_id, job, value))

    def end(self, job: str, event: str, announced: dict) -> None:
        self.now += RUN_SECONDS
        self.send(C.TrialEnd, trial_end_message(job, event, announced))
        self.outstanding += 1
        self.send(C.RequestTrialJobs, 1)

    def trial(self, parameter_id: int):
        return self.advisor.engine.ledger.trials[parameter_id]

    def tick_until(self, done, limit: float = 4 * 3600.0, step: float = 5.0) -> float:
        """Advance the clock and tick, as the clock thread would, until ``done()``; the time it took."""
        start = self.now
        while not done() and self.now - start < limit:
            self.now += step
            self.tick()
        assert done(), f"still unresolved {limit:.0f} s after NNI's last command"
        return self.now - start


def silent_for_good(m: Manager, parameter_id: int) -> None:
    """Without the clock (NNI sends nothing more), the slot stays open however long one waits."""
    m.now += 24 * 3600.0
    assert not m.trial(parameter_id).resolved
    m.now -= 24 * 3600.0


@pytest.mark.parametrize("exec_mode", MODES)
def test_the_last_trial_of_a_stage_ends_succeeded_without_final_and_the_clock_resolves_it(exec_mode):
    """Issue 20, sequence 1: RequestTrialJobs(9), 8 trials end normally, the 9th ends SUCCEEDED with no
    FINAL, RequestTrialJobs(1); then NNI says nothing. Serial mode sent no trial ever again."""
    m = Manager(exec_mode)
    first = m.start(9)
    assert len(first) == 9
    for k, p in enumerate(first[:8]):
        m.final(f"J{k}", p["parameter_id"], 0.1 + 0.05 * k)
        m.end(f"J{k}", "SUCCEEDED", p)
    last = first[8]
    m.end("J8", "SUCCEEDED", last)  # exits 0 without nni.report_final_result
    silent_for_good(m, last["parameter_id"])
    sent_before = len(m.payloads)
    waited = m.tick_until(lambda: m.trial(last["parameter_id"]).resolved)
    assert waited >= stall_guard.FINAL_GRACE_SECONDS, "a late FINAL still gets its grace"
    assert waited <= stall_guard.FINAL_GRACE_SECONDS + 5.0, "resolved at the first tick past the grace"
    assert m.trial(last["parameter_id"]).slot.status.value == "FAILED"
    assert m.advisor.engine.failures.count == 1, "a trial without a final metric counts in the failure streak"
    if exec_mode == "serial":
        assert len(m.payloads) > sent_before, "the next stage went out at the tick, without any command from NNI"
    assert m.advisor.engine.credit == m.outstanding, "the credit NNI gave is kept or spent, never lost"


@pytest.mark.parametrize("exec_mode", MODES)
def test_two_jobs_run_the_same_parameters_and_the_other_one_is_resolved_by_the_clock(exec_mode):
    """Issue 20, sequence 2 (NNI issue 5726): job J1 runs J0's parameters; J1's own parameter never runs."""
    m = Manager(exec_mode)
    first = m.start(9)
    p0, orphan = first[0]["parameter_id"], first[1]["parameter_id"]
    m.final("J0", p0, 0.3)
    m.end("J0", "SUCCEEDED", first[0])
    m.final("J1", p0, 0.31)  # J1 ran p0 too: its metrics say so
    m.end("J1", "SUCCEEDED", first[1])
    for k, p in enumerate(first[2:], start=2):
        m.final(f"J{k}", p["parameter_id"], 0.1 + 0.05 * k)
        m.end(f"J{k}", "SUCCEEDED", p)
    silent_for_good(m, orphan)
    sent_before = len(m.payloads)
    bound = _lost_bound(m, orphan)
    waited = m.tick_until(lambda: m.trial(orphan).resolved)
    assert m.now - m.trial(orphan).issued_at >= bound, "it waited the stall guard's bound first"
    assert waited <= bound, "and was resolved within it of NNI's last command"
    assert m.trial(orphan).slot.status.value == "FAILED"
    if exec_mode == "serial":
        assert len(m.payloads) > sent_before, "the next stage went out at the tick"


@pytest.mark.parametrize("exec_mode", MODES)
def test_a_swapped_job_that_fails_silently_leaves_a_parameter_the_clock_resolves(exec_mode):
    """Issue 20, sequence 3: J0 and J1 swap parameters (5726); J1 fails without a metric while other jobs are
    silent too, so its end cannot be told apart; J0 reports the parameter J1 was started with."""
    m = Manager(exec_mode)
    first = m.start(9)
    p0, p1 = first[0]["parameter_id"], first[1]["parameter_id"]
    m.end("J1", "FAILED", first[1])  # ran p0 (swapped), said nothing; NNI's hyper_params name p1
    m.final("J0", p1, 0.3)           # ran p1
    m.end("J0", "SUCCEEDED", first[0])
    for k, p in enumerate(first[2:], start=2):
        m.final(f"J{k}", p["parameter_id"], 0.1 + 0.05 * k)
        m.end(f"J{k}", "SUCCEEDED", p)
    assert not m.trial(p0).resolved
    silent_for_good(m, p0)
    sent_before = len(m.payloads)
    bound = _lost_bound(m, p0)
    waited = m.tick_until(lambda: m.trial(p0).resolved)
    assert waited <= bound
    assert m.trial(p0).slot.status.value == "FAILED"
    if exec_mode == "serial":
        assert len(m.payloads) > sent_before, "the next stage went out at the tick"


def _lost_bound(m: Manager, parameter_id: int) -> float:
    trial = m.trial(parameter_id)
    expected = stall_guard.expected_run(trial.slot.budget, m.advisor.engine.ledger.longest_run)
    assert expected is not None
    return max(stall_guard.MIN_LOST_SECONDS, stall_guard.LOST_FACTOR * expected)


def test_the_stall_guard_bounds_are_classargs_and_validated():
    s = parse_class_args(final_grace_seconds=2, min_lost_seconds=5.5)
    assert (s.final_grace_seconds, s.min_lost_seconds) == (2.0, 5.5)
    for name in ("final_grace_seconds", "min_lost_seconds"):
        for bad in (0, -1, float("inf"), "30", True):
            with pytest.raises(ClassArgsError, match=f"classArgs.{name} must be a number of seconds > 0"):
                parse_class_args(**{name: bad})


def test_a_short_final_grace_is_used_and_the_clock_ticks_faster_for_it():
    m = Manager("serial")
    m.advisor.settings = parse_class_args(R=9, eta=3, seed=1, exec_mode="serial", threshold=0, final_grace_seconds=2)
    m.advisor.engine.settings = m.advisor.settings
    first = m.start(1)
    m.end("J0", "SUCCEEDED", first[0])
    m.now += 1.9
    m.tick()
    assert not m.trial(first[0]["parameter_id"]).resolved
    m.now += 0.1
    m.tick()
    assert m.trial(first[0]["parameter_id"]).resolved
    assert tick_interval(2.0, 120.0) == pytest.approx(0.2)
    assert tick_interval(30.0, 120.0) == pytest.approx(3.0)
    assert tick_interval(1e6, 1e6) == 5.0


def test_a_tick_without_anything_to_resolve_writes_no_state(tmp_path):
    m = Manager("serial")
    m.advisor.get_checkpoint_path = lambda: str(tmp_path)
    m.start(2)
    journal_file = tmp_path / "hyperjump-state.journal"
    size = journal_file.stat().st_size
    m.now += 1.0
    m.tick()
    assert journal_file.stat().st_size == size


# ---- the thread ------------------------------------------------------------------------------------------
def test_the_ticker_wakes_repeatedly_until_stopped():
    woke = []
    enough = threading.Event()

    def wake():
        woke.append(1)
        if len(woke) >= 3:
            enough.set()

    ticker = Ticker(0.01, wake)
    ticker.start()
    assert enough.wait(30), "the ticker woke three times"
    ticker.stop()
    n = len(woke)
    assert not ticker.running
    assert len(woke) == n


def test_the_ticker_ends_by_itself_when_its_owner_stops():
    stopping = threading.Event()
    ticker = Ticker(0.01, lambda: stopping.set(), should_stop=stopping.is_set)
    ticker.start()
    thread = ticker._thread
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive()


def test_at_most_one_tick_waits_in_the_queue():
    queued = []
    gate = TickGate(queued.append)
    gate.offer()
    gate.offer()
    assert queued == [TICK]
    gate.took()
    gate.offer()
    assert queued == [TICK, TICK]


def test_initialize_starts_the_clock_which_puts_ticks_into_the_command_queue_and_stops_with_the_dispatcher():
    advisor = build_offline(HyperJump, R=9, eta=3, seed=1, final_grace_seconds=0.5)
    advisor.own_clock = True  # as under NNI: a thread of its own
    advisor.process_command(C.Initialize, SPACE)
    try:
        command, data = advisor.default_command_queue.get(timeout=30)
        assert (command, data) == (TICK, None)
        advisor.process_command(command, data)  # as NNI's command thread does
        command, _ = advisor.default_command_queue.get(timeout=30)
        assert command == TICK
    finally:
        ticker = advisor._ticker
        advisor.stopping = True  # what NNI's dispatcher loop sets at TERMINATE
    assert ticker is not None
    ticker._thread.join(30)
    assert not ticker.running
    assert not [s for s in advisor.sent if s.name == "Error"]


def test_a_resume_starts_the_clock_too(tmp_path):
    advisor = build_offline(HyperJump, R=9, eta=3, seed=1)
    advisor.own_clock = True
    advisor.get_checkpoint_path = lambda: str(tmp_path)
    advisor.load_checkpoint()  # nothing saved: starts afresh, with its clock
    try:
        assert advisor._ticker is not None and advisor._ticker.running
    finally:
        advisor._stop_clock()
    assert advisor._ticker is None
