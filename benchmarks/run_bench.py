"""The standard replay suite (``make bench``): the shared tables, LCBench 189908 and the synthetic family x
worker counts x all advisors, with the verdict of every cell.

    python benchmarks/run_bench.py [--out bench-results/standard] [--seeds 20] [--seeds-for 'syne-*=5']
                                   [--workers-for 'synthetic:*=8'] [--checkpoint-seeds 1] [--jobs 2]
                                   [--quick] [--force]

Layout (resumable: a chunk that already has its JSON with the same settings is not rerun, and a stopped
chunk continues after the seeds it saved in ``<advisor>.partial.json``)::

    <out>/
      SUMMARY.md                         every cell's verdict line, the mean rank over time averaged
                                         over the cells, then one section per table and worker count
                                         (ranked advisors, hyperjump vs the best peer and hyperband, the
                                         verdict: p-values, bootstrap intervals, mean ranks; plot; the
                                         calibration of the jumps of this project's advisors)
      README-table.md                    the table the README includes verbatim
      chunks.md                          wall and CPU time of every chunk (for planning the budget)
      <table>-w<W>/runs/<advisor>.json   one chunk = one advisor, all its seeds
      <table>-w<W>/results.json          merged chunks (schema: hyperjump_advisor.replay.report)
      <table>-w<W>/report.md, regret.png, calibration.png

Tables: by default the five real tables (``hyperjump:cnn``, ``cnn_time3``, ``mnist_epochs``, ``unet``,
``lcbench:189908``) and the seven ``synthetic:*`` members (``hyperjump_advisor.replay.synthetic_family``);
``--workers-for PATTERN=W,...`` gives the tables matching a pattern their own worker counts.

Advisors: by default every registered advisor: ``hyperjump``, ``hyperband``, NNI's advisors, ``random`` and
the peers registered in ``hyperjump_advisor.replay.advisors``; ablations are overrides
(``hyperjump:threshold=0``, see ``hyperjump_advisor.replay.overrides``). Seeds: ``--seeds`` for all,
``--seeds-for PATTERN=N[@CELL_PATTERN]`` for the advisors whose name matches the shell pattern, in the cells
whose folder name matches (e.g. ``syne-mobster=5@cnn-w8``; ``=0``: not run there).

Checkpointing: runs are identical with and without the advisor's state checkpointing (it changes no
decision; the clock does not charge advisor time), but writing the state after every command costs
this project's advisor much CPU. So the first ``--checkpoint-seeds`` seeds of each chunk run with
it on (as in a real experiment), the others with it off; report.md shows the advisor seconds of each
kind. ``--checkpoint-seeds 0`` turns it off everywhere.

``--quick`` (``make bench-quick``): three tables (mnist_epochs, cnn, synthetic:needle) at 8 workers, 5 seeds
(pass --seeds-for for slow peers), one checkpointed seed: a smoke test of the whole pipeline.

Calibration: each run of this project's advisors holds its jumps scored against the table's truth
(``hyperjump_advisor.replay.calibration``); SUMMARY.md and report.md show them binned by predicted rEAR. A
chunk written before calibration existed has none and is reused as it is (``--force`` reruns it).

Time limits: ``auto`` = 4 Hyperband iterations of the table's mean training time per level,
divided by the worker count (``hyperjump_advisor.replay.tables.auto_time_limit``).

Budget (chunks.md records every chunk's wall and CPU seconds; CPU is the figure to plan with on a shared
machine). Measured 2026-12-07, one seed per chunk, checkpointing off: the eleven advisors that fit no GP per
decision take 28-38 CPU-s per seed and cell at 8 workers on the five real tables and 29-33 CPU-s on the
synthetic members (hyperjump 5-12 of it, syne-bohb 4-11, each peer ~1.5-2 s of subprocess start); at 1 worker
on cnn the same; MOBSTER and Hyper-Tune with their GP cost bounds (peers/syne.py) 66-92 and 93-174 CPU-s per
seed. A checkpointed run adds about 20-45 s (hyperjump) and 12-20 s (hyperband) of wall time (the state file written
and fsync'ed after every command). ``make bench`` (22 cells x 8 seeds, GP peers on 2 cells x 5 seeds,
ablations, cost tables) is thus ~9,000 CPU-s, an estimated 80-85 min with --jobs 2 on an idle 2-core machine.

Runs are deterministic per seed (seeds 0..N-1) unless the advisors' compute time is charged.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hyperjump_advisor.replay import advisors  # noqa: E402
from hyperjump_advisor.replay.measures import is_ours  # noqa: E402
from hyperjump_advisor.replay.report import results_document, write_outputs  # noqa: E402
from hyperjump_advisor.replay.runs import run_one  # noqa: E402
from hyperjump_advisor.replay.shared_tables import load_table  # noqa: E402
from hyperjump_advisor.replay.simulator import SimConfig  # noqa: E402
from hyperjump_advisor.replay.suite_report import chunks_markdown, readme_table, summary_markdown  # noqa: E402
from hyperjump_advisor.replay.synthetic_family import FAMILY, PREFIX  # noqa: E402
from hyperjump_advisor.replay.tables import auto_time_limit, resolve_R_eta  # noqa: E402

SHARED = ["hyperjump:cnn", "hyperjump:cnn_time3", "hyperjump:mnist_epochs", "hyperjump:unet", "lcbench:189908"]
SYNTHETIC = [PREFIX + name for name in FAMILY]
TABLES = SHARED + SYNTHETIC
QUICK_TABLES = ["hyperjump:mnist_epochs", "hyperjump:cnn", "synthetic:needle"]
QUICK_WORKERS = [8]
WORKERS = [1, 8, 32]
GP_PEERS = ("syne-mobster", "syne-hypertune")
STANDARD = ["hyperjump", "hyperband", "nni-hyperband", "nni-bohb", "random"]
# Every ablation is HyperJump with overrides (hyperjump_advisor/replay/overrides.py): classArgs or replay switches.
ABLATIONS = ["hyperjump", "hyperjump:exec_mode=parallelism", "hyperjump:several_brackets=false",
             "hyperjump:explain_jumps=false", "hyperjump:threshold=0", "hyperjump:random_fraction=1",
             "hyperjump:pause_resume=false,opportunistic=false", "hyperband"]


def default_advisors() -> list[str]:
    """The standard advisors, then every other registered advisor that is not an ablation (the peers)."""
    return STANDARD + [n for n in advisors.REGISTRY if n not in STANDARD and not is_ours(n)]


def folder_name(table: str, workers: int) -> str:
    """cnn-w8 (hyperjump:cnn), synthetic-needle-w8, lcbench-189908-w8, or a CSV file's stem."""
    if table.startswith("hyperjump:"):
        name = table.split(":", 1)[1]
    elif ":" in table and not Path(table).is_file():
        name = table.replace(":", "-")
    else:
        name = Path(table).stem
    return f"{name}-w{workers}"


