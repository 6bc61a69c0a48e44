"""The covariance of the multi-fidelity GP (paper supplement, Section 2).

One GP over z = (x, phi) where x in [0,1]^d are the encoded hyperparameters and
phi = (1 - b*)^2 is the budget feature, b* = budget / R in [0,1]::

    k(z, z') = Matern52_ARD(x, x') * (sigma_b^2 + sigma_l^2 * phi * phi')

i.e. a Matern 5/2 kernel over the hyperparameters times a Bayesian linear kernel
on the basis phi(b*) = (1, (1-b*)^2).  The Matern variance is fixed to 1 (the
product's scale lives in sigma_b^2, sigma_l^2).

Contract: pure functions of their arguments, written with GPy's formulas so that a
GPy model with the same hyperparameters (:mod:`.fitting`) has the same covariance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union, overload

import numpy as np

from ..posterior import Array

_SQRT5 = math.sqrt(5.0)


@dataclass(frozen=True)
class KernelHyperparameters:
    """Hyperparameters of the product kernel, in standardised-loss units."""

    lengthscale: Array  # (d,) ARD lengthscales of the Matern 5/2 kernel
    matern_variance: float  # fixed to 1.0 by default (scale is in the budget kernel)
    bias_variance: float  # sigma_b^2: weight of the constant basis function
    linear_variance: float  # sigma_l^2: weight of the (1-b)^2 basis function
    noise_variance: float  # Gaussian likelihood variance


@overload
def budget_feature(b: float) -> float: ...
@overload
def budget_feature(b: Array) -> Array: ...
def budget_feature(b: Union[float, Array]) -> Union[float, Array]:
    """phi(b*) = (1 - b*)^2, the non-constant basis function of the budget kernel."""
    return (1.0 - b) ** 2


def matern(h: KernelHyperparameters, x1: Array, x2: Array) -> Array:
    """ARD Matern 5/2 over the hyperparameters -> (n1, n2); GPy's formula.

    Evaluated in place in two (n1, n2) buffers, operation by operation as the expression
    ``mv * (1 + sqrt5 r + 5/3 r r) * exp(-sqrt5 r)`` with r = sqrt(max(|a|^2 + |c|^2 - 2 a.c, 0)),
    so the result is bit for bit that of the expression (tests/test_model_kernel.py) without its
    eight temporaries (half the time at 1,000 x 1,000)."""
    a = x1 / h.lengthscale
    c = x2 / h.lengthscale
    cross = a @ c.T
    cross *= 2.0
    r = np.add(np.sum(a * a, axis=1)[:, None], np.sum(c * c, axis=1)[None, :])
    r -= cross
    np.clip(r, 0.0, np.inf, out=r)
    np.sqrt(r, out=r)
    out: Array = np.multiply(_SQRT5, r, out=cross)
    out += 1.0
    second = np.multiply(5.0 / 3.0, r)
    second *= r
    out += second
    if h.matern_variance != 1.0:
        out *= h.matern_variance
    np.multiply(-_SQRT5, r, out=second)
    np.exp(second, out=second)
    out *= second
    return out


def kernel(h: KernelHyperparameters, x1: Array, p1: Array, x2: Array, p2: Array) -> Array:
    """k((x1, phi1), (x2, phi2)) = Matern52(x1, x2) * (s_b + s_l phi1 phi2) -> (n1, n2) (in place, as ``matern``)."""
    out = matern(h, x1, x2)
    budget = np.outer(p1, p2)
    budget *= h.linear_variance
    budget += h.bias_variance
    out *= budget
    return out


def kernel_diag(h: KernelHyperparameters, p: Array) -> Array:
    """k(z, z) for points with budget features p -> (n,)."""
    return h.matern_variance * (h.bias_variance + h.linear_variance * p * p)
