"""A trial that forgets nni.report_final_result: intermediate results only, then exit 0 (TrialEnd SUCCEEDED)."""
import nni

params = nni.get_next_parameter()
print("parameters received:", params, flush=True)
budget = params["TRIAL_BUDGET"]
for epoch in range(1, budget + 1):
    nni.report_intermediate_result({"default": params["x"] * epoch / budget, "budget": epoch})
