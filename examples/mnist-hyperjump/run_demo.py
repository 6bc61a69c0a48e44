"""`make demo`: a small, bounded HyperJump experiment on this example through real NNI.

Starts an NNI experiment (manager, web UI, local training service) from
config.yml, bounded to one Hyperband iteration of R=9 so that it finishes in a
minute or two on 2 cores, prints the web UI address and progress while it runs,
then the best configuration, and stops the experiment.
"""
from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

from nni.experiment import Experiment, ExperimentConfig

from hyperjump_advisor.results import experiment_best
from hyperjump_advisor.schedule import iteration_plan

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(R: int, eta: int, minutes: int) -> ExperimentConfig:
    config = ExperimentConfig.load(str(HERE / "config.yml"))
    config.trial_command = f"{sys.executable} mnist.py"   # the interpreter that has nni
    config.trial_code_directory = str(HERE)
    config.search_space_file = str(HERE / "search_space.json")
    config.max_trial_number = sum(stage.n for bracket in iteration_plan(R, eta) for stage in bracket)
    config.max_experiment_duration = f"{minutes}m"
    algorithm = config.advisor or config.tuner  # NNI 3.0 moves `advisor:` to `tuner` when canonicalising
    algorithm.class_args.update({"R": R, "eta": eta})
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--R", type=int, default=9, help="maximum epochs (default 9: one iteration = 22 trials)")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=4, help="hard limit of the experiment")
    parser.add_argument("--port", type=int, default=0, help="web UI port (default: a free one)")
    parser.add_argument("--keep-running", action="store_true", help="leave the web UI up until Ctrl-C")
    args = parser.parse_args()

    config = demo_config(args.R, args.eta, args.minutes)
    port = args.port or free_port()
    experiment = Experiment(config)
    print(f"HyperJump demo: up to {config.max_trial_number} trials of examples/mnist-hyperjump, "
          f"R={args.R}, eta={args.eta}, {config.trial_concurrency} at a time", flush=True)
    experiment.start(port)
    print(f"Web UI: http://127.0.0.1:{port}  (experiment {experiment.id})", flush=True)
    status = "RUNNING"
    try:
        deadline = time.time() + 60 * args.minutes + 30
        while time.time() < deadline:
            status = experiment.get_status()
            jobs = experiment.list_trial_jobs()
            done = sum(j.status in ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED") for j in jobs)
            print(f"  [{time.strftime('%H:%M:%S')}] {status}: {done}/{config.max_trial_number} trials finished "
                  f"- web UI http://127.0.0.1:{port}", flush=True)
            if status in ("DONE", "ERROR", "STOPPED", "NO_MORE_TRIAL"):
                break
            time.sleep(10)
        best = experiment_best(experiment, maximize=True)
        if best is None:
            print("No trial reported a final metric.")
        else:
            params = {k: v for k, v in best.parameters.items()}
            print(f"Best validation accuracy {best.metric:.4f} at TRIAL_BUDGET={params.pop('TRIAL_BUDGET')} epochs "
                  f"(trial {best.trial_job_id}, parameter {best.parameter_id}):")
            for key, value in params.items():
                print(f"    {key} = {value}")
        print(f"Experiment status: {status}. Logs: {Path(config.experiment_working_directory or '~/nni-experiments').expanduser() / experiment.id}")
        if args.keep_running:
            print("Web UI stays up; press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        experiment.stop()
    return 0 if status == "DONE" else 1


if __name__ == "__main__":
    sys.exit(main())
