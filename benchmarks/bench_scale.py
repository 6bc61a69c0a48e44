"""The advisor over long experiments (issue "Nothing ... may end, stall or corrupt an experiment", item 5).

Drives HyperJump in-process through NNI's commands for N trials on a synthetic 4-parameter problem with
W simulated workers (each result is followed by one trial request, as NNI's manager does), and reports
at 1,000, 10,000 and 20,000 trials (or what ``--checkpoints`` says): the process's peak RSS, the state's
size on disk (snapshot + journal), the mean and worst time of a state write, the worst single
command (advisor CPU time, state write included; INITIALIZE, which imports GPy and builds the first
state, is left out) and the commands that took over 100 ms. ``--worst`` also lists the worst commands
with what they did (brackets opened, whether the model refitted or refactorised). ``--compare-persistence`` runs the same experiment with the state written and without, side by
side, and prints the ratio of the advisor's CPU time. ``--R`` sets the maximum budget (e.g. 100000).
``--background`` runs the model's large refits off the command path, as the advisor does under NNI
(``background.py``): each refit handed off runs to its end between two commands (its CPU is counted
apart, as "background CPU"), then its REFIT_DONE goes through the command queue like any command; and the
objects alive after INITIALIZE are frozen out of later full garbage collections (``gc_pauses.py``).

    python benchmarks/bench_scale.py --trials 20000 --checkpoints 1000 10000 20000
    python benchmarks/bench_scale.py --trials 2000 --compare-persistence
    python benchmarks/bench_scale.py --trials 1000 --R 100000
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni.runtime.tuner_command_channel import CommandType as C  # noqa: E402

from hyperjump_advisor import HyperJump, gc_pauses, journal  # noqa: E402
from hyperjump_advisor.background import REFIT_DONE  # noqa: E402
from hyperjump_advisor.model.blas import limit_blas_threads  # noqa: E402
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message  # noqa: E402

SPACE = {k: {"_type": "uniform", "_value": [0.0, 1.0]} for k in "abcd"}


def loss(p: dict, budget: float, R: int) -> float:
    final = 0.05 + 0.3 * ((p["a"] - 0.7) ** 2 + (p["b"] - 0.3) ** 2 + 0.5 * p["c"] * p["d"])
    return final + 0.3 * (1 - budget / R) ** 2 * (0.5 + p["a"])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def state_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
               if f.startswith("hyperjump-state"))


class TimedJournal(journal.Journal):
    """The advisor's journal, timing every save."""
    seconds: list = []

    def save(self, engine):
        started = time.perf_counter()
        super().save(engine)
        TimedJournal.seconds.append(time.perf_counter() - started)


