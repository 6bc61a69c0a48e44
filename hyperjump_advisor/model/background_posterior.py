"""A refit, or a rebuild after a trim, that ends with the posterior factorised, off the command path.

Under NNI (``MultiFidelityGP.background`` set) the O(n^3) work runs on the worker: the job takes a
snapshot of the points on the command thread (the ids, trimmed as ``ObservationStore.trim`` would,
their inputs and losses), fits the hyperparameters if asked, and factorises on the snapshot. When
its completion is processed, :func:`adopt` swaps the job's posterior in and extends it with the
points that arrived meanwhile (O(n^2 k)), with the losses as they are then. If the store moved in a
way the snapshot cannot follow (a point of the snapshot is no longer active), it returns None and the
model conditions at once, as it did before. What the model decides depends only on the order of
commands and completions.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .fitting import FitJob
from .kernel import KernelHyperparameters, budget_feature
from ..posterior import Array
from .posterior import GPPosterior
from .store import IntArray, ObservationStore


class PosteriorJob:
    """``fit`` (None: keep ``hyper``) on the points known now, then the posterior on ``ids``."""

    def __init__(self, fit: Optional[FitJob], hyper: Optional[KernelHyperparameters], ids: IntArray,
                 dropped: IntArray, x: Array, budgets: Array, losses: Array):
        self.fit, self._hyper = fit, hyper
        self.ids, self.dropped = ids, dropped   # the snapshot, and the ids its trim left out
        self._x, self._phi, self._losses = x, budget_feature(budgets), losses
        self.posterior: Optional[GPPosterior] = None

    def step(self, evaluations: Optional[int] = None) -> bool:
        """Run (on the worker: to its end); True once the posterior is built."""
        if self.fit is not None and not self.fit.step(evaluations):
            return False
        if self.posterior is None:
            self._hyper = self.result()
            self.posterior = GPPosterior(self._hyper, self._x, self._phi, self._losses)
        return True

    def result(self) -> KernelHyperparameters:
        """The hyperparameters (the fit's, once it ended: the same object from then on)."""
        if self.posterior is not None or self.fit is None:
            assert self._hyper is not None
            return self._hyper
        return self.fit.result()


def snapshot(store: ObservationStore, max_points: int, losses_of: Callable[[IntArray], Array]
             ) -> tuple[IntArray, IntArray, Array, Array, Array]:
    """The ids active once the pending ones are (trimmed to ``max_points``), the ids the trim drops,
    and the kept ids' inputs, budgets and losses."""
    every = np.concatenate([store.active, np.asarray(store.pending, dtype=np.int64)])
    kept = store.trimmed(every, max_points)
    dropped = np.setdiff1d(every, kept)
    return kept, dropped, store.inputs(kept), store.budgets(kept), losses_of(kept)


def adopt(job: PosteriorJob, hyper: KernelHyperparameters, store: ObservationStore,
          losses_of: Callable[[IntArray], Array]) -> Optional[GPPosterior]:
    """The job's posterior on the store's points now (the trim the job chose applied), or None."""
    if job.posterior is None or hyper is not job.result():
        return None
    store.activate_pending()
    active = store.active
    now = active[~np.isin(active, job.dropped)]
    if now.size < job.ids.size or not np.array_equal(now[: job.ids.size], job.ids):
        return None
    store.keep(now)
    posterior, new = job.posterior, now[job.ids.size:]
    if new.size == 0:
        posterior.set_losses(losses_of(now))
        return posterior
    if not posterior.extend(store.inputs(new), budget_feature(store.budgets(new)), losses_of(now)):
        return None
    return posterior
