"""Keeping Python's full garbage collections short in the advisor's process.

A full (generation 2) collection walks every object the collector tracks, and it runs inside
whichever command happens to allocate at the wrong moment. In the dispatcher's process most of
those objects are the libraries' own (numpy, scipy, GPy, NNI: about 160,000 functions, dicts,
tuples, types), which live until the process ends. ``settle_long_lived`` collects once and then
freezes what survives (``gc.freeze``), so later full collections walk only what the experiment
created since: its state and the young objects. Measured: benchmarks/bench_scale.py (README,
"Scale").

The experiment's own state grows too (slots, trials, observations: about 6 objects per trial), and a
full collection at 20,000 trials walked it for 80-90 ms. ``freeze_after_full_collections`` freezes what
survives each full collection, so the next one walks only what came since. The price: an object
frozen while alive that later dies in a reference cycle is never freed. The advisor's long-lived state
dies by reference counting (freed as usual when frozen); what has cycles is short-lived (a GPy model
during a refit), and full collections come O(log n) times, so little is kept.

Only where the advisor owns the process (under NNI): a freeze in a process shared with other
work (tests, the replay) would keep alive any frozen object that later dies in a reference cycle.
"""
from __future__ import annotations

import gc


def settle_long_lived() -> int:
    """Collect, then exempt every surviving object from later collections; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _freeze_survivors(phase: str, info: dict) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def freeze_after_full_collections() -> None:
    """From now on, what survives a full collection is frozen out of the next ones (idempotent)."""
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def stop_freezing() -> None:
    """Undo ``freeze_after_full_collections`` (tests)."""
    while _freeze_survivors in gc.callbacks:
        gc.callbacks.remove(_freeze_survivors)
