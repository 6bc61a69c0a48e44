"""The multi-fidelity GP that predicts the loss of a configuration at a budget (see :mod:`.gp`)."""

from .gp import KernelHyperparameters, MultiFidelityGP

__all__ = ["MultiFidelityGP", "KernelHyperparameters"]
