"""Keeping Python's full garbage collections short in the advisor's process.

A full (generation 2) collection walks every object the collector tracks, and it runs inside
whichever command happens to allocate at the wrong moment. In the dispatcher's process most of
those objects are the libraries' own (numpy, scipy, GPy, NNI: about 160,000 functions, dicts,
tuples, types), which live until the process ends. ``settle_long_lived`` collects once and then
freezes what survives (``gc.freeze``), so later full collections walk only what the experiment
created since: its state and the young objects. Measured: benchmarks/bench_scale.py (README,
"Scale").

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
