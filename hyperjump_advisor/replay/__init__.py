"""Replay benchmark: drive real advisor objects in-process against learning-curve tables.

The replay plays the NNI manager (initialize, trial requests, PERIODICAL/FINAL metrics, trial
ends, kills) for one advisor at a time and answers every trial from a table, on a simulated
clock with W workers. See ``python -m hyperjump_advisor.replay --help``.

Modules: tables -- :mod:`.tables` (the table model and TRIAL_BUDGET <-> level mapping),
:mod:`.table_csv` (the generic CSV format), :mod:`.shared_tables` (the shared HyperJump tables,
LCBench 189908, ``load_table``), :mod:`.synthetic_family` (seeded synthetic tables with regimes as dials);
running -- :mod:`.simulator` (event loop, workers, clock), :mod:`.trial_cost`
(a trial's duration, resumes), :mod:`.faults` (fault injection), :mod:`.checkpoint` (the
advisor's checkpoint folder), :mod:`.runs` (run_one, run_many, progress), :mod:`.registry`
(advisors by name), :mod:`.advisors` (this project's and NNI's advisors, NNI workarounds, tuner
adapter; the peers' specs come from :mod:`.peers.runner`), :mod:`.overrides` (``NAME:KEY=VALUE,...``
ablations, checked); results -- :mod:`.measures`
(regret, times to target, summaries), :mod:`.render` (report.md), :mod:`.plot` (regret.png),
:mod:`.report` (results.json and writing every output), :mod:`.statistics` and :mod:`.verdict` (p-values,
bootstrap intervals, mean ranks over time, per cell), :mod:`.suite_report` (SUMMARY.md, README table).
"""
from .tables import BudgetMap, Table, TableError, auto_time_limit, default_R_eta, resolve_R_eta
from .table_csv import build_table, write_generic
from .shared_tables import load_table
from .faults import Faults
from .simulator import SimConfig, Simulator
from .runs import run_many, run_one
from .registry import REGISTRY, AdvisorSpec, register
from .advisors import register_ours
from .measures import summarize
from .report import results_document, write_outputs

__all__ = [
    "BudgetMap", "Table", "TableError", "auto_time_limit", "build_table", "default_R_eta", "load_table",
    "resolve_R_eta", "write_generic", "Faults", "SimConfig", "Simulator", "run_many", "run_one", "REGISTRY",
    "AdvisorSpec", "register", "register_ours", "results_document", "summarize", "write_outputs",
]
