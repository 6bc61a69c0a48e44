"""``python -m hyperjump_advisor.replay``: replay advisors against a learning-curve table.

Example::

    python -m hyperjump_advisor.replay --table hyperjump:cnn --advisor hyperjump --advisor hyperband \\
        --seeds 20 --workers 1 --time-limit auto --out bench-results/cnn-w1

Writes DIR/results.json, DIR/report.md, DIR/regret.png and, when this project's advisor jumped,
DIR/calibration.png (see :mod:`.report` and :mod:`.calibration`).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from . import advisors
from .faults import Faults
from .measures import summarize
from .peers import envs as peer_envs
from .peers.runner import environment_problem, list_advisors
from .render import median_cell
from .report import results_document, write_outputs
from .runs import run_many
from .shared_tables import SHARED_TABLES, load_table
from .simulator import SimConfig
from .tables import SPACES, TableError, auto_time_limit, resolve_R_eta


def parse_class_arg(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--class-arg takes KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a fraction in [0, 1], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hyperjump_advisor.replay",
        description="Replay advisors in-process against a learning-curve table on a simulated clock.",
        epilog=f"Shared tables: {', '.join('hyperjump:' + n for n in SHARED_TABLES)}; or a CSV path in the generic "
               "format (hyperparameter columns + budget, loss, time[, intermediate]). "
               f"Advisors: {', '.join(advisors.REGISTRY)}.")
    p.add_argument("--table", help="hyperjump:NAME or a path to a generic CSV table (required to replay)")
    p.add_argument("--advisor", action="append", metavar="NAME[:KEY=VALUE,...]",
                   help="advisor to replay (repeatable; required to replay; see --list-advisors); this project's "
                        "advisors take classArgs overrides, e.g. 'hyperjump:threshold=0,random_fraction=1' "
                        "(hyperjump_advisor/replay/overrides.py)")
    p.add_argument("--list-advisors", action="store_true",
                   help="print the advisor names, one per line, and exit (stderr: peer environments missing)")
    p.add_argument("--setup-peers", nargs="*", metavar="FAMILY", default=None,
                   help="create the peer advisors' environments (all families, or those named: "
                        f"{', '.join(peer_envs.FAMILIES)}) outside the repository, then exit unless a replay is "
                        f"also asked for; ${peer_envs.DIR_VARIABLE} overrides their folder")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds per advisor (seeds 0..N-1 + offset)")
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="simulated workers (trialConcurrency)")
    p.add_argument("--eta", type=int, default=None, help="Hyperband eta (default: the table's)")
    p.add_argument("--R", type=int, default=None, help="Hyperband R (default: eta^(levels-1))")
    p.add_argument("--time-limit", default="auto",
                   help="simulated seconds, or 'auto' = 4 Hyperband iterations of mean table time / workers")
    p.add_argument("--out", help="output folder (required to replay)")
    p.add_argument("--class-arg", action="append", default=[], type=parse_class_arg, metavar="KEY=VALUE",
                   help="classArg for this project's advisors (repeatable; JSON values parsed)")
    p.add_argument("--charge-advisor-time", action="store_true",
                   help="add each advisor handler call's wall time to the simulated clock")
    p.add_argument("--no-periodical", action="store_true", help="deliver no PERIODICAL metrics")
    p.add_argument("--no-more", choices=("manager", "stop"), default="manager",
                   help="on NoMoreTrialJobs: keep requesting as NNI's manager does (default) or stop asking")
    p.add_argument("--resume-key", default="HYPERJUMP_RESUME_FROM",
                   help="the trial parameter naming the TRIAL_BUDGET a trial resumes from (pause-resume: such a "
                        "trial costs only its extra time); '' turns it off")
    p.add_argument("--max-trials", type=int, default=100_000, help="safety stop per run")
    p.add_argument("--space", choices=SPACES, default="auto",
                   help="search space of the table: per-column choices (grid), one choice over the table's "
                        "configurations (list), or auto = grid for a full grid, else list (default)")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="do not give the advisor an NNI checkpoint folder (default: a temporary one per run, "
                        "as in a real experiment; the advisor writes its state there after every command)")
    faults = p.add_argument_group("fault injection (deterministic under --fault-seed)")
    faults.add_argument("--fail-fraction", type=_fraction, default=0.0)
    faults.add_argument("--cancel-fraction", type=_fraction, default=0.0)
    faults.add_argument("--duplicate-final-fraction", type=_fraction, default=0.0)
    faults.add_argument("--final-after-end-fraction", type=_fraction, default=0.0)
    faults.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--verbose", action="store_true", help="keep the advisors' own log warnings")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    advisors.QUIET_LOGS = not args.verbose
    if args.list_advisors:
        list_advisors(advisors.REGISTRY)
        return 0
    if args.setup_peers is not None:
        try:
            setup = peer_envs.setup(args.setup_peers or None)
        except KeyError as error:
            print(f"error: {error.args[0]}", file=sys.stderr)
            return 2
        if any(r["status"] == "failed" for r in setup.values()):
            return 1
        if not (args.table or args.advisor or args.out):
            return 0
    missing = [name for name, value in (("--table", args.table), ("--advisor", args.advisor), ("--out", args.out))
               if not value]
    if missing:
        parser.error(f"the following arguments are required to replay: {', '.join(missing)}")
    try:
        specs = [advisors.get(name) for name in dict.fromkeys(args.advisor)]
    except (KeyError, ValueError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    problems = [p for p in map(environment_problem, dict.fromkeys(args.advisor)) if p]
    if problems:
        print("error: " + "\nerror: ".join(problems), file=sys.stderr)
        return 2
    try:
        table = load_table(args.table, args.space)
        budget_map = resolve_R_eta(table, args.R, args.eta)
    except TableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.time_limit == "auto":
        time_limit = auto_time_limit(table, budget_map, args.workers)
    else:
        time_limit = float(args.time_limit)
        if not time_limit > 0:
            print("error: --time-limit must be > 0 (or 'auto')", file=sys.stderr)
            return 2
    try:
        fault_config = Faults(fail=args.fail_fraction, cancel=args.cancel_fraction,
                              duplicate_final=args.duplicate_final_fraction,
                              final_after_end=args.final_after_end_fraction, seed=args.fault_seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = SimConfig(workers=args.workers, time_limit=time_limit, charge_advisor_time=args.charge_advisor_time,
                       periodical=not args.no_periodical, faults=fault_config, no_more=args.no_more,
                       resume_key=args.resume_key or None, max_trials=args.max_trials,
                       checkpoint=not args.no_checkpoint)
    class_args = dict(args.class_arg)
    seeds = [args.seed_offset + i for i in range(args.seeds)]
    if not args.quiet:
        print(f"{table.summary()}\nR={budget_map.R} eta={budget_map.eta} workers={args.workers} "
              f"time limit {time_limit:,.0f} s, {len(specs)} advisor(s) x {len(seeds)} seed(s)", file=sys.stderr)
    runs = run_many(specs, table, budget_map, seeds, config, class_args, progress=not args.quiet)
    settings = {"charge_advisor_time": args.charge_advisor_time, "periodical": not args.no_periodical,
                "no_more": args.no_more, "class_args": class_args, "seeds": seeds,
                "space": table.space, "checkpoint": not args.no_checkpoint}
    if fault_config.active:
        settings["faults"] = {k: getattr(fault_config, k)
                              for k in ("fail", "cancel", "duplicate_final", "final_after_end", "seed")}
    if args.resume_key:
        settings["resume_key"] = args.resume_key
    document = results_document(table, budget_map, runs, time_limit, args.workers, settings)
    outputs = write_outputs(args.out, document)
    print(_console_summary(document), end="")
    print(f"wrote {', '.join(str(p) for p in outputs.values())}")
    return 1 if any(r.get("error") for r in runs) else 0


def _console_summary(document: dict) -> str:
    lines = []
    for name, s in summarize(document).items():
        t = s["targets"]
        lines.append(f"{name:>14}: final regret {s['final_mean']:.4f}; median time (all seeds) to 10%/1%/0.1%: "
                     + " / ".join(median_cell(t[k], s["seeds"]) for k in t)
                     + (f"; {s['missing_config_proposals']:.1f} missing-config proposals/run"
                        if s["missing_config_proposals"] else "")
                     + (f"; {len(s['errors'])} ERROR(S)" if s["errors"] else ""))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
