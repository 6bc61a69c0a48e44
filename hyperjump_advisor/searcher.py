"""The searcher: which configurations a new bracket starts with (paper supplement Sec. 6).

Contract: ``propose(n, model, incumbent_loss, budget)`` returns ``n`` new configuration ids for a
bracket whose first stage runs at ``budget``. A fraction ``random_fraction`` is drawn uniformly
(rounded up), the rest maximise Expected Improvement of the model's prediction at the full budget
over a candidate pool, once the model is ready; before that, all are uniform.

- No repeats (``options.no_repeat``): a configuration that already has a slot at a budget >=
  ``budget`` in any bracket (run, running, queued or dropped by a jump), or that failed at any
  budget, is not proposed again; nor twice in one bracket. A finite space (every parameter a
  ``choice`` or a ``randint``, at most ``ENUMERATE_LIMIT`` configurations) is enumerated, so its
  draws are WITHOUT replacement until exhausted; once fewer unused configurations remain than a
  bracket needs, the rest are the configurations whose largest budget so far is the smallest
  (least explored first), and one log line says so. An infinite space is drawn with rejection.
- Pending-aware EI (``options.pending_aware``, off by default: measured without a consistent gain;
  kept as an ablation), kriging believer at the full budget: the
  configurations of open brackets that have not finished their current stage (async: the rungs'
  waiting and running slots) are fantasised as observed at their predicted mean, as is every configuration already picked for this bracket;
  a fantasy shrinks the predictive std of its neighbours (Gaussian conditioning of the joint
  posterior) and lowers the EI target to min(incumbent, fantasised means). Concurrent brackets and
  one bracket's own picks therefore spread out instead of crowding the model's favourite region.

Configurations are kept by id with their unit-cube encoding (None for a configuration of an earlier
search space, which the model then ignores). The searcher owns the experiment's random generator,
so one seed fixes every draw. It reads the scheduler's brackets (``attach``) to know what ran; it
keeps no state of its own beyond ``configs``, ``encoded`` and ``rng`` (what persistence saves).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import neighbours, ties
from .files import plain
from .posterior import Posterior
from .rung_folds import RungFolds
from .searcher_memo import Key, Keys, WhatRan
from .searchspace import SearchSpace
from .warmstart import (MAX_POOL, MIN_POOL, POOL_PER_CONFIG, believer_batch, expected_improvement,
                        split_random_and_model, top_distinct)

_logger = logging.getLogger("hyperjump_advisor")

ENUMERATE_LIMIT = 20_000   # a finite space up to this size is enumerated (sampling without replacement)
REJECTION_TRIES = 30       # draws per configuration in an infinite space before a repeat is accepted
MAX_BELIEVER_CANDIDATES = 600  # the joint posterior of the believer batch is over at most this many candidates
MAX_PENDING = 300          # pending configurations fantasised (the most recent brackets first)



@dataclass(frozen=True)
class SearchOptions:
    no_repeat: bool = True      # across brackets, and without replacement in a finite space
    pending_aware: bool = False  # kriging-believer EI over pending configurations and the bracket's own picks:
    # measured and NOT the default (no consistent gain, ~15% more advisor time; see the commit message)
    local_search: float = 0.0   # share of the model-chosen configurations taken by EI among the neighbours of
    # the best configurations (``neighbours``); the rest by EI over the whole space


class RunningShare:
    """A share kept over all the proposals of a run, not per batch: ``random_fraction`` of them drawn
    uniformly (rounded up, the same split as :func:`split_random_and_model` for each batch whose share is a
    whole number), or ``local_search`` of the model-chosen ones taken among the neighbours of the best."""

    def __init__(self) -> None:
        self.proposed = 0
        self.counted = 0   # proposals of the kind the share counts

    def wanted(self, n: int, fraction: float) -> int:
        """How many of the next n the share asks for (nothing is recorded: :meth:`took` does)."""
        return max(0, min(n, math.ceil(fraction * (self.proposed + n) - 1e-9) - self.counted))

    def took(self, n: int, of_them: int) -> None:
        """n more proposals were made, ``of_them`` of the kind the share counts."""
        self.proposed += n
        self.counted += of_them

    def split(self, n: int, random_fraction: float) -> tuple[int, int]:
        """(uniform, model-chosen) of the next n."""
        n_random = self.wanted(n, random_fraction)
        self.took(n, n_random)
        return n_random, n - n_random


class Searcher:
    def __init__(self, seed: Optional[int], random_fraction: float, options: Optional[SearchOptions] = None):
        self.rng = np.random.default_rng(seed)
        self.random_fraction = random_fraction
        self.options = options or SearchOptions()
        self.space: Optional[SearchSpace] = None
        self.configs: list[dict[str, Any]] = []          # config_id -> hyperparameters
        self.encoded: list[Optional[np.ndarray]] = []   # config_id -> unit-cube encoding (None: unknown)
        self.scheduler: Any = None                      # read for the slots of every bracket (attach)
        self._grid: Optional[tuple[list[dict[str, Any]], list[Key], np.ndarray]] = None
        self._exhausted_logged: set[int] = set()
        self._what_ran = WhatRan()
        self._slot_keys = Keys()                         # exec_mode async: keys of the configurations, cached
        self._folds = RungFolds()                        # exec_mode async: what the rungs hold, per key
        self._share = RunningShare()                      # exec_mode async: the random share over batches
        self._local_share = RunningShare()                # exec_mode async: local search's share over batches

    def attach(self, scheduler: Any) -> None:
        """The scheduler whose brackets say which configuration ran at which budget."""
        self.scheduler = scheduler

    # ---- the space ---------------------------------------------------------------------------
    def set_space(self, space: SearchSpace) -> None:
        """A new search space: configurations of an earlier one stay, unknown to the model."""
        self.space = space
        self.encoded = [self._encode_or_none(c) for c in self.configs]
        self._grid = self._enumerate(space)

    def _encode_or_none(self, config: dict[str, Any]) -> Optional[np.ndarray]:
        try:
            return self._space().encode(config)
        except Exception:  # a config of an earlier search space: kept for its bracket, unknown to the model
            return None

    def _space(self) -> SearchSpace:
        if self.space is None:
            raise RuntimeError("no search space yet: NNI sends it with INITIALIZE")
        return self.space

    @staticmethod
    def _enumerate(space: SearchSpace) -> Optional[tuple[list[dict[str, Any]], list[Key], np.ndarray]]:
        """Every configuration of a small finite space (None: infinite or too large)."""
        values = []
        for p in space.parameters:
            if p.type == "choice":
                values.append(list(p.args))
            elif p.type == "randint" and p.args[1] - p.args[0] <= ENUMERATE_LIMIT:
                values.append(list(range(p.args[0], p.args[1])))
            else:
                return None
        if math.prod(len(v) for v in values) > ENUMERATE_LIMIT:
            return None
        names = [p.name for p in space.parameters]
        configs = [dict(zip(names, combo)) for combo in itertools.product(*values)]
        return configs, [space.key(c) for c in configs], space.encode_many(configs)

    # ---- configurations ------------------------------------------------------------------------
    def add(self, config: dict[str, Any], encoded: Optional[np.ndarray]) -> int:
        self.configs.append(config)
        self.encoded.append(encoded)
        return len(self.configs) - 1

    def propose(self, n: int, model: Posterior, incumbent_loss: Optional[float],
                budget: Optional[int] = None, running_share: bool = False) -> tuple[list[int], int]:
        """n new configuration ids for a bracket starting at ``budget``, and how many were drawn uniformly:
        ``random_fraction`` of the n rounded up, or with ``running_share`` of all the proposals made since the
        model was ready (so that small batches keep the share)."""
        space = self._space()
        n_random, n_model = split_random_and_model(n, self.random_fraction)
        if not model.ready:
            n_random, n_model = n, 0
        elif running_share:
            n_random, n_model = self._share.split(n, self.random_fraction)
        largest = self._largest_budgets() if self.options.no_repeat else {}
        used = {k for k, b in largest.items() if budget is None or b >= budget}
        taken: set[Key] = set()
        configs = self._uniform(n_random, used, taken)
        configs += self._by_expected_improvement(n_model, used, taken, model, incumbent_loss,
                                                 running_share=running_share)
        short = n - len(configs)
        if short > 0:  # a finite space has fewer unused configurations than the bracket needs
            configs += self._least_explored(short, largest, taken)
        return [self.add(c, space.encode(c)) for c in configs], n_random

    def best_guess(self, model: Posterior, incumbent_loss: Optional[float], budget: int) -> Optional[int]:
        """The model's top-EI configuration at the full budget among those not run at ``budget`` or above."""
        if not model.ready:
            return None
        largest = self._largest_budgets() if self.options.no_repeat else {}
        used = {k for k, b in largest.items() if b >= budget}
        picked = self._by_expected_improvement(1, used, set(), model, incumbent_loss, local=False)
        return self.add(picked[0], self._space().encode(picked[0])) if picked else None

    # ---- what ran ------------------------------------------------------------------------------
    def _largest_budgets(self) -> dict[Key, float]:
        """Configuration key -> the largest budget of its slots in any bracket (inf once it failed)."""
        if self.scheduler is None:
            return {}
        if getattr(self.scheduler, "rungs", None) is not None:   # exec_mode async: kept as slots change
            return self._rung_folds().largest()
        return self._what_ran.largest(self._space(), self.configs, self.scheduler.brackets, self._key_or_none)

    def _rung_folds(self) -> RungFolds:
        """exec_mode async: budgets and results per configuration key, brought up to date."""
        keys = self._slot_keys.keys(self._space(), self.configs, self._key_or_none)
        self._folds.update(self.scheduler.rungs, keys)
        return self._folds

    def _bracket_results(self, space: SearchSpace) -> tuple[dict[float, list[tuple[float, Key]]], Any]:
        """Synchronous brackets: budget -> (loss, key) of every result, one pass; and key -> a configuration id."""
        slots = (s for b in (self.scheduler.brackets if self.scheduler is not None else []) for st in b.slots for s in st)
        keys = self._slot_keys.keys(space, self.configs, self._key_or_none)   # computed once per configuration
        by_key: dict[Key, int] = {}

        def key_of(config_id: int) -> Optional[Key]:
            key = keys[config_id]
            if key is not None:
                by_key[key] = config_id
            return key
        return neighbours.results_by_budget(slots, key_of), by_key.__getitem__

    def _key_or_none(self, space: SearchSpace, config_id: int) -> Optional[Key]:
        try:
            return space.key(self.configs[config_id])
        except Exception:  # a configuration of an earlier search space
            return None

    def _pending_ids(self) -> list[int]:
        """Configurations of open brackets whose current stage has not finished with them (newest first); in
        exec_mode async (no brackets) the configurations of the rungs' PENDING and RUNNING slots."""
        if self.scheduler is None:
            return []
        ids: list[int] = []
        if getattr(self.scheduler, "rungs", None) is not None:   # exec_mode async: the rungs' waiting and running slots
            waiting = (s.config_id for s in self.scheduler.all_slots() if s.status.value in ("PENDING", "RUNNING"))
            ids = list(dict.fromkeys(c for c in waiting if self.encoded[c] is not None))
            return ids[-MAX_PENDING:]
        for bracket in reversed(self.scheduler.brackets):
            if bracket.finished:
                continue
            ids += [x.config_id for x in bracket.current if not x.finished and self.encoded[x.config_id] is not None]
            if len(ids) >= MAX_PENDING:
                break
        return ids[:MAX_PENDING]

    # ---- uniform draws -------------------------------------------------------------------------
    def _uniform(self, n: int, used: set[Key], taken: set[Key]) -> list[dict[str, Any]]:
        """n uniform draws, none in ``used`` nor repeated (``taken`` grows); fewer when a finite space runs out."""
        if n == 0:
            return []
        space = self._space()
        if not self.options.no_repeat:
            out = [space.sample(self.rng) for _ in range(n)]
            taken.update(space.key(c) for c in out)
            return out
        if self._grid is not None:
            configs, keys, _ = self._grid
            free = [i for i, k in enumerate(keys) if k not in used and k not in taken]
            chosen: Any = self.rng.choice(len(free), size=min(n, len(free)), replace=False) if free else []
            out = [configs[free[int(i)]] for i in chosen]
            taken.update(space.key(c) for c in out)
            return [dict(c) for c in out]
        out = []
        for _ in range(n):
            for _ in range(REJECTION_TRIES):
                config = space.sample(self.rng)
                if space.key(config) not in used and space.key(config) not in taken:
                    break
            taken.add(space.key(config))
            out.append(config)
        return out

    def _least_explored(self, n: int, largest: dict[Key, float], taken: set[Key]) -> list[dict[str, Any]]:
        """The fallback of an exhausted finite space: configurations whose largest budget is the smallest."""
        space = self._space()
        if self._grid is None:
            return [space.sample(self.rng) for _ in range(n)]
        configs, keys, _ = self._grid
        order = self.rng.permutation(len(keys))
        ranked = sorted((i for i in order if keys[i] not in taken), key=lambda i: largest.get(keys[i], -math.inf))
        out = [dict(configs[i]) for i in ranked[:n]]
        while len(out) < n:  # the whole space is in this bracket already
            out.append(space.sample(self.rng))
        taken.update(space.key(c) for c in out)
        bracket = len(self.scheduler.brackets) if self.scheduler is not None else -1
        if bracket not in self._exhausted_logged:
            self._exhausted_logged.add(bracket)
            _logger.info("the search space's %d configurations have all run at this bracket's first budget or "
                         "above: %d configurations of bracket %d are the least explored ones again",
                         len(keys), n, bracket)
        return out

    # ---- model-based proposals -----------------------------------------------------------------
    def _results_by_budget(self) -> tuple[dict[float, list[tuple[float, Key]]], Any]:
        """budget -> (loss, key) of every result, and key -> a configuration id (either schedule)."""
        if getattr(self.scheduler, "rungs", None) is not None:   # exec_mode async: kept as slots change
            folds = self._rung_folds()
            return folds.results(), folds.config_of
        return self._bracket_results(self._space())

    def _by_expected_improvement(self, n: int, used: set[Key], taken: set[Key], model: Posterior,
                                 incumbent_loss: Optional[float], local: bool = True,
                                 running_share: bool = False) -> list[dict[str, Any]]:
        """The n configurations of a candidate pool with the highest EI at the full budget (a share of them
        among the neighbours of the best configurations when ``local`` and ``options.local_search``)."""
        if n == 0:
            return []
        space = self._space()
        near = self._local_picks(n, used, taken, model, incumbent_loss, running_share) \
            if local and self.options.local_search > 0 else []
        n -= len(near)
        if n == 0:
            return near
        if self._grid is not None and self.options.no_repeat:
            configs, keys, X = self._grid
            free = [i for i, k in enumerate(keys) if k not in used and k not in taken]
            pool, pool_keys, X_pool = [configs[i] for i in free], [keys[i] for i in free], X[free]
        else:
            size = min(MAX_POOL, max(MIN_POOL, POOL_PER_CONFIG * n))
            pool = [space.sample(self.rng) for _ in range(size)]
            pool_keys = [space.key(c) for c in pool]
            if self.options.no_repeat:
                keep = [i for i, k in enumerate(pool_keys) if k not in used]
                pool, pool_keys = [pool[i] for i in keep], [pool_keys[i] for i in keep]
            X_pool = space.encode_many(pool)
        if not pool:
            return near
        mean, std = model.predict(X_pool, 1.0)
        best = incumbent_loss if incumbent_loss is not None else float(np.min(mean))
        ei = expected_improvement(mean, std, best)
        if not self.options.pending_aware:
            picked = top_distinct(ei, pool_keys, n, taken)
        else:
            picked = self._believer(n, ei, pool_keys, X_pool, model, best, taken)
        chosen = [dict(pool[i]) for i in picked]
        if self._grid is None or not self.options.no_repeat:
            while len(chosen) < n:  # a small discrete space can run out of unseen candidates
                chosen.append(space.sample(self.rng))
        return near + chosen

    def _local_picks(self, n: int, used: set[Key], taken: set[Key], model: Posterior,
                     incumbent_loss: Optional[float], running_share: bool = False) -> list[dict[str, Any]]:
        """Up to ceil(local_search * n) configurations by EI among the neighbours of the best ones (``neighbours``),
        or with ``running_share`` as many as keep that share over all the model-chosen ones so far."""
        if running_share:
            picks = self._local_picks_of(self._local_share.wanted(n, self.options.local_search), used, taken,
                                         model, incumbent_loss)
            self._local_share.took(n, len(picks))
            return picks
        return self._local_picks_of(min(n, math.ceil(self.options.local_search * n - 1e-9)), used, taken, model,
                                    incumbent_loss)

    def _local_picks_of(self, share: int, used: set[Key], taken: set[Key], model: Posterior,
                        incumbent_loss: Optional[float]) -> list[dict[str, Any]]:
        """``share`` configurations (fewer when there are not enough) by EI among the neighbours of the best ones."""
        space = self._space()
        if share == 0:
            return []
        results, config_of = self._results_by_budget()
        centres = [self.configs[config_of(k)] for k in neighbours.anchors(results, neighbours.enough_results(space))]
        pool = neighbours.local_pool(space, centres, used | taken)
        if not pool:
            return []
        mean, std = model.predict(space.encode_many(pool), 1.0)
        best = incumbent_loss if incumbent_loss is not None else float(np.min(mean))
        picked = top_distinct(expected_improvement(mean, std, best), [space.key(c) for c in pool], share, taken)
        return [dict(pool[i]) for i in picked]

    def _believer(self, n: int, ei: np.ndarray, keys: list[Key], X_pool: np.ndarray, model: Posterior,
                  best: float, taken: set[Key]) -> list[int]:
        """Greedy kriging-believer batch over the best candidates by plain EI, pending configurations fantasised."""
        size = min(len(keys), max(MAX_BELIEVER_CANDIDATES // 2, 5 * n), MAX_BELIEVER_CANDIDATES)
        order = [int(i) for i in ties.descending(ei)]
        short: list[int] = []
        seen: set[Key] = set(taken)
        for i in order:
            if len(short) == size:
                break
            if keys[i] not in seen:
                seen.add(keys[i])
                short.append(i)
        if not short:
            return []
        pending = self._pending_ids()
        X = np.vstack([X_pool[short]] + ([self.encodings(pending)] if pending else []))
        means, cross = model.predict_joint(X, [1.0])
        local = believer_batch(means[0], cross[0], len(short), min(n, len(short)), best)
        picked = [short[j] for j in local]
        taken.update(keys[i] for i in picked)
        return picked

    def encodings(self, config_ids: list[int]) -> np.ndarray:
        """(k, d) encodings; a configuration of an earlier search space sits at the centre of the cube."""
        n_dims = self._space().n_dims
        if not config_ids:
            return np.zeros((0, n_dims))
        middle = np.full(n_dims, 0.5)
        rows = [self.encoded[c] for c in config_ids]
        return np.vstack([middle if row is None else row for row in rows])

    def config_key(self, config_id: int) -> str:
        """Stable per configuration, and different for another configuration under the same id."""
        text = json.dumps(plain(self.configs[config_id]), sort_keys=True)
        return f"c{config_id}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"