def parse_seeds_for(items: list[str]) -> list[tuple[str, int, str]]:
    """``PATTERN=N[@CELL_PATTERN]`` -> (advisor pattern, seeds, cell pattern, "*" when not given)."""
    out = []
    for item in items:
        pattern, _, rest = item.partition("=")
        n, _, cell = rest.partition("@")
        if not pattern or not n.isdigit():
            raise SystemExit(f"--seeds-for takes PATTERN=N[@CELL_PATTERN] (N >= 0), got {item!r}")
        out.append((pattern, int(n), cell or "*"))
    return out


def parse_workers_for(items: list[str]) -> list[tuple[str, list[int]]]:
    out = []
    for item in items:
        pattern, _, counts = item.rpartition("=")
        try:
            workers = [int(w) for w in counts.split(",")]
        except ValueError:
            workers = []
        if not pattern or not workers or min(workers) < 1:
            raise SystemExit(f"--workers-for takes TABLE_PATTERN=W[,W...] (W >= 1), got {item!r}")
        out.append((pattern, workers))
    return out


def workers_of(table: str, workers: list[int], workers_for: list[tuple[str, list[int]]]) -> list[int]:
    """The last matching --workers-for pattern wins; else --workers."""
    out = workers
    for pattern, counts in workers_for:
        if fnmatch.fnmatchcase(table, pattern):
            out = counts
    return out


def seeds_of(advisor: str, seeds: int, seeds_for: list[tuple[str, int, str]], cell: str = "") -> int:
    """The last --seeds-for rule matching the advisor and the cell's folder name (e.g. cnn-w8) wins; else
    --seeds. 0: the advisor does not run in that cell."""
    n = seeds
    for pattern, k, cell_pattern in seeds_for:
        if fnmatch.fnmatchcase(advisor, pattern) and fnmatch.fnmatchcase(cell, cell_pattern):
            n = k
    return n


