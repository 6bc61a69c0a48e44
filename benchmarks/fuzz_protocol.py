"""Protocol fuzz campaign: many hypothesis state-machine sequences (tests/protocol_machine.py) of a fake
NNI 3.0 manager driving HyperJump with faults; counts failures by kind instead of stopping at the first.

    python benchmarks/fuzz_protocol.py --sequences 2000            # the campaign (make fuzz)
    python benchmarks/fuzz_protocol.py --reproduce stall            # shrink a minimal sequence for one kind
    python benchmarks/fuzz_protocol.py --reproduce exception:TrialEnd
    python benchmarks/fuzz_protocol.py --sequences 1000 --exec-modes async   # the default mode only

Each sequence records each failure kind once. By default an exception is counted and the sequence goes
on as if NNI had dropped that command (kinds seen afterwards carry "[after an exception]"), so the
deeper invariants are still exercised; --stop-at-exception ends a sequence at its first exception, as
NNI's dispatcher would.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout, not an editable install elsewhere

from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

import protocol_machine  # noqa: E402
from protocol_machine import ProtocolMachine, Violation  # noqa: E402


def quiet() -> None:
    warnings.simplefilter("ignore")
    for name in ("hyperjump_advisor", "nni", "nni.runtime.msg_dispatcher_base"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.CRITICAL)


def without(machine: type, rules: list[str]) -> None:
    """Leave rules out (e.g. the faults behind known exceptions, to reach the deeper invariants)."""
    for name in rules:
        if not callable(getattr(ProtocolMachine, name, None)):
            raise SystemExit(f"no rule {name!r} in ProtocolMachine")
        setattr(machine, name, None)


def campaign(args) -> int:
    stats: dict = {}

    class Campaign(ProtocolMachine):
        STRICT = False
        CONTINUE_AFTER_EXCEPTION = not args.stop_at_exception

    without(Campaign, args.skip)

    Campaign.stats = stats
    start = time.time()
    done = 0
    # in chunks, so that a hypothesis-internal stop (or a crash of the machine itself) costs one chunk only
    chunk = min(250, args.sequences)
    k = 0
    while done < args.sequences:
        n = min(chunk, args.sequences - done)
        before = stats.get("sequences", 0)
        try:
            run_state_machine_as_test(Campaign, settings=settings(
                max_examples=n, stateful_step_count=args.steps, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.generate],
                derandomize=False))
        except Exception as error:  # the harness itself broke: say so, go on
            stats.setdefault("harness_errors", []).append(repr(error)[:500])
        done += max(1, stats.get("sequences", 0) - before)
        k += 1
        print(f"... {stats.get('sequences', 0)} sequences, {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    report(stats, time.time() - start)
    if args.details:
        with open(args.details, "w", encoding="utf-8") as f:
            for kind, messages in sorted(stats.get("kinds", {}).items()):
                f.write(f"===== {kind} ({len(messages)} sequences); first:\n{messages[0]}\n\n")
    return 1 if stats.get("failed_sequences") else 0


def report(stats: dict, seconds: float) -> None:
    kinds = stats.get("kinds", {})
    exceptions = sum(len(v) for k, v in kinds.items() if k.startswith("exception"))
    stalls = sum(len(v) for k, v in kinds.items() if k.split(" ")[0] in ("stall", "orphaned_wait"))
    others = {k: v for k, v in kinds.items() if not k.startswith("exception")}
    print(f"sequences            {stats.get('sequences', 0)}")
    print(f"commands             {stats.get('commands', 0)}")
    print(f"failed sequences     {stats.get('failed_sequences', 0)}")
    print(f"exceptions           {exceptions}  (sequences x exception kind)")
    print(f"stalls               {stalls}  (stall + orphaned_wait)")
    print(f"invariant violations {sum(len(v) for v in others.values())}")
    print(f"seconds              {seconds:.0f}")
    print("\nby kind (sequences in which it happened):")
    for kind, messages in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"  {len(messages):6d}  {kind}")
    if stats.get("info"):
        print("\ninformation (not failures):")
        for kind, n in sorted(stats["info"].items()):
            print(f"  {n:6d}  {kind}")
    for error in stats.get("harness_errors", []):
        print(f"\nHARNESS ERROR: {error}")
    print("\none example per kind:")
    for kind, messages in sorted(kinds.items()):
        lines = messages[0].splitlines()
        tail = [lines[0]] + [ln for ln in lines if ln.strip()][-3:] if kind.startswith("exception") else lines[:6]
        print(f"--- {kind}\n    " + "\n    ".join(tail))


def reproduce(args) -> int:
    """Strict on one kind (prefix), tolerant of everything else: hypothesis shrinks and prints the sequence."""
    class Reproduce(ProtocolMachine):  # noqa: D401
        STRICT = False
        CONTINUE_AFTER_EXCEPTION = True

        def violation(self, kind, message):
            if kind.startswith(args.reproduce):
                raise Violation(kind, message)
            super().violation(kind, message)

    without(Reproduce, args.skip)
    try:
        run_state_machine_as_test(Reproduce, settings=settings(
            max_examples=args.sequences, stateful_step_count=args.steps, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
    except Violation as error:
        print(str(error)[:4000])
        print("\n".join(getattr(error, "__notes__", [])))
        return 1
    print(f"no {args.reproduce!r} in {args.sequences} sequences")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=50, help="rules per sequence (hypothesis stateful_step_count)")
    parser.add_argument("--stop-at-exception", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], metavar="RULE",
                        help="rules to leave out, e.g. --skip disk_full malformed update_search_space import_data")
    parser.add_argument("--details", metavar="FILE", help="write the first full message of every kind here")
    parser.add_argument("--reproduce", metavar="KIND", help="shrink and print a minimal sequence for this kind")
    parser.add_argument("--exec-modes", nargs="+", choices=protocol_machine.EXEC_MODES,
                        default=protocol_machine.EXEC_MODES, help="the exec_modes a sequence is drawn from")
    args = parser.parse_args()
    protocol_machine.EXEC_MODES[:] = args.exec_modes
    os.environ.setdefault("PYTHONHASHSEED", "0")
    quiet()
    return reproduce(args) if args.reproduce else campaign(args)


if __name__ == "__main__":
    sys.exit(main())
