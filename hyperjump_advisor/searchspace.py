"""NNI search spaces: validation, sampling with NNI's semantics, and an encoding
into the unit hypercube for the GP model.

Sampling follows ``nni.parameter_expressions`` (NNI 3.0): ``randint`` excludes
its upper bound, the ``q*`` types round to multiples of ``q`` and the bounded
ones clip to ``[low, high]``.

Encoding (one column per numeric parameter, values in [0, 1]):

- uniform / quniform / randint: linear position in the range;
- loguniform / qloguniform: position of ``log(v)`` in ``[log low, log high]``;
- normal / qnormal / lognormal / qlognormal: the normal CDF of the standardised
  value (of ``log v`` for the log types), so the prior maps to U(0, 1);
- choice of numbers: rank of the value among the sorted options, ``/ (k - 1)``,
  because numeric options (batch sizes, layer widths) are ordered;
- choice with any non-numeric option: one-hot, one column per option.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

__all__ = ["SearchSpaceError", "Parameter", "SearchSpace"]

_ARITY = {
    "choice": None,
    "randint": 2,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
_ARGUMENT_NAMES = {2: "[low, high]", 3: "[low, high, q]"}
_NORMAL_ARGUMENT_NAMES = {2: "[mu, sigma]", 3: "[mu, sigma, q]"}


class SearchSpaceError(ValueError):
    """A search space NNI would accept in form but this advisor cannot use."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    args: tuple

    # ---- construction ---------------------------------------------------
    @classmethod
    def from_spec(cls, name: str, spec: Any) -> "Parameter":
        where = f'search space key "{name}"'
        if not isinstance(spec, dict) or "_type" not in spec or "_value" not in spec:
            raise SearchSpaceError(
                f'{where}: expected {{"_type": ..., "_value": [...]}}, got {spec!r}')
        type_, args = spec["_type"], spec["_value"]
        if type_ not in _ARITY:
            raise SearchSpaceError(
                f'{where}: unknown _type {type_!r}; allowed: {", ".join(_ARITY)}')
        if not isinstance(args, list):
            raise SearchSpaceError(f'{where}: _value must be a list, got {args!r}')
        if type_ == "choice":
            return cls._choice(name, where, args)
        return cls._numeric(name, where, type_, args)

    @classmethod
    def _choice(cls, name: str, where: str, options: list) -> "Parameter":
        if not options:
            raise SearchSpaceError(f"{where}: choice needs at least one option")
        for option in options:
            if isinstance(option, dict):
                raise SearchSpaceError(
                    f"{where}: nested search spaces (choice of dicts with _name) are not supported "
                    "by HyperJump; flatten the space into independent keys")
            if isinstance(option, (list, tuple)):
                raise SearchSpaceError(f"{where}: choice options must be numbers, strings or booleans, got {option!r}")
        if len({repr(o) for o in options}) != len(options):
            raise SearchSpaceError(f"{where}: choice options must be distinct, got {options!r}")
        return cls(name, "choice", tuple(options))

    @classmethod
    def _numeric(cls, name: str, where: str, type_: str, args: list) -> "Parameter":
        arity = _ARITY[type_]
        names = (_NORMAL_ARGUMENT_NAMES if "normal" in type_ else _ARGUMENT_NAMES)[arity]
        if len(args) != arity or not all(_is_number(a) for a in args):
            raise SearchSpaceError(f"{where}: {type_} takes {names} as finite numbers, got {args!r}")
        if "normal" in type_:
            if args[1] <= 0:
                raise SearchSpaceError(f"{where}: {type_} needs sigma > 0, got {args[1]!r}")
        elif args[0] >= args[1]:
            raise SearchSpaceError(f"{where}: {type_} needs low < high, got {args!r}")
        if arity == 3 and args[2] <= 0:
            raise SearchSpaceError(f"{where}: {type_} needs q > 0, got {args[2]!r}")
        if type_ in ("loguniform", "qloguniform") and args[0] <= 0:
            raise SearchSpaceError(f"{where}: {type_} needs low > 0, got {args[0]!r}")
        if type_ == "randint" and not all(float(a).is_integer() for a in args):
            raise SearchSpaceError(f"{where}: randint takes integer [lower, upper), got {args!r}")
        return cls(name, type_, tuple(float(a) if type_ != "randint" else int(a) for a in args))

    # ---- properties -----------------------------------------------------
    @property
    def is_ordinal_choice(self) -> bool:
        return self.type == "choice" and all(_is_number(o) for o in self.args)

    @property
    def width(self) -> int:
        """Columns this parameter takes in the encoding."""
        if self.type == "choice" and not self.is_ordinal_choice:
            return len(self.args)
        return 1

    # ---- sampling ---------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Any:
        t, a = self.type, self.args
        if t == "choice":
            return a[int(rng.integers(len(a)))]
        if t == "randint":
            return int(rng.integers(a[0], a[1]))
        if t in ("uniform", "quniform"):
            value = rng.uniform(a[0], a[1])
        elif t in ("loguniform", "qloguniform"):
            value = math.exp(rng.uniform(math.log(a[0]), math.log(a[1])))
        elif t in ("normal", "qnormal"):
            value = rng.normal(a[0], a[1])
        else:  # lognormal, qlognormal
            value = math.exp(rng.normal(a[0], a[1]))
        return self._quantise(value)

    def _quantise(self, value: float) -> float:
        t, a = self.type, self.args
        if not t.startswith("q"):
            return float(value)
        value = round(value / a[2]) * a[2]
        if t in ("quniform", "qloguniform"):
            value = min(max(value, a[0]), a[1])
        return float(value)

    # ---- encoding ---------------------------------------------------------
    def encode(self, value: Any) -> list[float]:
        t, a = self.type, self.args
        if t == "choice":
            return self._encode_choice(value)
        if not _is_number(value):
            raise SearchSpaceError(f'parameter "{self.name}": expected a number, got {value!r}')
        v = float(value)
        if t in ("uniform", "quniform"):
            u = (v - a[0]) / (a[1] - a[0])
        elif t == "randint":
            u = (v - a[0] + 0.5) / (a[1] - a[0])
        elif t in ("loguniform", "qloguniform"):
            u = (math.log(max(v, a[0])) - math.log(a[0])) / (math.log(a[1]) - math.log(a[0]))
        elif t in ("normal", "qnormal"):
            u = norm.cdf((v - a[0]) / a[1])
        else:
            if v <= 0:
                raise SearchSpaceError(f'parameter "{self.name}": {t} values must be > 0, got {value!r}')
            u = norm.cdf((math.log(v) - a[0]) / a[1])
        return [float(min(max(u, 0.0), 1.0))]

    def _encode_choice(self, value: Any) -> list[float]:
        index = self._choice_index(value)
        if self.is_ordinal_choice:
            ranks = np.argsort(np.argsort(np.asarray(self.args, dtype=float), kind="stable"), kind="stable")
            k = len(self.args)
            return [0.5 if k == 1 else float(ranks[index]) / (k - 1)]
        one_hot = [0.0] * len(self.args)
        one_hot[index] = 1.0
        return one_hot

    def _choice_index(self, value: Any) -> int:
        for i, option in enumerate(self.args):
            if option == value and isinstance(option, bool) == isinstance(value, bool):
                return i
        raise SearchSpaceError(f'parameter "{self.name}": {value!r} is not one of {list(self.args)!r}')

    def decode(self, u: np.ndarray) -> Any:
        """Inverse of :meth:`encode` (up to quantisation), for candidates generated in [0, 1]."""
        t, a = self.type, self.args
        if t == "choice":
            if self.is_ordinal_choice:
                k = len(a)
                rank = int(round(float(u[0]) * (k - 1))) if k > 1 else 0
                order = np.argsort(np.asarray(a, dtype=float), kind="stable")
                return a[int(order[rank])]
            return a[int(np.argmax(u))]
        x = float(min(max(u[0], 1e-12), 1 - 1e-12))
        if t in ("uniform", "quniform"):
            value = a[0] + x * (a[1] - a[0])
        elif t == "randint":
            return int(min(a[0] + math.floor(x * (a[1] - a[0])), a[1] - 1))
        elif t in ("loguniform", "qloguniform"):
            value = math.exp(math.log(a[0]) + x * (math.log(a[1]) - math.log(a[0])))
        elif t in ("normal", "qnormal"):
            value = a[0] + a[1] * norm.ppf(x)
        else:
            value = math.exp(a[0] + a[1] * norm.ppf(x))
        return self._quantise(value)