def chunk_settings(table: str, workers: int, advisor: str, seeds: int, iterations: int,
                   checkpoint_seeds: int) -> dict:
    t = load_table(table)
    budget_map = resolve_R_eta(t)
    return {"table": table, "workers": workers, "advisor": advisor, "seeds": list(range(seeds)),
            "R": budget_map.R, "eta": budget_map.eta, "space": t.space,
            "checkpoint_seeds": min(checkpoint_seeds, seeds),
            "time_limit": auto_time_limit(t, budget_map, workers, iterations)}


def run_chunk(table: str, workers: int, advisor: str, settings: dict, path: str) -> str:
    advisors.QUIET_LOGS = True
    t = load_table(table)
    budget_map = resolve_R_eta(t)
    spec = advisors.get(advisor)
    partial = Path(path).with_suffix(".partial.json")
    runs, wall, cpu = _resume(partial, settings)
    started, cpu_started = time.time(), _cpu_seconds()
    for seed in settings["seeds"][len(runs):]:
        config = SimConfig(workers=workers, time_limit=settings["time_limit"],
                           checkpoint=seed < settings["checkpoint_seeds"])
        runs.append(run_one(spec, t, budget_map, seed, config))
        _write(partial, {"settings": settings, "runs": runs, "wall_seconds": wall + time.time() - started,
                         "cpu_seconds": cpu + _cpu_seconds() - cpu_started})
    wall, cpu = wall + time.time() - started, cpu + _cpu_seconds() - cpu_started
    _write(Path(path), {"settings": settings, "runs": runs, "wall_seconds": wall, "cpu_seconds": cpu})
    partial.unlink(missing_ok=True)
    errors = sum(1 for r in runs if r.get("error"))
    return f"{folder_name(table, workers)}/{advisor}: {len(runs)} runs in {wall:.0f} s (CPU {cpu:.0f} s)" + \
        (f", {errors} with errors" if errors else "")


def _resume(partial: Path, settings: dict) -> tuple[list, float, float]:
    """(runs, wall, CPU seconds) of the seeds a stopped chunk with the same settings already finished."""
    try:
        done = json.loads(partial.read_text())
    except (OSError, json.JSONDecodeError):
        return [], 0.0, 0.0
    if done.get("settings") != json.loads(json.dumps(settings)):
        return [], 0.0, 0.0
    return done["runs"], done.get("wall_seconds") or 0.0, done.get("cpu_seconds") or 0.0


def _write(path: Path, document: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document))
    os.replace(tmp, path)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the peers' subprocesses): on a shared machine
    the figure to plan a budget with, where wall time depends on the load."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def chunk_done(path: Path, settings: dict) -> bool:
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("settings") == json.loads(json.dumps(settings))
    except (OSError, json.JSONDecodeError):
        return False


