"""Full garbage collections in the advisor's process walk only what the experiment made (gc_pauses.py).

Run in a child process: a freeze in pytest's own process would keep the other tests' objects for good."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import gc, json, weakref
    from nni.runtime.tuner_command_channel import CommandType as C
    from hyperjump_advisor import HyperJump
    from hyperjump_advisor.inprocess import build_offline

    SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}
    advisor = build_offline(HyperJump, R=9, eta=3, seed=1)
    advisor.own_clock = True              # as under NNI: the clock thread, and the heap settled
    before = len(gc.get_objects())
    advisor.process_command(C.Initialize, SPACE)
    frozen, walked = gc.get_freeze_count(), len(gc.get_objects())
    advisor.stopping = True
    advisor._stop_clock()

    class Node:
        pass
    a, b = Node(), Node()
    a.other, b.other = b, a               # a cycle made after the freeze: still collected
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    kept = [Node() for _ in range(1000)]  # survives the next full collection: frozen by it
    frozen_before = gc.get_freeze_count()
    gc.collect()
    print(json.dumps({"before": before, "frozen": frozen, "walked": walked, "cycle_freed": alive() is None,
                      "survivors_frozen": gc.get_freeze_count() - frozen_before}))
""")


def test_initialize_under_nni_freezes_the_libraries_objects_and_later_cycles_are_still_collected():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] >= seen["before"] // 2      # numpy, scipy, GPy, NNI: alive before INITIALIZE
    assert seen["walked"] < seen["before"] // 10      # what a full collection still walks
    assert seen["cycle_freed"]
    assert seen["survivors_frozen"] >= 1000, "what survives a full collection is frozen out of the next ones"


def test_in_process_drivers_leave_the_garbage_collector_alone():
    child = CHILD.replace("advisor.own_clock = True", "pass")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] == 0 and seen["survivors_frozen"] == 0