class SearchSpace:
    """A validated, flat NNI search space."""

    def __init__(self, spec: Any, reserved: tuple[str, ...] = ()):
        if not isinstance(spec, dict):
            raise SearchSpaceError(f"search space must be a JSON object of parameters, got {type(spec).__name__}")
        if not spec:
            raise SearchSpaceError("search space is empty: give at least one parameter")
        for key in reserved:
            if key in spec:
                raise SearchSpaceError(f'search space key "{key}" is reserved by the advisor; rename it')
        self.parameters = [Parameter.from_spec(str(name), s) for name, s in spec.items()]
        self.n_params = len(self.parameters)
        self.n_dims = sum(p.width for p in self.parameters)

    def sample(self, rng: np.random.Generator) -> dict:
        return {p.name: p.sample(rng) for p in self.parameters}

    def encode(self, config: dict) -> np.ndarray:
        missing = [p.name for p in self.parameters if p.name not in config]
        if missing:
            raise SearchSpaceError(f"configuration lacks parameters {missing}")
        return np.array([u for p in self.parameters for u in p.encode(config[p.name])], dtype=float)

    def encode_many(self, configs: list[dict]) -> np.ndarray:
        if not configs:
            return np.zeros((0, self.n_dims))
        return np.vstack([self.encode(c) for c in configs])

    def decode(self, u: np.ndarray) -> dict:
        config, start = {}, 0
        for p in self.parameters:
            config[p.name] = p.decode(u[start:start + p.width])
            start += p.width
        return config

    def key(self, config: dict) -> tuple:
        """Hashable identity of a configuration (for 'never the same config twice in a bracket')."""
        return tuple(repr(config[p.name]) for p in self.parameters)
