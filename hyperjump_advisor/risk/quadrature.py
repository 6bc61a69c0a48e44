"""The quadrature grid shared by EAR queries: composite Gauss-Legendre on knots at steps and Gaussian quantiles."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .beliefs import BoolArray, FloatArray
from .marginals import Marginals

_SIGMA_KNOTS = np.array([-8.5, -6.0, -4.5, -3.5, -2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5, 3.5, 4.5, 6.0, 8.5])
_SPACING = 1.0               # target panel width, in units of the smallest std covering the panel
_GL_ORDER = 4                # Gauss-Legendre nodes per panel
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)


def _local_min_std(knots: FloatArray, marg: Marginals) -> FloatArray:
    """(K,) smallest std among the Gaussians whose support [lower, upper] covers each knot (inf if none)."""
    gauss = ~marg.point
    if not np.any(gauss):
        return np.full(knots.shape, np.inf)
    lo, hi, sd = marg.lower[gauss], marg.upper[gauss], marg.scale[gauss]
    covers = (knots[None, :] >= lo[:, None]) & (knots[None, :] <= hi[:, None])
    smallest: FloatArray = np.where(covers, sd[:, None], np.inf).min(axis=0)
    return smallest


def _thin_knots(knots: FloatArray, forced: BoolArray, marg: Marginals) -> FloatArray:
    """Drop knots closer than ~_SPACING * local min std to their predecessor; forced knots (steps) stay.

    Knots are mapped to the resolution coordinate u = sum(dt / (_SPACING * local std)); one knot per unit of u is
    kept, which bounds every panel by about 2 units while removing the redundancy of overlapping Gaussians.
    """
    if knots.size <= 2:
        return knots
    res = _SPACING * _local_min_std(knots, marg)
    step = np.diff(knots) / np.minimum(res[:-1], res[1:])
    u = np.concatenate([[0.0], np.cumsum(step)])
    cell = np.floor(u)
    keep = forced.copy()
    keep[0] = keep[-1] = True
    keep[1:] |= cell[1:] != cell[:-1]
    return knots[keep]


def quadrature_grid(marg: Marginals, lo: float, hi: float,
                    extra_knots: ArrayLike = ()) -> tuple[FloatArray, FloatArray]:
    """Nodes (G,) ascending and weights (G,) of composite Gauss-Legendre on [lo, hi].

    Breakpoints (never thinned): lo, hi, every point mass, every extra knot (e.g. pretend/incumbent values).
    Smooth knots: mean + k*std of every Gaussian, k in _SIGMA_KNOTS, then thinned.
    """
    gauss = ~marg.point
    steps = np.concatenate([marg.loc[marg.point], np.asarray(extra_knots, dtype=float), [lo, hi]])
    smooth = (marg.loc[gauss, None] + marg.scale[gauss, None] * _SIGMA_KNOTS[None, :]).ravel()
    knots = np.concatenate([steps, smooth])
    forced = np.concatenate([np.ones(steps.size, bool), np.zeros(smooth.size, bool)])
    inside = (knots >= lo) & (knots <= hi)
    knots, forced = knots[inside], forced[inside]
    order = np.argsort(knots, kind="stable")
    knots, forced = knots[order], forced[order]
    new = np.concatenate([[True], knots[1:] > knots[:-1]])       # unique, keeping "forced" if any duplicate is
    group = np.cumsum(new) - 1
    forced_u = np.zeros(int(new.sum()), bool)
    np.logical_or.at(forced_u, group, forced)
    knots = _thin_knots(knots[new], forced_u, marg)
    if knots.size < 2:
        return np.empty(0), np.empty(0)
    half = 0.5 * np.diff(knots)
    mid = 0.5 * (knots[1:] + knots[:-1])
    nodes = (mid[:, None] + half[:, None] * _GL_X[None, :]).ravel()
    weights = (half[:, None] * _GL_W[None, :]).ravel()
    return nodes, weights
