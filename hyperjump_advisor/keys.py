"""The names of the parameters a trial receives besides its hyperparameters (one definition each)."""
from __future__ import annotations

BUDGET_KEY = "TRIAL_BUDGET"             # the budget to train for, as NNI's Hyperband sends it
CONFIG_KEY = "HYPERJUMP_CONFIG_KEY"     # pause-resume: which checkpoint belongs to this configuration
RESUME_KEY = "HYPERJUMP_RESUME_FROM"    # pause-resume: the largest budget it already completed
RESERVED_KEYS = (BUDGET_KEY, CONFIG_KEY, RESUME_KEY)