def merge(out: Path, table: str, workers: int, advisor_names: list[str]) -> tuple[dict, dict]:
    """(results document, advisor -> (chunk wall seconds, CPU seconds)) of one table and worker count."""
    t = load_table(table)
    budget_map = resolve_R_eta(t)
    folder = out / folder_name(table, workers)
    runs, time_limit, walls = [], None, {}
    for name in advisor_names:
        chunk = json.loads((folder / "runs" / f"{name}.json").read_text())
        runs.extend(chunk["runs"])
        time_limit = chunk["settings"]["time_limit"]
        walls[name] = (chunk.get("wall_seconds"), chunk.get("cpu_seconds"))
    document = results_document(t, budget_map, runs, time_limit, workers,
                                {"suite": "benchmarks/run_bench.py", "time_limit": "auto", "space": t.space})
    write_outputs(folder, document)
    return document, walls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "bench-results"))
    p.add_argument("--seeds", type=int, default=None, help="seeds per advisor (default 20; --quick 5)")
    p.add_argument("--seeds-for", action="append", default=[], metavar="PATTERN=N[@CELL_PATTERN]",
                   help="seeds for the advisors matching a shell pattern, in the cells whose folder name (e.g. "
                        "cnn-w8) matches CELL_PATTERN (default all); 0 = not run there (repeatable; the last "
                        "match wins)")
    p.add_argument("--tables", nargs="+", default=None, help=f"default {TABLES} (--quick: {QUICK_TABLES})")
    p.add_argument("--workers", nargs="+", type=int, default=None, help=f"default {WORKERS} (--quick: {QUICK_WORKERS})")
    p.add_argument("--workers-for", action="append", default=[], metavar="TABLE_PATTERN=W[,W...]",
                   help="worker counts for the tables matching a shell pattern (repeatable; the last match wins), "
                        "e.g. 'synthetic:*=8'")
    p.add_argument("--advisors", nargs="+", default=None, metavar="NAME[:KEY=VALUE,...]",
                   help="default: every registered advisor (hyperjump, hyperband, NNI's, random, the peers); "
                        "ablations as overrides, e.g. 'hyperjump:threshold=0'")
    p.add_argument("--iterations", type=int, default=4, help="Hyperband iterations the time limit allows")
    p.add_argument("--checkpoint-seeds", type=int, default=1,
                   help="the first N seeds of each chunk run with the advisor's state checkpointing on")
    p.add_argument("--no-checkpoint", action="store_true", help="same as --checkpoint-seeds 0")
    p.add_argument("--quick", action="store_true",
                   help=f"quick profile: tables {QUICK_TABLES} at {QUICK_WORKERS} workers, 5 seeds "
                        "(--seeds-for still applies)")
    p.add_argument("--readme-table", default=None, help="where to write the README table (default OUT/README-table.md)")
    p.add_argument("--jobs", type=int, default=1, help="chunks run in parallel processes")
    p.add_argument("--force", action="store_true", help="rerun chunks that are already done")
    args = p.parse_args(argv)
    tables = args.tables or (QUICK_TABLES if args.quick else TABLES)
    seeds = args.seeds if args.seeds is not None else (5 if args.quick else 20)
    seeds_for = parse_seeds_for(args.seeds_for)
    workers_for = parse_workers_for(args.workers_for)
    workers = args.workers or (QUICK_WORKERS if args.quick else WORKERS)
    cells = [(table, w) for table in tables for w in workers_of(table, workers, workers_for)]
    names = args.advisors or default_advisors()
    try:
        for name in names:
            advisors.get(name)
    except (KeyError, ValueError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    checkpoint_seeds = 0 if args.no_checkpoint else args.checkpoint_seeds
    out = Path(args.out)
    todo = []
    running: dict[tuple[str, int], list[str]] = {}
    for table, workers in cells:
        (out / folder_name(table, workers) / "runs").mkdir(parents=True, exist_ok=True)
        for advisor in names:
            n = seeds_of(advisor, seeds, seeds_for, folder_name(table, workers))
            if n == 0:
                continue
            running.setdefault((table, workers), []).append(advisor)
            settings = chunk_settings(table, workers, advisor, n, args.iterations, checkpoint_seeds)
            path = out / folder_name(table, workers) / "runs" / f"{advisor}.json"
            if args.force or not chunk_done(path, settings):
                todo.append((table, workers, advisor, settings, str(path)))
    print(f"{len(todo)} chunk(s) to run, results in {out}", file=sys.stderr)
    started = time.time()
    if args.jobs > 1 and len(todo) > 1:
        # longest first (the GP peers, hyperjump and the model-based advisors) keeps both cores busy
        todo.sort(key=lambda job: (job[2] not in GP_PEERS, not is_ours(job[2]), job[2] != "nni-bohb",
                                   -len(job[3]["seeds"])))
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for future in as_completed([pool.submit(run_chunk, *job) for job in todo]):
                print(future.result(), file=sys.stderr)
    else:
        for job in todo:
            print(run_chunk(*job), file=sys.stderr)
    merged = {cell: merge(out, cell[0], cell[1], running[cell]) for cell in cells if cell in running}
    documents = {k: v[0] for k, v in merged.items()}
    (out / "SUMMARY.md").write_text(summary_markdown(documents, folder_name, out))
    (out / "chunks.md").write_text(chunks_markdown({k: v[1] for k, v in merged.items()}))
    readme = Path(args.readme_table) if args.readme_table else out / "README-table.md"
    readme.parent.mkdir(parents=True, exist_ok=True)
    readme.write_text(readme_table(documents, folder_name))
    print(f"{out / 'SUMMARY.md'}, {readme}; {time.time() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
