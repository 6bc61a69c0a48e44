"""Distinct (x, b) observations of the loss, and which of them the posterior conditions on.

Contract:

* ``add`` takes validated arrays (:mod:`.inputs`).  A pair seen before (x and b rounded
  to 12 decimals) updates the running mean of that pair's loss; a new pair gets the next
  id (ids are insertion order) and waits in ``pending``.  ``n`` counts distinct pairs.
* ``active`` lists the ids the posterior conditions on, in order of activation, which is
  the order of the rows of its Cholesky factor: ``activate_pending`` appends the pending
  ids at the end, ``trim`` removes ids and never reorders the rest.
* ``trim(max_points)`` drops the oldest active points below the largest active budget
  first, then the oldest largest-budget ones: full-budget points are scarce and anchor
  the extrapolation.
* A trimmed pair observed again becomes pending again, i.e. re-enters as a recent point.
* Storage starts at 64 pairs and doubles when full; nothing is forgotten.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..posterior import Array

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_INITIAL_CAPACITY = 64
_KEY_DECIMALS = 12  # (x, b) pairs equal to this many decimals are the same pair


class ObservationStore:
    """Running means of the loss per distinct (x, b) pair, and the active/pending split."""

    def __init__(self, n_dims: int) -> None:
        self._index: dict[bytes, int] = {}  # pair key -> id
        self._n = 0
        self._x = np.zeros((_INITIAL_CAPACITY, n_dims))
        self._b = np.zeros(_INITIAL_CAPACITY)
        self._sum = np.zeros(_INITIAL_CAPACITY)
        self._count = np.zeros(_INITIAL_CAPACITY)
        self._active: IntArray = np.zeros(0, dtype=np.int64)
        self._in_active: BoolArray = np.zeros(0, dtype=bool)  # by id; may be shorter than n
        self._pending: list[int] = []

    @property
    def n(self) -> int:
        """Number of distinct (x, b) pairs recorded."""
        return self._n

    @property
    def active(self) -> IntArray:
        """Ids the posterior conditions on, oldest activation first (do not modify)."""
        return self._active

    @property
    def pending(self) -> tuple[int, ...]:
        """Ids recorded (or re-observed after a trim) but not yet active."""
        return tuple(self._pending)

    def add(self, X: Array, budgets: Array, losses: Array) -> bool:
        """Record k observations; True when the mean loss of an active pair changed."""
        active_mean_changed = False
        for i in range(X.shape[0]):
            key = np.round(np.append(X[i], budgets[i]), _KEY_DECIMALS).tobytes()
            j = self._index.get(key)
            if j is None:
                self._append(key, X[i], budgets[i], losses[i])
            elif self._repeat(j, float(losses[i])):
                active_mean_changed = True
        return active_mean_changed

    def inputs(self, ids: IntArray) -> Array:
        """Encoded hyperparameters x of the pairs -> (len(ids), d)."""
        return self._x[ids]

    def budgets(self, ids: IntArray) -> Array:
        """Normalised budgets b of the pairs -> (len(ids),)."""
        return self._b[ids]

    def mean_losses(self, ids: IntArray) -> Array:
        """Running mean of the loss of each pair -> (len(ids),)."""
        means: Array = self._sum[ids] / self._count[ids]
        return means

    def activate_pending(self) -> IntArray:
        """Append the pending ids to ``active``; returns them (empty when none were pending)."""
        new = np.asarray(self._pending, dtype=np.int64)
        if new.size == 0:
            return new
        self._pending = []
        if self._in_active.size < self._n:
            grown = np.zeros(self._n, dtype=bool)
            grown[: self._in_active.size] = self._in_active
            self._in_active = grown
        self._in_active[new] = True
        self._active = np.concatenate([self._active, new])
        return new

    def trim(self, max_points: int) -> None:
        """Keep at most max_points active: drop the oldest points below the largest budget first."""
        if self._active.size > max_points:
            self.keep(self.trimmed(self._active, max_points))

    def trimmed(self, ids: IntArray, max_points: int) -> IntArray:
        """The ids ``trim`` would keep of these (in their order), without changing anything."""
        n = ids.size
        if n <= max_points:
            return ids
        b = self._b[ids]
        is_top = b >= b.max() - 1e-12
        # Order of dropping: non-top before top, older before newer (active order = recency).
        order = np.lexsort((np.arange(n), is_top))
        keep = np.ones(n, dtype=bool)
        keep[order[: n - max_points]] = False
        return ids[keep]

    def keep(self, ids: IntArray) -> None:
        """Make exactly these ids active: a subsequence of ``active``, in its order."""
        self._in_active[self._active] = False
        self._in_active[ids] = True
        self._active = np.asarray(ids, dtype=np.int64)

    def _append(self, key: bytes, x: Array, b: float, loss: float) -> None:
        j = self._n
        if j == self._b.size:
            self._grow()
        self._index[key] = j
        self._x[j] = x
        self._b[j] = b
        self._sum[j] = loss
        self._count[j] = 1
        self._n += 1
        self._pending.append(j)

    def _repeat(self, j: int, loss: float) -> bool:
        """Fold a repeated observation of pair j into its mean; True when j is active."""
        self._sum[j] += loss
        self._count[j] += 1
        if j < self._in_active.size and self._in_active[j]:
            return True
        if j not in self._pending:  # trimmed earlier: re-enters as a recent point
            self._pending.append(j)
        return False

    def _grow(self) -> None:
        capacity = 2 * self._b.size
        self._x = _enlarged(self._x, capacity)
        self._b = _enlarged(self._b, capacity)
        self._sum = _enlarged(self._sum, capacity)
        self._count = _enlarged(self._count, capacity)


def _enlarged(a: Array, capacity: int) -> Array:
    """A zero array of ``capacity`` rows starting with the rows of ``a``."""
    out = np.zeros((capacity,) + a.shape[1:])
    out[: a.shape[0]] = a
    return out
