"""An async HyperJump run in-process (no NNI), writing its records to a folder: for the results tests."""
from __future__ import annotations

import math
from pathlib import Path

from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.records import Records

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}


def accuracy(x: float, budget: int) -> float:
    """Higher with the budget, best near x = 0.3; low budgets rank configurations as high ones do."""
    return 0.95 - 0.5 * (x - 0.3) ** 2 - 0.2 / math.sqrt(budget)


def run_async(folder: Path, trials: int = 60, workers: int = 2, seed: int = 0, **class_args) -> HyperJump:
    """``trials`` results from ``workers`` concurrent trials; a killed running trial ends USER_CANCELED."""
    # this driver hands every trial its own parameters (no NNI issue 5726): starts need not wait
    args = {"R": 9, "eta": 3, "seed": seed, "exec_mode": "async", "serial_starts": False, **class_args}
    advisor = build_offline(HyperJump, **args)
    advisor.records = Records(str(folder))   # the advisor's record files go to ``folder``
    now = [0.0]   # trial durations (learned_brackets reads them): 10 s per budget unit, on this clock
    advisor.use_trial_clock(lambda: now[0])
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, workers)
    done, finished, started = 0, set(), set()
    while done < trials:
        sent = [s.data for s in advisor.sent if s.name == "NewTrialJob"]
        for t in sent:   # every other trial names its job at once (an early intermediate metric): killable
            if t["parameter_id"] not in started and t["parameter_id"] % 2 == 0:
                advisor.process_command(C.ReportMetricData, metric_message(
                    t["parameter_id"], f"job{t['parameter_id']}", {"default": 0.0, "budget": 0}, kind="PERIODICAL"))
            started.add(t["parameter_id"])
        killed = {s.data for s in advisor.sent if s.name == "KillTrialJob"}
        running = [t for t in sent if t["parameter_id"] not in finished]
        if not running:
            break
        trial = running[0]
        finished.add(trial["parameter_id"])
        now[0] += 10.0 * trial["parameters"]["TRIAL_BUDGET"]
        job = f"job{trial['parameter_id']}"
        if job in killed:
            advisor.process_command(C.TrialEnd, trial_end_message(job, "USER_CANCELED", trial))
        else:
            value = accuracy(trial["parameters"]["x"], trial["parameters"]["TRIAL_BUDGET"])
            advisor.process_command(C.ReportMetricData, metric_message(trial["parameter_id"], job, value))
            advisor.process_command(C.TrialEnd, trial_end_message(job, "SUCCEEDED", trial))
        advisor.process_command(C.RequestTrialJobs, 1)
        done += 1
    return advisor
