"""Local search around the best configurations (classArg ``local_search``): which configurations to look at.

A share ``local_search`` of the model-chosen configurations of a batch maximise Expected Improvement over
the *neighbours* of the best configurations instead of over the whole space (a candidate pool that
concentrates where the measured results are good, as TPE's density does on a large grid):

- the anchors: the configurations with the lowest losses at the highest budget that has enough
  results (at least ``n_params + 2``, BOHB's rule for a model), at most :data:`ANCHORS` of them;
- a neighbour changes ONE hyperparameter of an anchor, on the grid of its type: an ordinal ``choice``
  (numbers) or a ``randint`` moves to the adjacent value(s); a categorical ``choice`` takes every
  other option; a continuous parameter moves by :data:`STEP` of its unit-cube encoding either way
  (then quantised as the space quantises it).

Pure: no I/O, no model; the searcher scores the neighbours by EI and keeps them apart from what ran.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np

from .searchspace import Parameter, SearchSpace

ANCHORS = 3     # the best configurations whose neighbours are candidates
STEP = 0.1      # a continuous parameter's move, in its unit-cube encoding

Key = tuple[str, ...]


def enough_results(space: SearchSpace) -> int:
    """Results a budget needs before its best configurations anchor the local search (BOHB: d + 2)."""
    return space.n_params + 2


def anchors(results: dict[float, list[tuple[float, Key]]], needed: int, k: int = ANCHORS) -> list[Key]:
    """The keys of the k lowest losses at the highest budget with at least ``needed`` results (none: []).

    ``results`` maps a budget to its (loss, key) pairs; a key with several losses at one budget counts
    once, with its lowest. Measured losses are compared exactly; equal losses go to the smaller key."""
    for budget in sorted(results, reverse=True):
        best: dict[Key, float] = {}
        for loss, key in results[budget]:
            if key not in best or loss < best[key]:
                best[key] = loss
        if len(best) >= needed:
            return [key for key, _ in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))[:k]]
    return []


def parameter_moves(p: Parameter, value: Any) -> list[Any]:
    """The values one step away from ``value`` on ``p``'s grid (never ``value`` itself)."""
    if p.type == "choice":
        options = list(p.args)
        if not p.is_ordinal_choice:
            return [o for o in options if repr(o) != repr(value)]
        order = sorted(range(len(options)), key=lambda i: float(options[i]))
        rank = [repr(options[i]) for i in order].index(repr(value))
        return [options[order[j]] for j in (rank - 1, rank + 1) if 0 <= j < len(options)]
    if p.type == "randint":
        low, high = p.args[0], p.args[1]
        return [v for v in (int(value) - 1, int(value) + 1) if low <= v < high]
    u = float(p.encode(value)[0])
    moved = [p.decode(np.array([min(max(u + s, 0.0), 1.0)])) for s in (-STEP, STEP)]
    out: list[Any] = []
    for v in moved:
        if repr(v) != repr(value) and all(repr(v) != repr(o) for o in out):
            out.append(v)
    return out


def neighbours(space: SearchSpace, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every configuration that differs from ``config`` in one hyperparameter by one step, in space order."""
    out = []
    for p in space.parameters:
        for v in parameter_moves(p, config[p.name]):
            moved = dict(config)
            moved[p.name] = v
            out.append(moved)
    return out


def local_pool(space: SearchSpace, centres: Iterable[dict[str, Any]], excluded: Optional[set[Key]] = None
               ) -> list[dict[str, Any]]:
    """The distinct neighbours of the centres, none of them a centre or in ``excluded`` (what ran, what is taken)."""
    centres = list(centres)
    seen: set[Key] = set(excluded or ()) | {space.key(c) for c in centres}
    pool = []
    for centre in centres:
        for n in neighbours(space, centre):
            key = space.key(n)
            if key not in seen:
                seen.add(key)
                pool.append(n)
    return pool


def results_by_budget(slots: Iterable[Any], key_of: Any) -> dict[float, list[tuple[float, Key]]]:
    """Budget -> (loss, key) of every slot that has a measured loss (status DONE); ``key_of(config_id)`` is
    None for a configuration of an earlier search space, which is left out."""
    out: dict[float, list[tuple[float, Key]]] = {}
    for slot in slots:
        if slot.status.value != "DONE" or slot.loss is None:
            continue
        key = key_of(slot.config_id)
        if key is not None:
            out.setdefault(float(slot.budget), []).append((float(slot.loss), key))
    return out
