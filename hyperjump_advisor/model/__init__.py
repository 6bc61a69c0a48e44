"""The multi-fidelity GP that predicts the loss of a configuration at a budget.

Modules, one idea each: :mod:`.gp` (``MultiFidelityGP``, the composition and its
update policy), :mod:`.store` (observations), :mod:`.kernel` (covariance),
:mod:`.factor` (growing Cholesky factor), :mod:`.posterior` (predictions),
:mod:`.fitting` (GPy hyperparameter optimisation and refit policy), :mod:`.inputs`
(argument validation), :mod:`.blas` (BLAS threads).
"""

from .gp import MultiFidelityGP
from .kernel import KernelHyperparameters

__all__ = ["MultiFidelityGP", "KernelHyperparameters"]
