"""What the searcher remembers between proposals, so that a proposal does not pass over every
configuration or every slot again: each configuration's key computed once per id, and the largest
budget each configuration ran at, with finished brackets folded once."""
from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Optional

from .searchspace import SearchSpace

Key = tuple[str, ...]


class Keys:
    """Configuration id -> its key (None: of an earlier search space), computed once per id; dropped when
    the search space or the list of configurations is another object."""

    def __init__(self) -> None:
        self._owner: tuple[Any, ...] = ()
        self._keys: list[Optional[Key]] = []

    def keys(self, space: SearchSpace, configs: list[dict[str, Any]], key_of: Any) -> list[Optional[Key]]:
        if len(self._owner) != 2 or self._owner[0] is not space or self._owner[1] is not configs:
            self._owner, self._keys = (space, configs), []
        while len(self._keys) < len(configs):
            self._keys.append(key_of(space, len(self._keys)))
        return self._keys


class WhatRan:
    """``Searcher._largest_budgets`` without a pass over every slot of every bracket at each new bracket.

    A finished bracket's slots never change again (a late result of a finished slot is ignored, ``revise``
    acts only in an open bracket), so its budgets are folded once into ``_folded``; only the open brackets
    are read at each call. Keys are computed once per configuration id. Everything is dropped when the
    search space, the list of configurations or the list of brackets is another object (a new space, a
    resumed state), so the result is always that of the full pass."""

    def __init__(self) -> None:
        self._owner: tuple[Any, ...] = ()
        self._keys: list[Optional[Key]] = []
        self._folded: dict[Key, float] = {}
        self._folded_ids: set[int] = set()
        self._open_ids: list[int] = []  # brackets not folded yet, in order

    def largest(self, space: SearchSpace, configs: list[dict[str, Any]], brackets: list[Any],
                key_of: Any) -> dict[Key, float]:
        owner = (space, configs, brackets)
        if len(owner) != len(self._owner) or any(a is not b for a, b in zip(owner, self._owner)):
            self._owner, self._keys, self._folded, self._folded_ids, self._open_ids = owner, [], {}, set(), []
        keys = self._keys
        while len(keys) < len(configs):
            keys.append(key_of(space, len(keys)))
        self._open_ids.extend(range(len(self._folded_ids) + len(self._open_ids), len(brackets)))
        still_open: list[int] = []
        for k in self._open_ids:
            if brackets[k].finished:
                _fold(self._folded, brackets[k], keys)
                self._folded_ids.add(k)
            else:
                still_open.append(k)
        self._open_ids = still_open
        largest = dict(self._folded)
        for k in still_open:
            _fold(largest, brackets[k], keys)
        return largest


def _fold(largest: dict[Key, float], bracket: Any, keys: list[Optional[Key]]) -> None:
    """Raise ``largest`` to the budgets of the bracket's slots (inf for a failed one)."""
    fold_slots(largest, itertools.chain.from_iterable(bracket.slots), keys)


def fold_slots(largest: dict[Key, float], slots: Iterable[Any], keys: list[Optional[Key]]) -> None:
    """Raise ``largest`` to the budgets of ``slots`` (inf for a failed one)."""
    for slot in slots:
        key = keys[slot.config_id]
        if key is None:
            continue
        value = math.inf if slot.status.value == "FAILED" else float(slot.budget)
        if value > largest.get(key, -math.inf):
            largest[key] = value
