"""`make demo`: a small, bounded HyperJump experiment on this example through real NNI.

Starts an NNI experiment (manager, web UI, local training service) from
config.yml with R=9, eta=3 (one Hyperband iteration = 22 trials), prints the
web UI address and progress while it runs, then the best configuration at the
full budget R with its true metric, and stops the experiment.

Why the outcome is judged as it is (see the pure functions below, tested in
tests/test_demo_runner.py):

* Jumps free trials, so the advisor opens brackets of the next Hyperband
  iteration; the trial cap (maxTrialNumber) is then reached while trials still
  run and NNI reports NO_MORE_TRIAL until they end, then DONE. NO_MORE_TRIAL is
  therefore a normal end: the demo waits for DONE for a bounded grace period.
* Success means: a trial at the full budget R reported a metric. The best one
  is joined to its parameters by parameter id (never by trial job: NNI issue
  5726 can show a job with another job's parameters).
"""
from __future__ import annotations

import argparse
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from nni.experiment import Experiment, ExperimentConfig

from hyperjump_advisor.results import RecordsError, Result, final_results, load_records
from hyperjump_advisor.results.report import counts_line, plural
from hyperjump_advisor.schedule import iteration_plan

HERE = Path(__file__).resolve().parent
ADVISOR_NAME = "HyperJump"
FINISHED_TRIAL_STATUSES = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
#: Statuses in which NNI starts no new trial but running ones may still report.
CAP_REACHED_STATUSES = ("NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL")
#: Statuses after which nothing more will happen.
FINAL_STATUSES = ("DONE", "ERROR", "STOPPED")


# ---------------------------------------------------------------------------
# Pure decisions (tested without NNI)
# ---------------------------------------------------------------------------

def trials_per_iteration(R: int, eta: int) -> int:
    """Trials of one Hyperband iteration for (R, eta): every stage of every bracket."""
    return sum(stage.n for bracket in iteration_plan(R, eta) for stage in bracket)


def demo_trial_cap(R: int, eta: int) -> int:
    """maxTrialNumber of the demo: one full iteration plus the last bracket's trials again.

    Without jumps one iteration is exactly enough. Jumps kill trials (which count
    towards the cap) and let the advisor start the next iteration early; the
    margin of one more full-budget bracket keeps the first bracket's full-budget
    stage well inside the cap.
    """
    full_budget_bracket = iteration_plan(R, eta)[-1]
    return trials_per_iteration(R, eta) + sum(stage.n for stage in full_budget_bracket)


def registration_problem(algorithm_name: Optional[str], registered: Callable[[str], bool]) -> Optional[str]:
    """Why the experiment cannot load its advisor by name, or None if it can (or is loaded by class)."""
    if not algorithm_name or registered(algorithm_name):
        return None
    return (f"The advisor '{algorithm_name}' is not registered with NNI in this Python environment "
            f"({sys.prefix}).\nNNI would start the experiment and turn it to ERROR after 10 s with 0 trials "
            f"('Tuner did not connect'; the cause is only in dispatcher.log).\n"
            f"Fix: run `hyperjump-register` (or `make register`) with this environment, "
            f"e.g. `{Path(sys.executable).parent / 'hyperjump-register'}`, then run the demo again.")


def keep_polling(status: str, cap_reached_since: Optional[float], now: float, deadline: float,
                 grace_seconds: float) -> bool:
    """True while the demo should keep waiting for the experiment.

    Stops at a final status, at the overall deadline, or when NO_MORE_TRIAL has
    lasted ``grace_seconds`` (the last running trials normally end well before).
    """
    if status in FINAL_STATUSES or now >= deadline:
        return False
    if status in CAP_REACHED_STATUSES and cap_reached_since is not None:
        return now - cap_reached_since < grace_seconds
    return True


