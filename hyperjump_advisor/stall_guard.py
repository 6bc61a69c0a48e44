"""The stall guard: outcomes for slots that no live job will ever report on.

A stage waits for all its slots, so one slot that never resolves stalls its bracket (and, in
``serial`` mode, the experiment). NNI can leave a slot so: a trial that ends SUCCEEDED but whose
FINAL metric never comes (FINAL and TrialEnd travel apart and can be lost at ``nnictl stop``); a
parameter no job runs because NNI ran another one twice (issue 5726); a trial that was running
when the experiment stopped and was not re-run. Both rules wait first, because a late FINAL or a
slow job is far more common than a lost one:

- an ended trial awaiting its FINAL is failed after ``FINAL_GRACE_SECONDS`` (classArgs.final_grace_seconds);
- a trial no live job has spoken for (none did, or the one that did ended on another parameter) is
  failed once it has been out for ``LOST_FACTOR`` times the longest run seen at its budget (at least
  ``MIN_LOST_SECONDS``, classArgs.min_lost_seconds); before any run at its budget has ended, the
  longest run at a smaller budget scaled up by the ratio of the budgets stands in (runs cost about
  their budget); failing that, the longest run at the nearest larger budget, as it is (a run costs no
  more than one at a larger budget: exec_mode async runs its first configuration at R, so a larger
  budget is often the only one measured); before any run at all, it waits.

Pure: the engine passes the trials and its clock. The engine runs it before every command and at every
tick of the advisor's own clock (:mod:`.clock`), since NNI 3.0 sends nothing when nothing runs.
"""
from __future__ import annotations

from typing import AbstractSet, Iterable, Optional

from .ledger import Trial

FINAL_GRACE_SECONDS = 30.0
LOST_FACTOR = 3.0
MIN_LOST_SECONDS = 120.0


def overdue_finals(trials: Iterable[Trial], now: float, grace: float = FINAL_GRACE_SECONDS) -> list[Trial]:
    return [t for t in trials if t.awaiting_final and t.ended_at is not None and now - t.ended_at >= grace]


def lost(trials: Iterable[Trial], longest_run: dict[int, float], now: float,
         ended_jobs: AbstractSet[str] = frozenset(), min_seconds: float = MIN_LOST_SECONDS) -> list[Trial]:
    """Trials no live job runs: none ever spoke for them, or the one that did ended on another parameter."""
    out = []
    for t in trials:
        expected = expected_run(t.slot.budget, longest_run)
        jobless = t.trial_job_id is None or t.trial_job_id in ended_jobs
        if t.ended or not jobless or expected is None:
            continue
        if now - t.issued_at >= max(min_seconds, LOST_FACTOR * expected):
            out.append(t)
    return out


def expected_run(budget: int, longest_run: dict[int, float]) -> Optional[float]:
    """The longest run seen at this budget, or one at a smaller budget scaled by the budgets' ratio, or the
    longest at the nearest larger budget (None: no run has ended)."""
    if budget in longest_run:
        return longest_run[budget]
    smaller = [b for b in longest_run if 0 < b < budget]
    if smaller:
        return max(longest_run[b] * budget / b for b in smaller)
    larger = [b for b in longest_run if b > budget]
    return longest_run[min(larger)] if larger else None
