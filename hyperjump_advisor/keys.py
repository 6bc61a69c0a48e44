"""The names of the parameters a trial receives besides its hyperparameters (one definition each)."""
from __future__ import annotations

BUDGET_KEY = "TRIAL_BUDGET"             # the budget to train for, as NNI's Hyperband sends it
RESUME_KEY = "HYPERJUMP_RESUME_FROM"    # pause-resume: the largest budget it already completed (the only one sent)
CONFIG_KEY = "HYPERJUMP_CONFIG_KEY"     # optional, set by a caller: names a configuration's checkpoints
RESERVED_KEYS = (BUDGET_KEY, CONFIG_KEY, RESUME_KEY)
