"""Reading an experiment's outcome robustly; the ``hyperjump-results`` command.

NNI's trial list can show a trial job with another job's parameters (NNI issue
5726), but every metric carries the parameter id it was produced with. So the
best result is found from the FINAL metrics and joined to the parameters by
parameter id, never by trial job (:func:`experiment_best`).

``hyperjump-results EXPERIMENT_ID`` (or ``python -m hyperjump_advisor.results``)
goes further and reads the advisor's own records in the experiment's log folder
(beside ``dispatcher.log``), so issue 5726 cannot mislead it:

* ``hyperjump-trials.csv``: one row per trial that reached a final state
  (the last row of a parameter id wins: a late result may revise it);
* ``hyperjump-audit.jsonl``: a header (classArgs, R, eta, the plan), then one
  JSON object per bracket, promotion, jump, sampled non-jump and new incumbent.

It prints every trial, the best configuration at the full budget R, the brackets,
and every promotion and jump; ``--csv``/``--json`` for machines, ``--html FILE``
for a page with plots. Both files may be partly written (a running experiment):
a truncated last line is ignored. ``--plan R ETA`` prints one Hyperband
iteration's brackets and trial count (to size ``maxTrialNumber``).
"""
from .cli import main
from .nni_join import Result, best_result, experiment_best, final_results, parameters_by_id
from .reading import Records, RecordsError, TrialRecord, find_log_folder, load_records
from .report import best_at_full_budget, plan_text, records_json, text_report, trials_csv

__all__ = ["main", "Result", "best_result", "experiment_best", "final_results", "parameters_by_id", "Records",
           "RecordsError", "TrialRecord", "find_log_folder", "load_records", "best_at_full_budget", "plan_text",
           "records_json", "text_report", "trials_csv"]
