"""Run the quick start with one of three user mistakes through real ``nnictl`` and show what
``hyperjump-results`` says first (issue 21). Isolated: own HOME, NNI_CONFIG_DIR, working folder.

Usage: python benchmarks/three_mistakes.py {treshold,import,metric} [--port 9341]
- treshold: classArgs with a typo (``treshold: 0.1``);
- import: the trial starts with ``import nonexistent_module``;
- metric: the trial reports a final metric dict without ``default``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mixup_rate import QUICKSTART, ROOT, get


def trial_folder(mistake: str, scratch: Path) -> Path:
    folder = scratch / "trial"
    shutil.copytree(QUICKSTART, folder)
    trial = folder / "trial.py"
    text = trial.read_text()
    if mistake == "import":
        text = text.replace("import nni\n", "import nni\nimport nonexistent_module\n", 1)
    elif mistake == "metric":
        text = text.replace("    report_final(accuracy)", '    report_final({"accuracy": accuracy})')
    trial.write_text(text)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mistake", choices=("treshold", "import", "metric"))
    parser.add_argument("--port", type=int, default=9341)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix=f"mistake-{args.mistake}-"))
    work, home = scratch / "experiments", scratch / "home"
    work.mkdir()
    home.mkdir()
    env = dict(os.environ, HOME=str(home), NNI_CONFIG_DIR=str(scratch / "nni-config"))
    config = yaml.safe_load((QUICKSTART / "config.yml").read_text())
    class_args = {"R": 9, "eta": 3, "optimize_mode": "maximize", "seed": 1}
    if args.mistake == "treshold":
        class_args["treshold"] = 0.1
    code = trial_folder(args.mistake, scratch)
    config.update(trialCommand=f"{sys.executable} trial.py", trialCodeDirectory=str(code),
                  maxTrialNumber=14, maxExperimentDuration="5m", experimentWorkingDirectory=str(work),
                  experimentName=f"mistake-{args.mistake}",
                  advisor={"className": "hyperjump_advisor.HyperJump", "codeDirectory": str(ROOT),
                           "classArgs": class_args})
    (scratch / "config.yml").write_text(yaml.safe_dump(config))
    nnictl = str(Path(sys.executable).parent / "nnictl")
    for attempt in range(4):   # NNI 3.0's launcher sometimes fails on a slow start: retry
        port = args.port + attempt
        created = subprocess.run([nnictl, "create", "--config", str(scratch / "config.yml"), "--port", str(port)],
                                 env=env, capture_output=True, text=True)
        if created.returncode == 0:
            break
        subprocess.run([nnictl, "stop", "--port", str(port)], env=env, capture_output=True)
    base, start, experiment = f"http://127.0.0.1:{port}/api/v1/nni", time.time(), None
    try:
        experiment = get(base + "/experiment")["id"]
        while True:
            status = get(base + "/check-status")
            if status["status"] in ("DONE", "ERROR", "STOPPED") or time.time() - start > 300:
                break
            time.sleep(2)
        time.sleep(3)   # the advisor's last audit line
    finally:
        subprocess.run([nnictl, "stop", experiment] if experiment else [nnictl, "stop", "--port", str(port)],
                       env=env, capture_output=True)
    print(f"experiment {experiment}: {status['status']} {status.get('errors')} after {time.time() - start:.0f} s")
    results = subprocess.run([str(Path(sys.executable).parent / "hyperjump-results"), "--dir",
                              str(work / experiment)], env=env, capture_output=True, text=True)
    print(f"$ hyperjump-results --dir {work / experiment}   (exit {results.returncode})")
    print("\n".join(results.stdout.splitlines()[:14]))
    print(results.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
