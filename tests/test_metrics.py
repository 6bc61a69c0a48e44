"""Metrics as NNI delivers them: a finite value or the reason it is unusable, never an exception."""
import json
import math
from typing import Any, Optional

import nni
import pytest
from hypothesis import given, settings, strategies as st

from hyperjump_advisor.metrics import MetricReading, intermediate_budget, metric_value, read_metric


# The advisor's parse_metric and intermediate_budget before this module, verbatim: the oracle for the
# accept/reject decisions that the golden traces depend on.
def legacy_parse_metric(raw: Any) -> Optional[float]:
    value = raw
    if isinstance(value, str):
        try:
            value = nni.load(value)
        except Exception:
            return None
    if isinstance(value, dict):
        value = value.get("default")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def legacy_intermediate_budget(raw: Any) -> Optional[int]:
    try:
        value = nni.load(raw) if isinstance(raw, str) else raw
    except Exception:
        return None
    budget = value.get("budget") if isinstance(value, dict) else None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) \
            or not float(budget).is_integer():
        return None
    return int(budget)


@pytest.mark.parametrize("raw,value", [
    ("0.93", 0.93), ("-3", -3.0), ('{"default": 0.25, "budget": 3}', 0.25), ("1e308", 1e308),
    ("1e200", 1e200), (0.5, 0.5), (7, 7.0), ({"default": 2}, 2.0), ("1 # a comment NNI's decoder drops", 1.0),
])
def test_finite_numbers_alone_or_under_default_are_usable(raw, value):
    reading = read_metric(raw)
    assert reading == MetricReading(value) and reading.usable and metric_value(raw) == value


@pytest.mark.parametrize("raw,problem", [
    ('{"loss": 1, "acc": 2}', "a dict without the 'default' key (keys: loss, acc): report {'default': value, ...}"),
    ("NaN", "not a finite number (nan)"),
    ("-Infinity", "not a finite number (-inf)"),
    ("1e400", "not a finite number (inf)"),
    ('"abc"', "a string ('abc')"),
    ("true", "a bool (True), not a number"),
    ("null", "null (no value)"),
    ("[1, 2]", "a list of 2 items, not a number"),
    ("abc", "not JSON text ('abc'): report a number or {'default': number, ...}"),
    ('{"default": NaN}', "its 'default' is not a finite number (nan)"),
    ('{"default": "0.9"}', "its 'default' is a string ('0.9')"),
    (str(10 ** 400), "an integer too large for a float (about 10**400)"),
    ('{"default": %d}' % 10 ** 400, "its 'default' is an integer too large for a float (about 10**400)"),
    ("9" * 5000, "an integer too large for a float (5000 characters)"),
])
def test_unusable_metrics_say_why_in_the_users_words(raw, problem):
    assert read_metric(raw) == MetricReading(None, problem)
    assert metric_value(raw) is None


def test_an_integer_too_large_for_a_float_is_unusable_not_an_overflow_error():
    assert read_metric(10 ** 400).problem == "an integer too large for a float (about 10**400)"
    assert intermediate_budget({"default": 1.0, "budget": 10 ** 400}) is None
    assert intermediate_budget('{"default": 1.0, "budget": %d}' % 10 ** 400) is None


@pytest.mark.parametrize("budget,expected", [
    (3, 3), (3.0, 3), (3.5, None), (float("nan"), None), (float("inf"), None), (True, None), ("3", None),
    (None, None), (10 ** 400, None), (10 ** 300, 10 ** 300),
])
def test_intermediate_budget_is_an_integral_float_sized_number_or_none(budget, expected):
    assert intermediate_budget({"default": 0.5, "budget": budget}) == expected
    text = json.dumps({"default": 0.5, "budget": budget})
    assert intermediate_budget(text) == expected


def test_intermediate_budget_of_payloads_without_one_is_none():
    for raw in ("0.5", "abc", '{"default": 1}', None, [1], '{"budget": "x"}'):
        assert intermediate_budget(raw) is None


# ---- properties ------------------------------------------------------------------------------------

SCALAR = (st.none() | st.booleans() | st.integers() | st.integers(10 ** 300, 10 ** 1000).map(lambda i: i * 3)
          | st.floats() | st.text(max_size=8) | st.sampled_from(["default", "budget", "NaN", "1e400"]))
KEY = st.text(max_size=6) | st.sampled_from(["default", "budget"])
PAYLOAD = st.recursive(
    SCALAR,
    lambda children: (st.lists(children, max_size=4) | st.dictionaries(KEY, children, max_size=4)
                      | st.fixed_dictionaries({"default": children}, optional={"budget": children})),
    max_leaves=12)
RAW = PAYLOAD | PAYLOAD.map(json.dumps) | st.text(max_size=20)


def assert_value_or_reason(reading: MetricReading) -> None:
    if reading.value is None:
        assert isinstance(reading.problem, str) and reading.problem
    else:
        assert type(reading.value) is float and math.isfinite(reading.value) and reading.problem == ""


@settings(max_examples=500, deadline=None)
@given(raw=RAW)
def test_any_payload_reads_as_a_finite_value_or_a_reason_never_an_exception(raw):
    assert_value_or_reason(read_metric(raw))
    budget = intermediate_budget(raw)
    assert budget is None or type(budget) is int


@settings(max_examples=500, deadline=None)
@given(raw=RAW)
def test_decisions_are_the_advisors_for_every_payload_it_could_read(raw):
    """Where the old code did not raise, it and this module accept and reject the same metrics."""
    try:
        expected = legacy_parse_metric(raw)
    except OverflowError:  # 10**400: now unusable with a reason
        assert metric_value(raw) is None
    else:
        assert metric_value(raw) == expected
    try:
        expected_budget = legacy_intermediate_budget(raw)
    except OverflowError:
        assert intermediate_budget(raw) is None
    else:
        assert intermediate_budget(raw) == expected_budget
