"""The cost of a replayed trial on the simulated clock: its duration, fresh or resumed
(pause-resume, with the resume floor), and when its PERIODICAL metrics arrive.

Pause-resume: when ``resume_key`` (default ``HYPERJUMP_RESUME_FROM``, which this project's advisor
sends) is set and a NewTrialJob's parameters hold that key with a TRIAL_BUDGET the same
configuration already completed, the trial costs only its extra time
``time(config, level) - time(config, resumed level)``, but never less than a floor (the
configuration's cheapest positive single-level step in the table, 1% of the full time if it has
none; never more than from scratch; see :func:`trial_timing`; the simulator's ``resume_floored``
counts the trials the floor raised), and reports PERIODICAL metrics only above the resumed level. A resume from a level never completed costs
the full time (counted).

See :func:`trial_timing` for the rule and why the floor exists.
"""
from __future__ import annotations

from typing import Optional

from .tables import Table

RESUME_FLOOR_FRACTION = 0.01


def resume_floor(table: Table, key: tuple, level: int) -> float:
    """The least a resumed trial of configuration ``key`` at ``level`` costs: the configuration's cheapest
    positive single-level step ``min T(j) - T(j-1) > 0`` over its levels ``j <= level``, or, if its times
    never increase, 1% of ``T(level)`` (see :func:`trial_timing`)."""
    times = table.times(key)
    steps = [t - s for s, t in zip(times[:level], times[1:level + 1])
             if s is not None and t is not None and t - s > 0]
    return min(steps) if steps else RESUME_FLOOR_FRACTION * (times[level] or 0.0)


def trial_timing(table: Table, key: tuple, level: int, resumed: Optional[int]) -> tuple[float, dict, bool]:
    """(duration, {level j: PERIODICAL offset from the start}, whether the resume floor applied).

    From scratch a trial of (config, level) lasts ``T(level)``, the table's time. Resumed from level
    ``r`` (pause-resume) it lasts ``min(T(level), max(T(level) - T(r), floor))`` where ``floor`` is the
    configuration's cheapest positive single-level step ``min over j <= level of T(j) - T(j-1) > 0``
    (1% of ``T(level)`` if its times never increase). Why: a resumed trial trains at least one more
    level's worth of budget, so it cannot be cheaper than the cheapest level-to-level step the table
    measured for that configuration. Where the configuration's times increase with the level the floor
    never binds (every ``T(level) - T(r)`` is a sum of such steps); it binds only where the table's time
    at a higher level is not above the resumed level's (``hyperjump:cnn``: 176 of its 2,880 pairs), which
    would make the trial free or negative. A resumed trial never costs more than training from scratch.
    Only a table whose times are all 0 gives a zero cost.

    The PERIODICAL of level ``j`` arrives at ``T(j) - T(r)`` after the start (``T(j)`` from scratch),
    clamped to ``[previous PERIODICAL, duration]`` where the table's times are not monotone; a level
    without a row (intermediate column of a generic table) is placed pro rata to its budget.
    """
    times = table.times(key)
    full = times[level]
    assert full is not None, f"no table row for configuration {key} at level {level}"
    base = 0.0 if resumed is None else (times[resumed] or 0.0)
    floored = False
    if resumed is None:
        duration = full
    else:
        floor = resume_floor(table, key, level)
        extra = full - base
        duration = min(full, max(extra, floor))
        floored = extra < floor and duration > extra
    offsets, previous = {}, 0.0
    for j in range((resumed + 1) if resumed is not None else 0, level):
        t = times[j]
        if t is None:   # no row at level j: placed pro rata to its budget
            t = full * table.levels[j] / table.levels[level]
        previous = min(duration, max(previous, t - base, 0.0))
        offsets[j] = previous
    return duration, offsets, floored
