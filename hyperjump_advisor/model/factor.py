"""The lower Cholesky factor L of K + s I, rebuilt rarely and grown by blocks as points arrive.

Contract:

* ``factorise(K, s)`` factors K + s I from scratch, O(n^3) (~30 ms at n = 1000), retrying
  with GPy-style escalating jitter when K + s I is not numerically positive definite.
  ``n_factorisations`` counts these rebuilds.
* ``extend(cross, corner, s)`` appends k points, O(n^2 k)::

      L = [[L11, 0], [L21, L22]],  L21 = K21 L11^{-T},  L22 = chol(K22 + s I - L21 L21^T)

  with ``cross`` = K12 (n, k) and ``corner`` = K22 (k, k).  It returns False and leaves
  L unchanged when the Schur complement is not positive definite (refactorise then).
* ``L`` is Fortran-ordered; ``solve(B)`` = L^{-1} B.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..posterior import Array


class GrowingCholesky:
    """A lower Cholesky factor that can be rebuilt or extended by a block of rows."""

    def __init__(self) -> None:
        self._L: Array = np.zeros((0, 0), order="F")
        self._buffers: list[Array] = [np.empty(0), np.empty(0)]  # ping-pong storage for the growing factor
        self._buffer_in_use = 0
        self.n_factorisations = 0

    @property
    def L(self) -> Array:
        """The (n, n) lower factor (do not modify)."""
        return self._L

    @property
    def size(self) -> int:
        return int(self._L.shape[0])

    def factorise(self, K: Array, diagonal: float) -> None:
        """L = chol(K + diagonal I); K is overwritten."""
        K[np.diag_indices_from(K)] += diagonal
        self._L = _cholesky_with_jitter(K)
        self.n_factorisations += 1

    def extend(self, cross: Array, corner: Array, diagonal: float) -> bool:
        """Append rows for k new points; False (factor unchanged) if their block is not positive definite."""
        B = self.solve(cross)  # (n, k) = L21^T
        S = corner - B.T @ B
        S[np.diag_indices_from(S)] += diagonal
        try:
            L22 = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return False
        n, k = self.size, corner.shape[0]
        other = 1 - self._buffer_in_use
        L = self._buffer(n + k, other)
        L[:n, :n] = self._L
        L[:n, n:] = 0.0
        L[n:, :n] = B.T
        L[n:, n:] = L22
        self._L, self._buffer_in_use = L, other
        return True

    def solve(self, B: Array) -> Array:
        """L^{-1} B."""
        out: Array = sla.solve_triangular(self._L, B, lower=True, check_finite=False)
        return out

    def _buffer(self, size: int, which: int) -> Array:
        """An F-contiguous (size, size) view into one of two reusable flat buffers.

        Growing the factor by a row would otherwise allocate a fresh n x n array per
        update; at n = 1000 the page faults of that allocation cost about as much as
        the prediction itself.
        """
        buf = self._buffers[which]
        if buf.size < size * size:
            cap = int(size * 1.1) + 16
            buf = self._buffers[which] = np.empty(cap * cap)
        return buf[: size * size].reshape((size, size), order="F")


def _cholesky_with_jitter(K: Array) -> Array:
    """Fortran-ordered lower Cholesky factor, adding GPy-style escalating jitter on failure."""
    try:
        return np.asfortranarray(np.linalg.cholesky(K))
    except np.linalg.LinAlgError:
        pass
    base = float(np.mean(np.diag(K)))
    for jitter in base * np.logspace(-6, -1, 6):
        try:
            return np.asfortranarray(np.linalg.cholesky(K + jitter * np.eye(K.shape[0])))
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("covariance matrix not positive definite even with jitter")
