"""The advisor's own clock: it wakes the engine when NNI says nothing.

NNI 3.0 never delivers a PING (``nni_node/core/tuner_command_channel.js``: ``if (commandType ===
'PI') return;``), so the advisor hears only commands that trials cause. When nothing runs, nothing
arrives, and a slot that no job will report on (a trial that ended SUCCEEDED without its FINAL, a
parameter no job runs) would stay open for good. A :class:`Ticker` thread, started at INITIALIZE (or
at a resume) and stopped at TERMINATE, puts a :data:`TICK` into the advisor's one command queue every
``interval`` seconds, so the stall guard runs on the command thread like any command and sees the
state one command at a time. At most one TICK waits in the queue: a slow command never piles them up.

In-process drivers (tests, the replay) start no thread; they send TICK themselves, on their own clock.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

TICK = "HyperJumpTick"  # the command the ticker enqueues (not an NNI CommandType: NNI never sees it)
MAX_TICK_SECONDS = 5.0
MIN_TICK_SECONDS = 0.2


def monotonic() -> float:
    return time.monotonic()  # looked up at each call, so a test can stand in for the clock


def tick_interval(*bounds: float) -> float:
    """Wake ten times per the shortest wait the stall guard bounds, within [0.2 s, 5 s]."""
    return min(MAX_TICK_SECONDS, max(MIN_TICK_SECONDS, min(bounds) / 10))


class Ticker:
    """Calls ``wake()`` every ``interval`` seconds on its own daemon thread, until ``stop()`` or
    ``should_stop()``. ``wait(seconds)`` (default: an Event's) returns True when stopped."""

    def __init__(self, interval: float, wake: Callable[[], None], should_stop: Callable[[], bool] = lambda: False):
        self.interval = interval
        self._wake, self._should_stop = wake, should_stop
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopped.clear()
        self._thread = threading.Thread(target=self._loop, name="hyperjump-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            if self._should_stop():
                return
            self._wake()


class TickGate:
    """One TICK in the queue at a time: the ticker ``offer``s, the command thread ``took`` it."""

    def __init__(self, put: Callable[[object], None]):
        self._put = put
        self._queued = threading.Event()

    def offer(self) -> None:
        if not self._queued.is_set():
            self._queued.set()
            self._put(TICK)

    def took(self) -> None:
        self._queued.clear()