def run(trials: int, workers: int, R: int, seed: int, persist: bool, checkpoints: list[int], quiet: bool,
        background: bool = False) -> dict:
    folder = tempfile.mkdtemp(prefix="hj-scale-")
    os.environ["NNI_CHECKPOINT_DIRECTORY"] = folder if persist else ""
    journal.Journal = TimedJournal if persist else journal.Journal  # type: ignore[misc]
    TimedJournal.seconds = []
    advisor = build_offline(HyperJump, R=R, eta=3, seed=seed)
    cpu, worst, handled, over = 0.0, 0.0, 0, 0
    jobs: list = []            # refits handed off (--background), run between commands
    background_cpu = [0.0]
    rows, slowest = [], []
    single = [(0.0, 0, "", 0, 0, 0)]  # the worst command that opened at most one bracket

    def command(kind, data):
        nonlocal cpu, worst, handled, over
        first = len(advisor.sent)
        engine = advisor.engine
        brackets = len(engine.scheduler.brackets)
        model = engine.evidence.model
        fits = (model.n_hyperopts, model.n_full_factorisations) if model is not None else (0, 0)
        started = time.process_time()
        advisor.process_command(kind, data)
        spent = time.process_time() - started
        cpu += spent
        handled += 1
        if kind is not C.Initialize:
            worst = max(worst, spent)
            over += spent > 0.1
            model = engine.evidence.model
            after = (model.n_hyperopts, model.n_full_factorisations) if model is not None else (0, 0)
            slowest.append((spent, handled, getattr(kind, "name", kind), len(engine.scheduler.brackets) - brackets,
                            after[0] - fits[0], after[1] - fits[1]))
            if slowest[-1][3] <= 1 and spent > single[0][0]:
                single[0] = slowest[-1]
            if len(slowest) > 200:
                slowest.sort(reverse=True)
                del slowest[20:]
        new = advisor.sent[first:]
        del advisor.sent[first:]
        if background and engine.evidence.model is not None:
            engine.evidence.model.background = jobs.append
        out = [s.data for s in new if s.name == "NewTrialJob"]
        while jobs:  # the worker finishes between two commands; its REFIT_DONE is a command
            job = jobs.pop(0)
            started = time.process_time()
            with limit_blas_threads(1):  # as the worker runs it (background.py)
                job.step()
            background_cpu[0] += time.process_time() - started
            out += command(REFIT_DONE, job)
        return out

    command(C.Initialize, SPACE)
    if background:  # as the advisor's own clock does at INITIALIZE under NNI
        gc_pauses.settle_long_lived()
        gc_pauses.freeze_after_full_collections()
    running = deque(command(C.RequestTrialJobs, workers))
    done = 0
    while running and done < trials:
        trial = running.popleft()
        p, job = trial["parameters"], f"job{trial['parameter_id']}"
        running.extend(command(C.ReportMetricData, metric_message(trial["parameter_id"], job,
                                                                  loss(p, p["TRIAL_BUDGET"], R))))
        running.extend(command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial)))
        running.extend(command(C.RequestTrialJobs, 1))
        done += 1
        if done in checkpoints:
            saves = TimedJournal.seconds
            row = {"trials": done, "rss_mb": rss_mb(), "state_kb": state_bytes(folder) / 1024 if persist else 0,
                   "write_ms_mean": 1000 * float(np.mean(saves)) if saves else 0.0,
                   "write_ms_max": 1000 * float(np.max(saves)) if saves else 0.0,
                   "worst_command_ms": 1000 * worst, "over_100ms": over, "cpu_s": cpu, "commands": handled}
            rows.append(row)
            if not quiet:
                print(" | ".join(f"{k} {v:,.1f}" for k, v in row.items()), file=sys.stderr, flush=True)
    slowest.sort(reverse=True)
    return {"cpu": cpu, "commands": handled, "rows": rows, "worst": worst, "background_cpu": background_cpu[0],
            "slowest": slowest[:10] + [(-1.0, 0, "", 0, 0, 0)] + single}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20000)
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--R", type=int, default=81)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoints", type=int, nargs="+", default=[1000, 10000, 20000])
    p.add_argument("--compare-persistence", action="store_true")
    p.add_argument("--worst", action="store_true", help="list the 10 worst commands and what they did")
    p.add_argument("--background", action="store_true", help="as under NNI: large refits off the command path, the import-time heap frozen")
    args = p.parse_args(argv)
    checkpoints = [c for c in args.checkpoints if c <= args.trials] or [args.trials]
    print(f"# Scale: {args.trials:,} trials, {args.workers} workers, R={args.R}, eta=3\n")
    if args.compare_persistence:
        off = run(args.trials, args.workers, args.R, args.seed, False, checkpoints, quiet=True)
        on = run(args.trials, args.workers, args.R, args.seed, True, checkpoints, quiet=True)
        print("| persistence | advisor CPU s | commands | CPU per command ms | worst command ms |")
        print("|---|---|---|---|---|")
        for name, r in (("off", off), ("journal", on)):
            print(f"| {name} | {r['cpu']:.2f} | {r['commands']:,} | {1000 * r['cpu'] / r['commands']:.3f} | "
                  f"{1000 * r['worst']:.1f} |")
        print(f"\nCPU ratio, journal / off: {on['cpu'] / off['cpu']:.3f}")
        return 0
    result = run(args.trials, args.workers, args.R, args.seed, True, checkpoints, quiet=False,
                 background=args.background)
    print(f"command-path CPU {result['cpu']:.1f} s over {result['commands']:,} commands "
          f"({1000 * result['cpu'] / result['commands']:.2f} ms each); "
          f"background CPU {result['background_cpu']:.1f} s\n")
    print("| trials | peak RSS MB | state on disk KB | state write ms (mean / max) | worst command ms | "
          "commands over 100 ms |")
    print("|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['trials']:,} | {r['rss_mb']:.0f} | {r['state_kb']:,.0f} | {r['write_ms_mean']:.2f} / "
              f"{r['write_ms_max']:.1f} | {r['worst_command_ms']:.0f} | {r['over_100ms']:,} of {r['commands']:,} |")
    if args.worst:
        print("\n| worst commands: ms | command # | kind | brackets opened | refits started | full factorisations |")
        print("|---|---|---|---|---|---|")
        for spent, number, kind, opened, refits, factorisations in result["slowest"]:
            if spent < 0:
                print("| *worst that opened at most one bracket:* | | | | | |")
                continue
            print(f"| {1000 * spent:.0f} | {number:,} | {kind} | {opened} | {refits} | {factorisations} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
