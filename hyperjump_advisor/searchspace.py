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

Extreme but valid spaces stay finite: where NNI's arithmetic would overflow to
inf (a uniform range wider than the largest float, ``exp`` of a huge normal
draw, a quantisation ``round(v / q) * q`` past the largest float) the value is
computed without the overflow or kept at the nearest finite value; a log type's
draw that underflows or rounds to 0 (``qlognormal [2, 0.5, 10]``) is sampled
as 0, as NNI does, and encoded as 0.
"""
from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import Any, Optional

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
_FLOAT_MAX = sys.float_info.max
_INT64_MIN, _INT64_END = -2 ** 63, 2 ** 63
_ARGUMENT_NAMES = {2: "[low, high]", 3: "[low, high, q]"}
_NORMAL_ARGUMENT_NAMES = {2: "[mu, sigma]", 3: "[mu, sigma, q]"}


class SearchSpaceError(ValueError):
    """A search space NNI would accept in form but this advisor cannot use."""


def _as_finite_float(value: Any) -> Optional[float]:
    """``float(value)`` for a finite int or float (not a bool); None for anything else,
    including an int too large for a float (``10**400``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_number(value: Any) -> bool:
    return _as_finite_float(value) is not None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _option_key(option: Any) -> tuple[bool, Any]:
    """How a trial's value is matched to a choice option: equal keys for equal values (equal numbers hash
    alike: 1 and 1.0), but True is not 1."""
    return isinstance(option, bool), option


def _clip_to_finite(value: float) -> float:
    """The nearest finite float (NNI would give +-inf where a draw overflows)."""
    return min(max(value, -_FLOAT_MAX), _FLOAT_MAX)


def _exp_finite(x: float) -> float:
    """``exp(x)``, the largest float instead of an overflow; exp(-inf) is 0."""
    try:
        return min(math.exp(x), _FLOAT_MAX)
    except OverflowError:
        return _FLOAT_MAX


def _round_half_even(x: float) -> float:
    """``np.round`` for one float: half to even, and +-inf stays +-inf."""
    return float(round(x)) if math.isfinite(x) else x


def _fits_int64(lower: int, upper: int) -> bool:
    """``rng.integers(lower, upper)`` takes these bounds (upper is exclusive)."""
    return _INT64_MIN <= lower and upper <= _INT64_END


def _uniform_width_overflows(low: float, high: float) -> bool:
    return not math.isfinite(high - low)


def _sample_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """``rng.uniform(low, high)``; a range wider than the largest float is drawn from one
    ``rng.random()`` (the draw ``rng.uniform`` takes) by halves, which do not overflow."""
    if not _uniform_width_overflows(low, high):
        return float(rng.uniform(low, high))
    half_width = high / 2 - low / 2
    u = float(rng.random())
    return min(max(low + half_width * u + half_width * u, low), high)


def _uniform_position(value: float, low: float, high: float) -> float:
    """Where ``value`` lies in [low, high], as a fraction (0 at low, 1 at high)."""
    if not _uniform_width_overflows(low, high):
        return (value - low) / (high - low)
    return (value / 2 - low / 2) / (high / 2 - low / 2)


def _uniform_at(position: float, low: float, high: float) -> float:
    """Inverse of :func:`_uniform_position`."""
    if not _uniform_width_overflows(low, high):
        return low + position * (high - low)
    half_width = high / 2 - low / 2
    return min(max(low + position * half_width + position * half_width, low), high)


def _quantise_unbounded(value: float, q: float) -> float:
    """NNI's ``round(value / q) * q`` kept finite: where it overflows, the multiple of ``q``
    nearer zero, or ``value`` itself where float steps are already coarser than ``q``."""
    ratio = value / q
    if not math.isfinite(ratio):
        return value
    quantised = _round_half_even(ratio) * q
    if math.isfinite(quantised):
        return quantised
    toward_zero = math.trunc(ratio) * q
    return toward_zero if math.isfinite(toward_zero) else value


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    args: tuple[Any, ...]

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
    def _choice(cls, name: str, where: str, options: list[Any]) -> "Parameter":
        if not options:
            raise SearchSpaceError(f"{where}: choice needs at least one option")
        for option in options:
            if isinstance(option, dict):
                raise SearchSpaceError(
                    f"{where}: nested search spaces (choice of dicts with _name) are not supported "
                    "by HyperJump; flatten the space into independent keys")
            if isinstance(option, (list, tuple)):
                raise SearchSpaceError(f"{where}: choice options must be numbers, strings or booleans, got {option!r}")
            if _is_nan(option):
                raise SearchSpaceError(
                    f"{where}: NaN cannot be a choice option (NaN is not equal to itself, so a trial's value "
                    'could never be matched to it); use a string such as "nan" and convert it in the trial')
        seen: dict[tuple[bool, Any], Any] = {}
        for option in options:
            key = _option_key(option)
            if key in seen:
                other = seen[key]
                raise SearchSpaceError(
                    f"{where}: choice options must be distinct, but {other!r} and {option!r} are equal "
                    f"(a trial's value could not tell them apart); list each value once")
            seen[key] = option
        return cls(name, "choice", tuple(options))

    @classmethod
    def _numeric(cls, name: str, where: str, type_: str, args: list[Any]) -> "Parameter":
        arity = _ARITY[type_]
        assert arity is not None
        names = (_NORMAL_ARGUMENT_NAMES if "normal" in type_ else _ARGUMENT_NAMES)[arity]
        if len(args) != arity or not all(_is_number(a) for a in args):
            raise SearchSpaceError(
                f"{where}: {type_} takes {names} as finite numbers that fit a float, got {args!r}")
        if "normal" in type_:
            if args[1] <= 0:
                raise SearchSpaceError(f"{where}: {type_} needs sigma > 0, got {args[1]!r}")
        elif args[0] >= args[1]:
            raise SearchSpaceError(f"{where}: {type_} needs low < high, got {args!r}")
        if arity == 3 and args[2] <= 0:
            raise SearchSpaceError(f"{where}: {type_} needs q > 0, got {args[2]!r}")
        if type_ in ("loguniform", "qloguniform") and args[0] <= 0:
            raise SearchSpaceError(f"{where}: {type_} needs low > 0, got {args[0]!r}")
        if type_ == "randint":
            return cls(name, type_, cls._randint_bounds(where, args))
        return cls(name, type_, tuple(float(a) for a in args))

    @staticmethod
    def _randint_bounds(where: str, args: list[Any]) -> tuple[int, int]:
        if not all(float(a).is_integer() for a in args):
            raise SearchSpaceError(f"{where}: randint takes integer [lower, upper), got {args!r}")
        lower, upper = int(args[0]), int(args[1])
        if not (_fits_int64(lower, upper) or upper - lower <= _INT64_END):
            raise SearchSpaceError(
                f"{where}: randint [lower, upper) beyond the 64-bit integers spans more than 2**63 "
                f"integers, got {args!r}; narrow the range or use quniform with q = 1")
        return lower, upper

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
            return self._sample_randint(rng)
        if t in ("uniform", "quniform"):
            value = _sample_uniform(rng, a[0], a[1])
        elif t in ("loguniform", "qloguniform"):
            value = _exp_finite(rng.uniform(math.log(a[0]), math.log(a[1])))
        elif t in ("normal", "qnormal"):
            value = _clip_to_finite(rng.normal(a[0], a[1]))
        else:  # lognormal, qlognormal: exp of a huge draw stays finite, of a very negative one is 0
            value = _exp_finite(rng.normal(a[0], a[1]))
        return self._quantise(value)

    def _sample_randint(self, rng: np.random.Generator) -> int:
        lower: int = self.args[0]
        upper: int = self.args[1]
        if _fits_int64(lower, upper):
            return int(rng.integers(lower, upper))
        return lower + int(rng.integers(0, upper - lower))  # bounds beyond int64, span within it

    def _quantise(self, value: float) -> float:
        """NNI's q types: ``round(value / q) * q``, clipped to [low, high] for the bounded ones."""
        t, a = self.type, self.args
        if not t.startswith("q"):
            return float(value)
        if t in ("quniform", "qloguniform"):
            # an overflowing multiple is clipped to high, as NNI's np.clip does
            return float(min(max(_round_half_even(value / a[2]) * a[2], a[0]), a[1]))
        return float(_quantise_unbounded(value, a[2]))

    # ---- encoding ---------------------------------------------------------
    def encode(self, value: Any) -> list[float]:
        t, a = self.type, self.args
        if t == "choice":
            return self._encode_choice(value)
        v = _as_finite_float(value)
        if v is None:
            raise SearchSpaceError(f'parameter "{self.name}": expected a finite number, got {value!r}')
        if t in ("uniform", "quniform"):
            u = _uniform_position(v, a[0], a[1])
        elif t == "randint":
            u = self._randint_position(value, v)
        elif t in ("loguniform", "qloguniform"):
            u = (math.log(max(v, a[0])) - math.log(a[0])) / (math.log(a[1]) - math.log(a[0]))
        elif t in ("normal", "qnormal"):
            u = norm.cdf((v - a[0]) / a[1])
        else:
            u = self._encode_lognormal(v)
        return [float(min(max(u, 0.0), 1.0))]

    def _randint_position(self, value: Any, v: float) -> float:
        """Centre of the value's cell in [lower, upper); in exact integers for bounds beyond int64,
        where float arithmetic cannot tell neighbouring values apart."""
        lower, upper = self.args
        if isinstance(value, int) and not _fits_int64(lower, upper):
            return float((value - lower + 0.5) / (upper - lower))
        return float((v - lower + 0.5) / (upper - lower))

    def _encode_lognormal(self, v: float) -> float:
        """The normal CDF of the standardised ``log v``; 0 (log 0 = -inf) for a draw that
        underflowed or was quantised to 0."""
        if v < 0:
            raise SearchSpaceError(f'parameter "{self.name}": {self.type} values must be >= 0, got {v!r}')
        if v == 0:
            return 0.0
        mu, sigma = self.args[0], self.args[1]
        return float(norm.cdf((math.log(v) - mu) / sigma))

    def _encode_choice(self, value: Any) -> list[float]:
        index = self._choice_index(value)
        if self.is_ordinal_choice:
            ranks = np.argsort(np.argsort(np.asarray(self.args, dtype=float), kind="stable"), kind="stable")
            k = len(self.args)
            return [0.5 if k == 1 else float(ranks[index]) / (k - 1)]
        one_hot = [0.0] * len(self.args)
        one_hot[index] = 1.0
        return one_hot

    @functools.cached_property
    def _choice_indices(self) -> dict[tuple[bool, Any], int]:
        return {_option_key(option): i for i, option in enumerate(self.args)}

    def _choice_index(self, value: Any) -> int:
        try:
            return self._choice_indices[_option_key(value)]
        except (KeyError, TypeError):   # TypeError: an unhashable value (a list) is no option either
            pass
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
            value = _uniform_at(x, a[0], a[1])
        elif t == "randint":
            return int(min(a[0] + math.floor(x * (a[1] - a[0])), a[1] - 1))
        elif t in ("loguniform", "qloguniform"):
            value = _exp_finite(math.log(a[0]) + x * (math.log(a[1]) - math.log(a[0])))
        elif t in ("normal", "qnormal"):
            value = _clip_to_finite(a[0] + a[1] * float(norm.ppf(x)))
        else:
            value = _exp_finite(a[0] + a[1] * float(norm.ppf(x)))
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

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {p.name: p.sample(rng) for p in self.parameters}

    def encode(self, config: dict[str, Any]) -> np.ndarray:
        missing = [p.name for p in self.parameters if p.name not in config]
        if missing:
            raise SearchSpaceError(f"configuration lacks parameters {missing}")
        return np.array([u for p in self.parameters for u in p.encode(config[p.name])], dtype=float)

    def encode_many(self, configs: list[dict[str, Any]]) -> np.ndarray:
        if not configs:
            return np.zeros((0, self.n_dims))
        return np.vstack([self.encode(c) for c in configs])

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        config, start = {}, 0
        for p in self.parameters:
            config[p.name] = p.decode(u[start:start + p.width])
            start += p.width
        return config

    def key(self, config: dict[str, Any]) -> tuple[str, ...]:
        """Hashable identity of a configuration (for 'never the same config twice in a bracket')."""
        return tuple(repr(config[p.name]) for p in self.parameters)