def results_at_budget(results: Sequence[Result], budget: int) -> list[Result]:
    """The results whose trial ran with TRIAL_BUDGET == budget."""
    return [r for r in results if r.parameters.get("TRIAL_BUDGET") == budget]


def best_of(results: Sequence[Result], maximize: bool) -> Optional[Result]:
    if not results:
        return None
    return (max if maximize else min)(results, key=lambda r: r.metric)


@dataclass(frozen=True)
class Outcome:
    success: bool
    message: str
    best: Optional[Result] = None


def judge_outcome(status: str, results: Sequence[Result], R: int, maximize: bool,
                  timed_out: bool) -> Outcome:
    """Success iff the experiment did not fail and some trial at the full budget R reported a metric."""
    if status == "ERROR":
        return Outcome(False, "The experiment failed (status ERROR): see dispatcher.log and "
                              "nnimanager.log in the experiment's log folder.")
    if not results:
        why = "the demo's time limit passed" if timed_out else f"the experiment ended ({status})"
        return Outcome(False, f"No trial reported a final metric before {why}. "
                              "Look at the trials' trial.log files in the experiment folder.")
    best = best_of(results_at_budget(results, R), maximize)
    if best is None:
        top = max(r.parameters.get("TRIAL_BUDGET", 0) for r in results)
        return Outcome(False, f"{len(results)} trials reported, but none at the full budget R={R} "
                              f"(largest budget reached: {top}). Give the experiment more trials "
                              "(--trials) or time (--minutes).")
    note = {
        "DONE": "the experiment is DONE",
        "NO_MORE_TRIAL": "the trial cap was reached (NO_MORE_TRIAL)",
        "TUNER_NO_MORE_TRIAL": "the advisor had no more trials",
        "STOPPED": "the experiment was stopped",
    }.get(status, f"status {status}")
    if timed_out:
        note += "; the demo's time limit passed, so it stopped the experiment"
    return Outcome(True, f"Success: {note}.", best)


def describe_best(best: Result, R: int) -> list[str]:
    """The lines that present the best configuration at the full budget."""
    params = {k: v for k, v in best.parameters.items()
              if k != "TRIAL_BUDGET" and not k.startswith("HYPERJUMP_")}
    lines = [f"Best configuration at the full budget (TRIAL_BUDGET={R} epochs): "
             f"validation accuracy {best.metric:.4f}",
             f"    (trial job {best.trial_job_id}, parameter id {best.parameter_id}; "
             "joined to its metric by parameter id, NNI issue 5726)"]
    lines += [f"    {key} = {value}" for key, value in params.items()]
    return lines


def advisor_summary(log_folder: Path) -> Optional[str]:
    """One line from the advisor's own records (hyperjump-trials.csv, hyperjump-audit.jsonl), if it wrote them."""
    try:
        records = load_records(log_folder)
    except RecordsError:
        return None
    if records.halt is not None:
        return f"The advisor's records: the experiment ended in error: {records.halt.splitlines()[0]}"
    if records.is_async:
        schedule = plural(len(records.rungs), "rung")
    else:
        plain = sum(bool(b.get("no_jump")) for b in records.brackets)
        schedule = f"{plural(len(records.brackets), 'bracket')} ({plain} drawn as plain successive halving)"
    return f"The advisor's records: {plural(len(records.trials), 'trial')}, {schedule}; {counts_line(records)}."


# ---------------------------------------------------------------------------
# Talking to NNI
# ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_registered(name: str) -> bool:
    from nni.tools.package_utils import get_algo_meta
    return get_algo_meta(name) is not None


def algorithm_of(config: ExperimentConfig):
    return config.advisor or config.tuner  # NNI 3.0 moves `advisor:` to `tuner` when canonicalising


def demo_config(R: int, eta: int, minutes: int, trials: int) -> ExperimentConfig:
    config = ExperimentConfig.load(str(HERE / "config.yml"))
    config.trial_command = f"{sys.executable} mnist.py"   # the interpreter that has nni
    config.trial_code_directory = str(HERE)
    config.search_space_file = str(HERE / "search_space.json")
    config.max_trial_number = trials
    config.max_experiment_duration = f"{minutes}m"
    algorithm_of(config).class_args.update({"R": R, "eta": eta})
    return config


