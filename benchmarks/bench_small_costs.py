"""Wall times of three small operations whose speed the test suite used to assert (tests assert behaviour only).

- one epoch of the mnist example's MLP on the bundled digits data (hidden 256, batch 32): a trial of
  ``make demo`` runs up to 27 of them;
- the replay's oracle (``Table.oracle_time``, O(n log n)) at four regret targets on a 1,728-configuration table;
- NEXT_CONF_TO_TEST (``risk.next_config_to_test``) on a stage of 81 configurations, 41 untested, 5 stages.

Median and worst of ``--repeats`` runs, after one warm-up run each; wall time (the shared machine's load
shows in it).

    python benchmarks/bench_small_costs.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples" / "mnist-hyperjump"))


def digits_epoch() -> Callable[[], None]:
    import data
    import mnist

    digits = data.load_digits_dataset()
    state = mnist.new_state({"hidden_size": 256, "learning_rate_init": 1e-3, "alpha": 1e-4, "batch_size": 32})
    return lambda: mnist.train_one_epoch(state, digits)


def oracle_on_1728_configurations(folder: Path) -> Callable[[], None]:
    from hyperjump_advisor.replay.table_csv import load_generic, write_generic

    rng = np.random.default_rng(0)
    records = [{"a": a, "b": b, "c": c, "budget": level, "loss": float(rng.random()),
                "time": float(rng.random() * 100)}
               for a in range(12) for b in range(12) for c in range(12) for level in (1, 2)]
    path = folder / "big.csv"
    write_generic(path, ["a", "b", "c"], records)
    table = load_generic(path)
    return lambda: [table.oracle_time(target) for target in (0.1, 0.01, 0.001, 0.0)]


def next_config_on_81() -> Callable[[], None]:
    from hyperjump_advisor.risk import StageBelief, next_config_to_test

    rng = np.random.default_rng(42)
    n = 81
    base = rng.normal(0.5, 0.08, n)
    tested = np.zeros(n, bool)
    tested[rng.permutation(n)[:40]] = True
    beliefs = [StageBelief(base - 0.05 * h + rng.normal(0, 0.005, n), rng.uniform(0.5, 1.5, n) * 0.03 * (1 + 0.5 * h),
                           tested if h == 0 else np.zeros(n, bool)) for h in range(5)]
    return lambda: next_config_to_test(beliefs, [27, 9, 3, 1], eta=3, threshold=0.1, scale=0.3, incumbent_loss=0.35)


def timed(run: Callable[[], object], repeats: int) -> list[float]:
    run()  # warm-up: imports, caches
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cases = [("digits epoch (mnist example, hidden 256, batch 32)", digits_epoch()),
                 ("oracle_time x 4 targets, 1,728 configurations", oracle_on_1728_configurations(Path(folder))),
                 ("next_config_to_test, 81 configurations", next_config_on_81())]
        print("| operation | median (ms) | worst (ms) | runs |\n|---|---|---|---|")
        for name, run in cases:
            seconds = timed(run, args.repeats)
            print(f"| {name} | {1e3 * statistics.median(seconds):.2f} | {1e3 * max(seconds):.2f} | {len(seconds)} |",
                  flush=True)


if __name__ == "__main__":
    main()
