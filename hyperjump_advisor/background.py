"""Slow work off the command path: the model's hyperparameter refits run on a worker thread.

NNI waits for every command in order, so a command that refits the GP (0.2-0.7 s at 300 points)
delays every trial behind it. Under NNI the advisor hands such a refit to a :class:`Worker`; the
command path keeps predicting with the last good hyperparameters. When the refit ends, the worker
puts a :data:`REFIT_DONE` into the advisor's one command queue, and the model adopts the result when
that command is processed: what the advisor decides depends only on the order of commands and
completions, never on a thread's timing inside a command. In-process drivers (tests, the replay,
the golden traces) keep the inline, sliced refits (``MultiFidelityGP.background`` is None).

The worker runs BLAS single-threaded for the whole process (the model's own default, see
``model/blas.py``): two threads entering and leaving a temporary limit would undo each other's.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Optional

_logger = logging.getLogger("hyperjump_advisor")

REFIT_DONE = "HyperJumpRefitDone"  # the command a finished job enqueues (NNI never sees it)


class Worker:
    """One daemon thread running submitted jobs in order; ``done(job)`` is enqueued as (REFIT_DONE, job)."""

    def __init__(self, put: Callable[[tuple[Any, Any]], None]):
        self._put = put
        self._jobs: "queue.Queue[Optional[Any]]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if not self.running:
            self._thread = threading.Thread(target=self._loop, name="hyperjump-refits", daemon=True)
            self._thread.start()

    def submit(self, job: Any) -> None:
        """A FitJob (anything with ``step()``): run to its end, then announced through the command queue."""
        self._jobs.put(job)

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            if self._thread is not threading.current_thread():
                self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        _single_threaded_blas()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job.step()
            except Exception:  # the command path keeps its model; the job is announced anyway, unfinished
                _logger.exception("a background refit of the model failed; the previous hyperparameters stay")
            self._put((REFIT_DONE, job))


def _single_threaded_blas() -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")
