"""Metrics as NNI delivers them, read without ever raising.

A trial reports ``nni.report_final_result(x)`` / ``nni.report_intermediate_result(x)``
and the advisor receives ``x`` as JSON text: a number, or a dict whose ``"default"``
key holds the number (a PERIODICAL metric may add ``"budget"``: the budget it
belongs to). Anything a trial can send, however odd, comes back either as a finite
float or as the reason it cannot be used, in words the user can act on.

The accept/reject decisions are those the advisor always made (a finite int or
float, alone or under ``"default"``; no bools, strings, NaN or infinities); an
integer too large for a float (``10**400``) is unusable instead of an error.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Optional

import nni

__all__ = ["MetricReading", "read_metric", "metric_value", "intermediate_budget"]

_SHOWN_CHARS = 60
_SHOWN_KEYS = 8
_INTEGER_TEXT = re.compile(r"\s*-?\d+\s*")


@dataclass(frozen=True)
class MetricReading:
    """A metric read: its finite ``value``, or None and the ``problem`` that makes it unusable."""

    value: Optional[float]
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.value is not None


def _unusable(problem: str) -> MetricReading:
    return MetricReading(None, problem)


def read_metric(raw: Any) -> MetricReading:
    """A metric as NNI delivers it: JSON text of a number or of ``{"default": number, ...}``
    (an already decoded number or dict is read the same way)."""
    if isinstance(raw, str):
        loaded = _load_json(raw)
        if isinstance(loaded, MetricReading):
            return loaded
        payload = loaded
    else:
        payload = raw
    if isinstance(payload, dict):
        return _read_default(payload)
    return _read_number(payload)


def metric_value(raw: Any) -> Optional[float]:
    """The finite value of a metric, or None when it is unusable (see :func:`read_metric`)."""
    return read_metric(raw).value


def intermediate_budget(raw: Any) -> Optional[int]:
    """The budget a PERIODICAL metric says it belongs to (``{"default": value, "budget": b}``),
    or None when there is none or it is not an integral, float-sized number."""
    payload = _load_json(raw) if isinstance(raw, str) else raw
    budget = payload.get("budget") if isinstance(payload, dict) else None
    if not isinstance(budget, (int, float)):
        return None
    number = _finite_float(budget)
    if number is None or not number.is_integer():
        return None
    return int(budget)


# ---- reading ------------------------------------------------------------------------------------------

def load_json(text: str) -> Any:
    """JSON text as NNI encodes it: plain JSON first (fast), NNI's own decoder for anything else.

    ``nni.load`` (json_tricks) costs about 1 ms a call, more than the advisor's own decision; every
    payload NNI 3.0 sends for plain values is standard JSON. Raises when neither can read it."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return nni.load(text)


def _load_json(text: str) -> Any:
    """The decoded text, or a MetricReading saying why not."""
    try:
        return load_json(text)
    except Exception:  # not JSON at all, or JSON NNI's decoder refuses
        if _INTEGER_TEXT.fullmatch(text):  # Python refuses to parse integers of > 4300 digits
            return _unusable(f"an integer too large for a float ({len(text.strip())} characters)")
        return _unusable(f"not JSON text ({_show(text)}): report a number or {{'default': number, ...}}")


def _read_default(payload: dict[Any, Any]) -> MetricReading:
    if "default" not in payload:
        return _unusable(f"a dict without the 'default' key (keys: {_show_keys(payload)}): "
                         "report {'default': value, ...}")
    reading = _read_number(payload["default"])
    return reading if reading.usable else _unusable(f"its 'default' is {reading.problem}")


def _read_number(value: Any) -> MetricReading:
    if isinstance(value, bool):
        return _unusable(f"a bool ({value}), not a number")
    if isinstance(value, int) and _float_or_none(value) is None:
        return _unusable(f"an integer too large for a float (about 10**{_decimal_exponent(value)})")
    if not isinstance(value, (int, float)):
        return _unusable(_describe_non_number(value))
    number = float(value)
    if not math.isfinite(number):
        return _unusable(f"not a finite number ({number})")
    return MetricReading(number)


def _finite_float(value: Any) -> Optional[float]:
    """``float(value)`` for a finite int or float that is not a bool, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = _float_or_none(value)
    return number if number is not None and math.isfinite(number) else None


def _float_or_none(value: int | float) -> Optional[float]:
    try:
        return float(value)
    except OverflowError:
        return None


# ---- describing what was sent ------------------------------------------------------------------------

def _describe_non_number(value: Any) -> str:
    if value is None:
        return "null (no value)"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, dict):
        return f"a dict (keys: {_show_keys(value)})"
    if isinstance(value, list):
        return f"a list of {len(value)} items, not a number"
    return f"a {type(value).__name__} ({_show(value)}), not a number"


def _show(value: Any) -> str:
    """A short repr that never raises (a repr can fail: huge ints, deep nesting, odd objects)."""
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__}"
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _show_keys(payload: dict[Any, Any]) -> str:
    keys = [key if isinstance(key, str) else _show(key) for key in list(payload)[:_SHOWN_KEYS]]
    more = ", ..." if len(payload) > _SHOWN_KEYS else ""
    return (", ".join(keys) + more) if keys else "none"


def _decimal_exponent(value: int) -> int:
    return int(abs(value).bit_length() * math.log10(2))
