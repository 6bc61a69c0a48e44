"""``hyperjump-results EXPERIMENT_ID``: what the advisor did, from its own records."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from .reading import RecordsError, find_log_folder, load_records
from .report import moves_csv, plan_text, records_json, text_report, trials_csv

EXIT_ENDED_IN_ERROR = 1   # the records say the experiment ended in error (a halt, or the advisor refused to start)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hyperjump-results",
        description="Show what the HyperJump advisor did in an NNI experiment: why it ended in error (if it did; "
                    "the exit status is then 1), every trial with its true configuration, the best configuration "
                    "at the full budget, the rungs (async) or brackets, every promotion, jump and stop. Reads the "
                    "advisor's own records (hyperjump-trials.csv, hyperjump-audit.jsonl beside dispatcher.log); "
                    "works while the experiment runs.")
    parser.add_argument("experiment_id", nargs="?", help="NNI experiment id (nnictl experiment list)")
    parser.add_argument("--dir", help="an experiment folder or its log folder (instead of an id)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="the trials as CSV")
    output.add_argument("--csv-moves", action="store_true", help="every promotion, jump and stop as CSV")
    output.add_argument("--json", action="store_true", help="everything as JSON")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with plots (the text "
                        "report is then not printed, unless --text)")
    parser.add_argument("--text", action="store_true", help="print the text report also with --html")
    parser.add_argument("--plan", nargs=2, type=int, metavar=("R", "ETA"),
                        help="print one Hyperband iteration for (R, eta) and its trial count, then exit")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.plan:
        R, eta = args.plan
        if R < 1 or eta < 2:
            print("hyperjump-results: --plan needs R >= 1 and ETA >= 2", file=sys.stderr)
            return 2
        sys.stdout.write(plan_text(R, eta))
        return 0
    try:
        records = load_records(find_log_folder(args.experiment_id, args.dir))
    except RecordsError as error:
        print(f"hyperjump-results: {error}", file=sys.stderr)
        return 2
    if args.csv or args.csv_moves:
        sys.stdout.write(moves_csv(records) if args.csv_moves else trials_csv(records))
    elif args.json:
        sys.stdout.write(json.dumps(records_json(records), indent=2) + "\n")
    elif args.text or not args.html:
        sys.stdout.write(text_report(records))
    if args.html:
        from .html import write_html
        write_html(records, Path(args.html))
        print(f"wrote {args.html}", file=sys.stderr)
    if records.halt is not None:
        print(f"hyperjump-results: the experiment ended in error: {records.halt.splitlines()[0]}", file=sys.stderr)
        return EXIT_ENDED_IN_ERROR
    return 0
