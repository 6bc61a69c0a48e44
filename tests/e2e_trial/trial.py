"""A tiny NNI trial: metric = x, with a failure for small x so the advisor must cope."""
import sys

import nni

params = nni.get_next_parameter()
print("parameters received:", params, flush=True)
budget = params["TRIAL_BUDGET"]
for epoch in range(1, budget + 1):
    nni.report_intermediate_result({"default": params["x"] * epoch / budget, "budget": epoch})
if params["x"] < 0.15:
    sys.exit("deliberate failure for x < 0.15")
nni.report_final_result(params["x"])
