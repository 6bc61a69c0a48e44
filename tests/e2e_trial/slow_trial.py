"""A trial that takes a moment per unit of budget, so an experiment can be stopped mid-bracket."""
import time

import nni

params = nni.get_next_parameter()
print("parameters received:", params, flush=True)
time.sleep(0.7 * params["TRIAL_BUDGET"])
nni.report_final_result(params["x"])
