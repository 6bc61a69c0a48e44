"""Replay benchmark: drive real advisor objects in-process against learning-curve tables.

The replay plays the NNI manager (initialize, trial requests, PERIODICAL/FINAL metrics, trial
ends, kills) for one advisor at a time and answers every trial from a table, on a simulated
clock with W workers. See ``python -m hyperjump_advisor.replay --help``.

Modules: :mod:`.tables` (generic CSV format, the shared HyperJump tables, TRIAL_BUDGET <->
level mapping), :mod:`.simulator` (event loop, workers, clock, faults), :mod:`.advisors`
(registry of advisors by name, NNI workarounds, tuner adapter), :mod:`.report`
(results.json, report.md, plot).
"""
from .tables import BudgetMap, Table, TableError, auto_time_limit, default_R_eta, resolve_R_eta
from .table_csv import build_table, write_generic
from .shared_tables import load_table
from .faults import Faults
from .simulator import SimConfig, Simulator
from .runs import run_many, run_one
from .advisors import REGISTRY, AdvisorSpec, register, register_ours
from .report import results_document, summarize, write_outputs

__all__ = [
    "BudgetMap", "Table", "TableError", "auto_time_limit", "build_table", "default_R_eta", "load_table",
    "resolve_R_eta", "write_generic", "Faults", "SimConfig", "Simulator", "run_many", "run_one", "REGISTRY",
    "AdvisorSpec", "register", "register_ours", "results_document", "summarize", "write_outputs",
]
