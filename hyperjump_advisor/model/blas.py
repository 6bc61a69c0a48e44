"""BLAS threads inside the model's calls.

Contract: ``limit_blas_threads(n)`` limits the BLAS thread pools to n threads for the
duration of the block and restores them on exit; a no-op when n is None or
threadpoolctl is not installed.  Our matrices are small (<= ~1100): on the shared
2-core machine threaded OpenBLAS made triangular solves ~2x and hyperparameter fits
up to 10x slower, so the model runs BLAS single-threaded by default.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Iterator, Optional, Protocol


class _ThreadLimiter(Protocol):
    def limit(self, *, limits: int, user_api: str) -> ContextManager[object]: ...


_controller: Optional[_ThreadLimiter] = None  # threadpoolctl.ThreadpoolController, created on first use
_controller_looked_up = False


def _thread_limiter() -> Optional[_ThreadLimiter]:
    global _controller, _controller_looked_up
    if not _controller_looked_up:
        _controller_looked_up = True
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional dependency
            return None
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def limit_blas_threads(n: Optional[int]) -> Iterator[None]:
    """Run the block with at most n BLAS threads (no limit when n is None)."""
    limiter = None if n is None else _thread_limiter()
    if n is None or limiter is None:
        yield
        return
    with limiter.limit(limits=n, user_api="blas"):
        yield
