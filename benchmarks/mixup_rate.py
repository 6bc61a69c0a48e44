"""Measure the NNI issue 5726 mix-up rate with a real ``nnictl`` quick-start experiment.

Usage: python benchmarks/mixup_rate.py LABEL --concurrency 2 --trials 25 [--class-args JSON] [--port 9321]

Runs ``examples/quickstart`` (its trial and search space) through ``nnictl create`` in an isolated
HOME, NNI_CONFIG_DIR and experimentWorkingDirectory (temporary folders), waits until it ends, stops
it, and compares for every trial job with a FINAL metric:

- the parameter id NNI lists for it (REST ``/trial-jobs``, what the web UI shows) against the
  parameter id its FINAL metric carries (REST ``/metric-data``);
- the parameters NNI lists for it against the parameters the trial printed in its own log
  (``trial.stdout``: ``examples/quickstart/trial.py`` prints what ``nni.get_next_parameter()`` gave it).

Prints one JSON line (wrong by parameter id, wrong by the trial's log, seconds to the end) and writes
the per-trial rows to ``--out``. See docs/nni-facts.md for the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
LOGGED = "hyperjump-quickstart parameters: "   # the line trial.py prints


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read().decode())


def config(args, work: Path) -> dict:
    base = yaml.safe_load((QUICKSTART / "config.yml").read_text())
    base.update(trialCommand=f"{sys.executable} trial.py", trialCodeDirectory=str(QUICKSTART),
                trialConcurrency=args.concurrency, maxTrialNumber=args.trials, maxExperimentDuration="10m",
                experimentWorkingDirectory=str(work), experimentName=f"mixup-{args.label}")
    class_args = {"R": 9, "eta": 3, "optimize_mode": "maximize", "seed": args.seed, **json.loads(args.class_args)}
    base.pop("advisor", None)
    base["advisor"] = {"className": "hyperjump_advisor.HyperJump", "codeDirectory": str(ROOT),
                       "classArgs": class_args}
    return base


def logged_parameters(work: Path, experiment: str, job: str):
    for name in ("trial.log", "trial.stdout"):   # NNI 3.0 puts a trial's prints in trial.log ("PRINT ...")
        for path in (work / experiment / "environments").glob(f"*/trials/{job}/{name}"):
            for line in path.read_text(errors="replace").splitlines():
                if LOGGED in line:
                    return json.loads(line.split(LOGGED, 1)[1])
    return None


def compare(jobs: list, metrics: list, work: Path, experiment: str) -> list[dict]:
    final = {m["trialJobId"]: int(m["parameterId"]) for m in metrics if m["type"] == "FINAL"}
    rows = []
    for job in jobs:
        listed = json.loads(job["hyperParameters"][0]) if job.get("hyperParameters") else {}
        logged = logged_parameters(work, experiment, job["trialJobId"])
        rows.append({"job": job["trialJobId"], "status": job["status"], "listed_id": listed.get("parameter_id"),
                     "final_id": final.get(job["trialJobId"]), "listed": listed.get("parameters"),
                     "logged": logged})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("label")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--class-args", default="{}")
    parser.add_argument("--port", type=int, default=9321)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "nni-mixup"))
    parser.add_argument("--reanalyse", metavar="JSON", help="recount a saved run from its experiment folder")
    args = parser.parse_args()
    if args.reanalyse:
        saved = json.loads(Path(args.reanalyse).read_text())
        folder = Path(saved["folder"])
        jobs = [{"trialJobId": r["job"], "status": r["status"],
                 "hyperParameters": [json.dumps({"parameter_id": r["listed_id"], "parameters": r["listed"]})]}
                for r in saved["rows"]]
        metrics = [{"trialJobId": r["job"], "type": "FINAL", "parameterId": r["final_id"]}
                   for r in saved["rows"] if r["final_id"] is not None]
        return report(args, compare(jobs, metrics, folder.parent, folder.name), saved["experiment"],
                      saved["status"], saved["seconds"], folder.parent)
    scratch = Path(tempfile.mkdtemp(prefix=f"mixup-{args.label}-"))
    work, home = scratch / "experiments", scratch / "home"
    work.mkdir()
    home.mkdir()
    env = dict(os.environ, HOME=str(home), NNI_CONFIG_DIR=str(scratch / "nni-config"))
    config_file = scratch / "config.yml"
    config_file.write_text(yaml.safe_dump(config(args, work)))
    nnictl = str(Path(sys.executable).parent / "nnictl")
    experiment = None
    for attempt in range(4):   # NNI 3.0's launcher fails on a slow start ("INITIALIZING" is not JSON): retry
        port = args.port + attempt
        created = subprocess.run([nnictl, "create", "--config", str(config_file), "--port", str(port)],
                                 env=env, capture_output=True, text=True)
        experiment = next((line.split("ID:")[-1].strip() for line in created.stdout.splitlines()
                           if "experiment id" in line.lower() or "ID:" in line), None)
        if created.returncode == 0:
            break
        print("create failed, retrying:", created.stdout[-300:], created.stderr[-300:], flush=True)
        if experiment:
            subprocess.run([nnictl, "stop", experiment], env=env, capture_output=True)
        time.sleep(3)
    base = f"http://127.0.0.1:{port}/api/v1/nni"
    start = time.time()
    try:
        while True:
            status = get(base + "/check-status")["status"]
            if status in ("DONE", "ERROR", "STOPPED") or time.time() - start > 600:
                break
            time.sleep(2)
        seconds = time.time() - start
        profile = get(base + "/experiment")
        jobs, metrics = get(base + "/trial-jobs"), get(base + "/metric-data")
        experiment = profile["id"]
    finally:
        subprocess.run([nnictl, "stop", "--port", str(port)] if experiment is None else [nnictl, "stop", experiment],
                       env=env, capture_output=True)
    return report(args, compare(jobs, metrics, work, experiment), experiment, status, seconds, work)


def report(args, rows: list[dict], experiment: str, status: str, seconds: float, work: Path) -> int:
    with_final = [r for r in rows if r["final_id"] is not None]
    wrong_id = [r for r in with_final if r["listed_id"] != r["final_id"]]
    with_log = [r for r in rows if r["logged"] is not None]
    wrong_log = [r for r in with_log if r["logged"] != r["listed"]]
    summary = {"label": args.label, "experiment": experiment, "status": status, "concurrency": args.concurrency,
               "class_args": json.loads(args.class_args), "seconds": round(seconds), "jobs": len(rows),
               "with_final": len(with_final), "wrong_by_final_id": len(wrong_id), "with_log": len(with_log),
               "wrong_by_log": len(wrong_log), "folder": str(work / experiment)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.label}.json").write_text(json.dumps({**summary, "rows": rows}, indent=1))
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
