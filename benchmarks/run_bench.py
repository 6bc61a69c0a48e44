"""The standard replay suite (``make bench``): four shared tables x {1, 8} workers x all advisors.

    python benchmarks/run_bench.py [--out bench-results] [--seeds 20] [--jobs 2] [--force]

Layout (resumable: a chunk that already has its JSON with the same settings is not rerun)::

    bench-results/
      SUMMARY.md                         top-level summary, one section per table and worker count
      <table>-w<W>/runs/<advisor>.json   one chunk = one advisor, all seeds
      <table>-w<W>/results.json          merged chunks (schema: hyperjump_advisor.replay.report)
      <table>-w<W>/report.md, regret.png

Time limits: ``auto`` = 4 Hyperband iterations of the table's mean training time per level,
divided by the worker count (``hyperjump_advisor.replay.tables.auto_time_limit``), so plain
Hyperband completes about 4 iterations with 1 worker and several with 8 (parallelism mode
opens new brackets on idle workers). With the default R/eta per table this gives
(1 / 8 workers): cnn 63,453 / 7,932 s; cnn_time3 56,076 / 7,010 s; mnist_epochs
17,520 / 2,190 s; unet 1,690,432 / 211,304 s.

Runs are deterministic per seed (seeds 0..N-1) unless the advisors' compute time is charged.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hyperjump_advisor.replay import advisors  # noqa: E402
from hyperjump_advisor.replay.report import (TARGETS, results_document, speedups, summarize,  # noqa: E402
                                             write_outputs)
from hyperjump_advisor.replay.simulator import SimConfig, run_many  # noqa: E402
from hyperjump_advisor.replay.tables import auto_time_limit, load_table, resolve_R_eta  # noqa: E402

TABLES = ["hyperjump:cnn", "hyperjump:cnn_time3", "hyperjump:mnist_epochs", "hyperjump:unet"]
WORKERS = [1, 8, 32]
ADVISORS = ["hyperjump", "hyperband", "nni-hyperband", "nni-bohb", "random"]
ABLATIONS = ["hyperjump", "hyperjump-no-jump", "hyperjump-no-order", "hyperjump-no-warmstart", "hyperjump-no-resume",
             "hyperjump-rank1", "hyperband"]


def folder_name(table: str, workers: int) -> str:
    return f"{table.split(':', 1)[-1]}-w{workers}"


def chunk_settings(table: str, workers: int, advisor: str, seeds: int, iterations: int) -> dict:
    t = load_table(table)
    budget_map = resolve_R_eta(t)
    return {"table": table, "workers": workers, "advisor": advisor, "seeds": list(range(seeds)),
            "R": budget_map.R, "eta": budget_map.eta,
            "time_limit": auto_time_limit(t, budget_map, workers, iterations)}


def run_chunk(table: str, workers: int, advisor: str, settings: dict, path: str) -> str:
    advisors.QUIET_LOGS = True
    t = load_table(table)
    budget_map = resolve_R_eta(t)
    config = SimConfig(workers=workers, time_limit=settings["time_limit"])
    started = time.time()
    runs = run_many([advisors.get(advisor)], t, budget_map, settings["seeds"], config, progress=True)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({"settings": settings, "runs": runs}))
    os.replace(tmp, path)
    errors = sum(1 for r in runs if r.get("error"))
    return f"{folder_name(table, workers)}/{advisor}: {len(runs)} runs in {time.time() - started:.0f} s" + \
        (f", {errors} with errors" if errors else "")


def chunk_done(path: Path, settings: dict) -> bool:
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("settings") == json.loads(json.dumps(settings))
    except (OSError, json.JSONDecodeError):
        return False


def merge(out: Path, table: str, workers: int, advisor_names: list[str]) -> dict:
    t = load_table(table)
    budget_map = resolve_R_eta(t)
    folder = out / folder_name(table, workers)
    runs, time_limit = [], None
    for name in advisor_names:
        chunk = json.loads((folder / "runs" / f"{name}.json").read_text())
        runs.extend(chunk["runs"])
        time_limit = chunk["settings"]["time_limit"]
    document = results_document(t, budget_map, runs, time_limit, workers,
                                {"suite": "benchmarks/run_bench.py", "time_limit": "auto"})
    write_outputs(folder, document)
    return document


def summary_markdown(documents: dict[tuple[str, int], dict]) -> str:
    lines = ["# Replay benchmark summary", "",
             "Normalised regret = (incumbent - optimum) / (worst - optimum) at the maximum budget. "
             "Times are simulated seconds: median over the seeds that reached the target (reached/seeds). "
             "Speed-up = other's median / hyperjump's median time to 1% regret. Details and plots: each folder's "
             "report.md.", ""]
    for (table, workers), document in documents.items():
        summary = summarize(document)
        ups = speedups(summary)
        lines += [f"## {table}, {workers} worker(s) ([report]({folder_name(table, workers)}/report.md))", "",
                  "| advisor | " + " | ".join(f"to {t:g}" for t in TARGETS) +
                  " | final regret | trials | ms/decision (median / p95) | hyperjump speed-up at 1% |",
                  "|---|" + "---|" * len(TARGETS) + "---|---|---|---|"]
        for name, s in summary.items():
            cells = []
            for target in TARGETS:
                x = s["targets"][target]
                median = "—" if x["median"] is None else f"{x['median']:,.0f}"
                cells.append(f"{median} ({x['reached']}/{s['seeds']})")
            up = ups.get(name, {}).get(0.01)
            ms = "—" if s["decision_ms_median"] is None else \
                f"{s['decision_ms_median']:.2f} / {s['decision_ms_p95']:.2f}"
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {s['final_mean']:.4f} | {s['trials']:.0f} | "
                         f"{ms} | {'—' if up is None else f'{up:.2f}x'} |")
        oracle = document.get("oracle", {})
        lines.append("| *oracle* | " + " | ".join(
            "—" if oracle.get(str(t)) is None else f"{oracle[str(t)]:,.0f}" for t in TARGETS) + " | | | | |")
        errors = {n: len(s["errors"]) for n, s in summary.items() if s["errors"]}
        if errors:
            lines.append("")
            lines.append("Errors: " + ", ".join(f"{n} {k} run(s)" for n, k in errors.items()) + " (see report.md)")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "bench-results"))
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--tables", nargs="+", default=TABLES)
    p.add_argument("--workers", nargs="+", type=int, default=WORKERS)
    p.add_argument("--advisors", nargs="+", default=ADVISORS, choices=list(advisors.REGISTRY))
    p.add_argument("--iterations", type=int, default=4, help="Hyperband iterations the time limit allows")
    p.add_argument("--jobs", type=int, default=1, help="chunks run in parallel processes")
    p.add_argument("--force", action="store_true", help="rerun chunks that are already done")
    args = p.parse_args(argv)
    out = Path(args.out)
    todo = []
    for table in args.tables:
        for workers in args.workers:
            (out / folder_name(table, workers) / "runs").mkdir(parents=True, exist_ok=True)
            for advisor in args.advisors:
                settings = chunk_settings(table, workers, advisor, args.seeds, args.iterations)
                path = out / folder_name(table, workers) / "runs" / f"{advisor}.json"
                if args.force or not chunk_done(path, settings):
                    todo.append((table, workers, advisor, settings, str(path)))
    print(f"{len(todo)} chunk(s) to run, results in {out}", file=sys.stderr)
    if args.jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for future in as_completed([pool.submit(run_chunk, *job) for job in todo]):
                print(future.result(), file=sys.stderr)
    else:
        for job in todo:
            print(run_chunk(*job), file=sys.stderr)
    documents = {(table, workers): merge(out, table, workers, args.advisors)
                 for table in args.tables for workers in args.workers}
    (out / "SUMMARY.md").write_text(summary_markdown(documents))
    print(out / "SUMMARY.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
