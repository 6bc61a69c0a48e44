"""NNI trial: "train" a NAS-Bench-201 cell for TRIAL_BUDGET epochs by reading the benchmark.

Run by NNI (``trialCommand: python3 nb201_trial.py ...``) the parameters come from
``nni.get_next_parameter()``: one operation per edge (``0_1 0_2 1_2 0_3 1_3 2_3``, each
``none | skip_connect | nor_conv_1x1 | nor_conv_3x3 | avg_pool_3x3``; NNI's names
``conv_1x1``/``conv_3x3`` work too) and ``TRIAL_BUDGET``, the number of epochs (1..200).

The answers are the benchmark's recorded validation accuracies of the 200-epoch
(``--hp 200``, default) run of that cell, in [0, 1]:

* ``nni.report_intermediate_result({"default": acc, "budget": epoch})`` for every recorded
  epoch up to ``TRIAL_BUDGET`` (all of them in the official data);
* ``nni.report_final_result(acc)``: the accuracy after epoch ``TRIAL_BUDGET``.

``--time-scale s`` sleeps ``s`` times the recorded training + validation time of each
epoch before reporting it (a Hyperband trial trains from scratch, so a trial with budget
b sleeps for epochs 1..b), so that wall-clock comparisons in the web UI mean something.
The last log line (``NB201 result: {...}``) gives the recorded seconds, to choose the scale.

Run by hand: ``python nb201_trial.py --arch '|nor_conv_3x3~0|+|...|' --epochs 12`` (NNI's
standalone mode returns ``{}`` as parameters; the reports are only logged).
"""
from __future__ import annotations

import argparse
import json
import math
import numbers
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from nb201_data import (EDGES, BenchmarkError, Curve, arch_from_params, arch_from_str,  # noqa: E402
                        arch_to_str, open_benchmark)

BUDGET_KEY = "TRIAL_BUDGET"
#: The cell used when the parameters carry no edges and no --arch is given (standalone runs).
DEFAULT_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class BudgetError(ValueError):
    """TRIAL_BUDGET does not map onto the recorded epochs."""


def parse_budget(value: Any) -> int:
    """``TRIAL_BUDGET`` as whole epochs; an integral float is accepted, a fractional one rounded up."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise BudgetError(f"{BUDGET_KEY} must be a number of epochs, got {value!r}")
    epochs = math.ceil(value - 1e-9)
    if epochs < 1:
        raise BudgetError(f"{BUDGET_KEY} must be >= 1 epoch, got {value!r}")
    return int(epochs)


def resolve_params(raw: Optional[Mapping[str, Any]], default_arch: Optional[str] = None
                   ) -> tuple[dict, Optional[int], list]:
    """``(arch, budget, ignored_keys)`` from the tuner's parameters.

    All six edges must be present, or none (then ``default_arch`` or :data:`DEFAULT_ARCH`).
    """
    raw = dict(raw or {})
    budget = parse_budget(raw.pop(BUDGET_KEY)) if BUDGET_KEY in raw else None
    if any(e in raw for e in EDGES):
        arch = arch_from_params(raw)
    else:
        arch = arch_from_str(default_arch or DEFAULT_ARCH)
    ignored = sorted(k for k in raw if k not in EDGES)
    return arch, budget, ignored


def run_trial(curve: Curve, budget: int,
              report_intermediate: Callable[[dict], None],
              report_final: Callable[[float], None],
              time_scale: float = 0.0,
              sleep: Callable[[float], None] = time.sleep,
              log: Callable[[str], None] = print) -> float:
    """Report the recorded curve up to ``budget`` epochs; return the final accuracy."""
    if budget > curve.total_epochs:
        raise BudgetError(
            f"{BUDGET_KEY}={budget} is more than the {curve.total_epochs} epochs of the recorded "
            f"hp={curve.hp} runs: set the advisor's R <= {curve.total_epochs}")
    final = curve.accuracy_at(budget)  # raises, naming the recorded epochs, before anything is reported
    epochs = sorted(e for e in curve.valid_acc if e <= budget)
    if time_scale > 0 and curve.time_until(budget) is None:
        log("No recorded times in this data: --time-scale is ignored")
        time_scale = 0.0
    done = 0.0
    for epoch in epochs:
        if time_scale > 0:
            until = curve.time_until(epoch)
            sleep(max(0.0, time_scale * (until - done)))
            done = until
        report_intermediate({"default": curve.valid_acc[epoch], "budget": epoch})
    report_final(float(final))
    return float(final)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None,
                   help="NATS-tss-v1_0-3ffb9-simple folder, NATS-tss-v1_0-3ffb9.pickle.pbz2, NNI's "
                        "nasbench201 .db, or a folder holding one (default: $TORCH_HOME, then $NASBENCHMARK_DIR)")
    p.add_argument("--source", choices=("auto", "nats", "nnidb"), default="auto")
    p.add_argument("--dataset", default="cifar10-valid", help="cifar10-valid | cifar100 | ImageNet16-120")
    p.add_argument("--hp", choices=("200", "12"), default="200",
                   help="training schedule of the recorded runs (epochs); TRIAL_BUDGET must not exceed it")
    p.add_argument("--seed", default="mean",
                   help="mean (average the recorded seeds), random (one per trial, as NNI's example), or a seed")
    p.add_argument("--time-scale", type=float, default=0.0,
                   help="sleep this fraction of the recorded per-epoch time (0: no sleeping)")
    p.add_argument("--arch", default=None, help="cell string for standalone runs")
    p.add_argument("--epochs", type=int, default=200, help=f"epochs when there is no {BUDGET_KEY} (standalone)")
    args = p.parse_args(argv)
    if args.seed not in ("mean", "random"):
        try:
            args.seed = int(args.seed)
        except ValueError:
            p.error(f"--seed must be mean, random or an integer, got {args.seed!r}")
    if not (args.time_scale >= 0 and math.isfinite(args.time_scale)):
        p.error("--time-scale must be >= 0")
    return args


def _error(e: Exception) -> None:
    """To stderr (the caller's terminal, NNI's trial.stderr) and stdout (NNI's trial.log)."""
    print(f"ERROR: {e}", flush=True)
    print(f"ERROR: {e}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    import nni

    raw = nni.get_next_parameter() or {}
    arch, budget, ignored = resolve_params(raw, args.arch)
    epochs = budget if budget is not None else args.epochs
    origin = BUDGET_KEY if budget is not None else "--epochs"
    print(f"Trial {nni.get_trial_id()}: arch={arch_to_str(arch)} epochs={epochs} (from {origin})", flush=True)
    if ignored:
        print(f"Ignoring unknown parameter keys: {', '.join(ignored)}", flush=True)

    t0 = time.perf_counter()
    try:
        bench = open_benchmark(args.data, args.source)
        curve = bench.curve(arch, args.dataset, args.hp, args.seed)
    except BenchmarkError as e:
        _error(e)
        return 2
    print(f"{bench.describe()}; curve loaded in {time.perf_counter() - t0:.2f}s "
          f"(seeds {', '.join(map(str, curve.seeds))})", flush=True)
    try:
        final = run_trial(curve, epochs, nni.report_intermediate_result, nni.report_final_result,
                          time_scale=args.time_scale, log=lambda m: print(m, flush=True))
    except (BenchmarkError, BudgetError) as e:
        _error(e)
        return 2
    recorded = curve.time_until(epochs)
    print("NB201 result: " + json.dumps({
        "arch": arch_to_str(arch), "dataset": curve.dataset, "hp": curve.hp, "budget": epochs,
        "final": final, "recorded_seconds": recorded}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
