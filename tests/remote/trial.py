"""Tiny trial for tests/test_remote.py, run by NNI's remote training service over SSH.

metric = 1 - (x - 0.3)^2 after TRIAL_BUDGET "epochs"; it prints where it ran so the test
can check that it went through the remote worker (HOME of the remote stand-in, the
uploaded code directory), not the local training service.
"""
import json
import os
import sys

import nni

params = nni.get_next_parameter()
print("remote trial:", json.dumps({"params": params, "home": os.environ.get("HOME"),
                                   "cwd": os.getcwd(), "python": sys.executable}), flush=True)
budget = int(params["TRIAL_BUDGET"])
x = float(params["x"])
for epoch in range(1, budget + 1):
    nni.report_intermediate_result({"default": (1 - (x - 0.3) ** 2) * epoch / budget, "budget": epoch})
nni.report_final_result(1 - (x - 0.3) ** 2)
