"""What the advisor tells the user, in files beside NNI's ``dispatcher.log`` (read by ``hyperjump-results``).

- ``hyperjump-audit.jsonl``: one JSON object per line. ``"event"`` is ``"header"`` (first line:
  classArgs, R, eta, the plan), ``"bracket"`` (a bracket opens; ``no_jump`` marks a bracket drawn to
  run as plain successive halving), ``"promotion"`` (``kind`` ``"successive_halving"`` or ``"jump"``,
  from and to stage and budget, the configurations kept and discarded; for a jump also the rEAR of
  each accepted hop, the first rejected hop's rEAR, the threshold and ``scale``, the l* that
  normalised rEAR), ``"no_jump"`` (one in ten risk evaluations that did not jump), ``"incumbent"``,
  ``"resume"``, ``"restart"``, ``"halted"`` (the advisor stopped the experiment: ``reason``). In
  ``exec_mode: async`` promotions have ``kind`` ``"asha"`` (top 1/eta of its rung), ``"challenger"``
  (its rung's best, beating the incumbent), ``"async_jump"`` (past rungs; ``rule`` says which of the two
  let it out) or ``"rung_stop"`` (the rung's remaining candidates discarded: ``rear_per_hop``,
  ``threshold``), and each ``async_jump`` follows an ``"async_jump_risk"`` (the rEAR, bar and budget of
  each rung weighed, the first over the threshold included, ``scale``). ``"workload_diagnostics"`` (after 10 results, then each time their count grew by 25%; see
  ``diagnostics.py``): ``rank_correlation`` (per pair of budgets: ``low_budget``, ``high_budget``, ``n``,
  ``spearman``, ``ci_low``, ``ci_high``), ``cost_per_budget`` (``budget``, ``n``, ``median_seconds`` of
  trials trained from scratch), ``calibration`` (``n``, ``coverage_90``), ``time`` (seconds since start).
- ``hyperjump-trials.csv``: a row per trial when its outcome is known (a row again if a late FINAL
  revises it: the last row of a parameter id wins). Its parameters are the ones the trial really
  ran (NNI's web UI can show another trial's, issue 5726). ``killed`` 1 with a metric is a late kill:
  the trial finished before the advisor's kill reached it (NNI says SUCCEEDED); its result is real and
  ``hyperjump-results`` shows it as DONE, "completed after a late kill".

Best effort: a failed write is logged once and never stops the experiment.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from typing import Any, Optional

_logger = logging.getLogger("hyperjump_advisor")

AUDIT_FILE = "hyperjump-audit.jsonl"
TRIALS_FILE = "hyperjump-trials.csv"
TRIAL_COLUMNS = ("parameter_id", "trial_job_id", "config_id", "bracket", "stage", "budget", "status", "metric",
                 "loss", "jumped", "killed", "time", "parameters")


class Records:
    def __init__(self, folder: Optional[str]):
        self.folder = folder if folder and os.path.isdir(folder) else None
        self._failing = False

    @property
    def audit_path(self) -> Optional[str]:
        return None if self.folder is None else os.path.join(self.folder, AUDIT_FILE)

    def has_audit(self) -> bool:
        return self.audit_path is not None and os.path.exists(self.audit_path)

    def event(self, record: dict[str, Any]) -> None:
        record.setdefault("time", time.time())
        self._append(AUDIT_FILE, json.dumps(record) + "\n")

    def trial(self, row: dict[str, Any]) -> None:
        path = None if self.folder is None else os.path.join(self.folder, TRIALS_FILE)
        text = io.StringIO()
        writer = csv.writer(text)
        if path is not None and not os.path.exists(path):
            writer.writerow(TRIAL_COLUMNS)
        writer.writerow(["" if row.get(c) is None else row[c] for c in TRIAL_COLUMNS])
        self._append(TRIALS_FILE, text.getvalue())

    def _append(self, name: str, text: str) -> None:
        if self.folder is None:
            return
        try:
            with open(os.path.join(self.folder, name), "a", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError as error:
            if not self._failing:
                _logger.warning("cannot write %s in %s (%s); the experiment goes on", name, self.folder, error)
            self._failing = True
        else:
            self._failing = False