def experiment_folder(config: ExperimentConfig, experiment_id: str) -> Path:
    return Path(config.experiment_working_directory or "~/nni-experiments").expanduser() / experiment_id


def count_finished(experiment: Experiment) -> int:
    return sum(job.status in FINISHED_TRIAL_STATUSES for job in experiment.list_trial_jobs())


def wait_for_experiment(experiment: Experiment, cap: int, port: int, deadline: float,
                        grace_seconds: float, poll_seconds: float = 5.0) -> tuple[str, bool]:
    """Poll until the experiment ends (see :func:`keep_polling`); returns (last status, timed out)."""
    cap_reached_since = None
    last_line = ""
    while True:
        now = time.time()
        status = experiment.get_status()
        if status in CAP_REACHED_STATUSES and cap_reached_since is None:
            cap_reached_since = now
        line = f"{status}: {count_finished(experiment)}/{cap} trials finished"
        if line != last_line:
            print(f"  [{time.strftime('%H:%M:%S')}] {line} - web UI http://127.0.0.1:{port}", flush=True)
            last_line = line
        if not keep_polling(status, cap_reached_since, now, deadline, grace_seconds):
            return status, now >= deadline and status not in FINAL_STATUSES
        time.sleep(poll_seconds)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--R", type=int, default=9, help="maximum epochs (default 9: one iteration = 22 trials)")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--trials", type=int, default=0,
                        help="maxTrialNumber (default: one iteration plus one full-budget bracket, 25 for R=9)")
    parser.add_argument("--minutes", type=int, default=4, help="hard limit of the experiment")
    parser.add_argument("--grace", type=float, default=90.0,
                        help="seconds to wait for DONE once the trial cap is reached (NO_MORE_TRIAL)")
    parser.add_argument("--port", type=int, default=0, help="web UI port (default: a free one)")
    parser.add_argument("--keep-running", action="store_true", help="leave the web UI up until Ctrl-C")
    args = parser.parse_args(argv)

    trials = args.trials or demo_trial_cap(args.R, args.eta)
    config = demo_config(args.R, args.eta, args.minutes, trials)
    problem = registration_problem(algorithm_of(config).name, is_registered)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    port = args.port or free_port()
    experiment = Experiment(config)
    print(f"HyperJump demo: up to {trials} trials of examples/mnist-hyperjump, R={args.R}, eta={args.eta} "
          f"(one iteration = {trials_per_iteration(args.R, args.eta)} trials), "
          f"{config.trial_concurrency} at a time", flush=True)
    experiment.start(port)
    print(f"Web UI: http://127.0.0.1:{port}  (experiment {experiment.id})", flush=True)
    outcome = Outcome(False, "interrupted")
    try:
        deadline = time.time() + 60 * args.minutes + 30
        status, timed_out = wait_for_experiment(experiment, trials, port, deadline, args.grace)
        results = final_results(experiment.get_job_metrics(), experiment.list_trial_jobs())
        outcome = judge_outcome(status, results, args.R, maximize=True, timed_out=timed_out)
        if outcome.best is not None:
            print("\n".join(describe_best(outcome.best, args.R)))
        print(outcome.message)
        folder = experiment_folder(config, experiment.id)
        print(f"Experiment {experiment.id}: logs in {folder / 'log'}")
        summary = advisor_summary(folder / "log")
        if summary:
            print(summary)
        print(f"Every trial, promotion, jump and stop: hyperjump-results {experiment.id}  "
              f"(or: {Path(sys.executable).name} -m hyperjump_advisor.results {experiment.id})")
        if args.keep_running:
            print("Web UI stays up; press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        experiment.stop()
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
