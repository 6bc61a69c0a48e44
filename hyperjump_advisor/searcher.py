"""The searcher: which configurations a new bracket starts with (paper supplement Sec. 6).

Contract: ``propose(n)`` returns ``n`` new configuration ids. A fraction ``random_fraction`` is
drawn uniformly (rounded up), the rest maximise Expected Improvement of the model's prediction
at the full budget over a pool of uniform draws, once the model is ready; before that, all are
uniform. In a discrete space a model-chosen configuration never repeats one drawn for the same
bracket. Configurations are kept by id with their unit-cube encoding (None for a configuration
of an earlier search space, which the model then ignores). The searcher owns the experiment's
random generator, so one seed fixes every draw.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import numpy as np

from .files import plain
from .posterior import Posterior
from .searchspace import SearchSpace
from .warmstart import MAX_POOL, MIN_POOL, POOL_PER_CONFIG, expected_improvement, split_random_and_model, top_distinct


class Searcher:
    def __init__(self, seed: Optional[int], random_fraction: float):
        self.rng = np.random.default_rng(seed)
        self.random_fraction = random_fraction
        self.space: Optional[SearchSpace] = None
        self.configs: list[dict[str, Any]] = []          # config_id -> hyperparameters
        self.encoded: list[Optional[np.ndarray]] = []   # config_id -> unit-cube encoding (None: unknown)

    # ---- the space ---------------------------------------------------------------------------
    def set_space(self, space: SearchSpace) -> None:
        """A new search space: configurations of an earlier one stay, unknown to the model."""
        self.space = space
        self.encoded = [self._encode_or_none(c) for c in self.configs]

    def _encode_or_none(self, config: dict[str, Any]) -> Optional[np.ndarray]:
        try:
            return self._space().encode(config)
        except Exception:  # a config of an earlier search space: kept for its bracket, unknown to the model
            return None

    def _space(self) -> SearchSpace:
        if self.space is None:
            raise RuntimeError("no search space yet: NNI sends it with INITIALIZE")
        return self.space

    # ---- configurations ------------------------------------------------------------------------
    def add(self, config: dict[str, Any], encoded: Optional[np.ndarray]) -> int:
        self.configs.append(config)
        self.encoded.append(encoded)
        return len(self.configs) - 1

    def propose(self, n: int, model: Posterior, incumbent_loss: Optional[float]) -> tuple[list[int], int]:
        """n new configuration ids and how many of them were drawn uniformly."""
        space = self._space()
        n_random, n_model = split_random_and_model(n, self.random_fraction)
        if not model.ready:
            n_random, n_model = n, 0
        configs = [space.sample(self.rng) for _ in range(n_random)]
        configs += self._by_expected_improvement(n_model, {space.key(c) for c in configs}, model, incumbent_loss)
        return [self.add(c, space.encode(c)) for c in configs], n_random

    def _by_expected_improvement(self, n: int, taken: set[tuple[str, ...]], model: Posterior,
                                 incumbent_loss: Optional[float]) -> list[dict[str, Any]]:
        """The n configurations of a pool of random ones with the highest EI at the full budget."""
        if n == 0:
            return []
        space = self._space()
        pool = [space.sample(self.rng) for _ in range(min(MAX_POOL, max(MIN_POOL, POOL_PER_CONFIG * n)))]
        mean, std = model.predict(space.encode_many(pool), 1.0)
        best = incumbent_loss if incumbent_loss is not None else float(np.min(mean))
        keys = [space.key(c) for c in pool]
        picked = top_distinct(expected_improvement(mean, std, best), keys, n, taken)
        chosen = [pool[i] for i in picked]
        while len(chosen) < n:  # a small discrete space can run out of unseen candidates
            chosen.append(space.sample(self.rng))
        return chosen

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
