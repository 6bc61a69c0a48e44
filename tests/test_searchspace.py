"""Every NNI search-space type: sampling range and semantics, encoding round trip, clear errors."""
import math
import sys

import numpy as np
import pytest

from hyperjump_advisor.searchspace import SearchSpace, SearchSpaceError

SPACE = {
    "opt": {"_type": "choice", "_value": ["sgd", "adam", True]},
    "width": {"_type": "choice", "_value": [256, 32, 64]},
    "layers": {"_type": "randint", "_value": [2, 6]},
    "dropout": {"_type": "uniform", "_value": [0.1, 0.5]},
    "units": {"_type": "quniform", "_value": [8, 64, 8]},
    "lr": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    "batch": {"_type": "qloguniform", "_value": [16, 512, 16]},
    "shift": {"_type": "normal", "_value": [0.0, 2.0]},
    "step": {"_type": "qnormal", "_value": [10.0, 3.0, 0.5]},
    "scale": {"_type": "lognormal", "_value": [0.0, 1.0]},
    "qscale": {"_type": "qlognormal", "_value": [1.0, 0.5, 0.25]},
}


@pytest.fixture(scope="module")
def samples():
    space = SearchSpace(SPACE)
    rng = np.random.default_rng(0)
    return space, [space.sample(rng) for _ in range(3000)]


def column(samples, key):
    return np.array([s[key] for s in samples[1]], dtype=float)


def test_choice_and_randint_cover_their_values(samples):
    assert {repr(s["opt"]) for s in samples[1]} == {"'sgd'", "'adam'", "True"}
    assert {s["width"] for s in samples[1]} == {32, 64, 256}
    assert {s["layers"] for s in samples[1]} == {2, 3, 4, 5}, "randint excludes its upper bound, as NNI"
    assert all(isinstance(s["layers"], int) for s in samples[1])


@pytest.mark.parametrize("key,low,high", [("dropout", 0.1, 0.5), ("units", 8, 64), ("lr", 1e-5, 1e-1),
                                          ("batch", 16, 512)])
def test_bounded_types_stay_in_range(samples, key, low, high):
    values = column(samples, key)
    assert values.min() >= low and values.max() <= high


def test_quantised_types_are_multiples_of_q(samples):
    for key, q in [("units", 8), ("batch", 16), ("step", 0.5), ("qscale", 0.25)]:
        values = column(samples, key)
        assert np.allclose(values / q, np.round(values / q)), key


def test_log_and_normal_types_have_the_right_distribution(samples):
    assert abs(np.median(np.log10(column(samples, "lr"))) - (-3)) < 0.15, "loguniform is uniform in log"
    shift = column(samples, "shift")
    assert abs(shift.mean()) < 0.15 and abs(shift.std() - 2.0) < 0.15
    log_scale = np.log(column(samples, "scale"))
    assert abs(log_scale.mean()) < 0.08 and abs(log_scale.std() - 1.0) < 0.08


def test_encoding_is_in_the_unit_cube_and_round_trips(samples):
    space, configs = samples
    assert space.n_params == 11
    assert space.n_dims == 13, "the mixed-type choice is one-hot (3 columns), the numeric choice one ordinal column"
    X = space.encode_many(configs[:500])
    assert X.shape == (500, 13) and X.min() >= 0 and X.max() <= 1
    for config in configs[:500]:
        back = space.decode(space.encode(config))
        for key, value in config.items():
            if isinstance(value, str) or isinstance(value, bool):
                assert back[key] == value and type(back[key]) is type(value)
            else:
                assert math.isclose(back[key], value, rel_tol=1e-6, abs_tol=1e-9), (key, value, back[key])


def test_numeric_choice_encodes_by_rank():
    space = SearchSpace({"w": {"_type": "choice", "_value": [256, 32, 64]}})
    assert [space.encode({"w": v})[0] for v in (32, 64, 256)] == [0.0, 0.5, 1.0]


def test_loguniform_encoding_is_linear_in_log():
    space = SearchSpace({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-2]}})
    assert space.encode({"lr": 1e-3})[0] == pytest.approx(0.5)


@pytest.mark.parametrize("spec,words", [
    ({"a": {"_type": "choice", "_value": [{"_name": "x", "b": {"_type": "uniform", "_value": [0, 1]}}]}},
     ['"a"', "nested"]),
    ({"a": {"_type": "gauss", "_value": [0, 1]}}, ['"a"', "unknown _type", "qlognormal"]),
    ({"a": {"_type": "uniform", "_value": [1, 0]}}, ['"a"', "low < high"]),
    ({"a": {"_type": "uniform", "_value": [0]}}, ['"a"', "[low, high]"]),
    ({"a": {"_type": "quniform", "_value": [0, 1, 0]}}, ['"a"', "q > 0"]),
    ({"a": {"_type": "loguniform", "_value": [0, 1]}}, ['"a"', "low > 0"]),
    ({"a": {"_type": "normal", "_value": [0, -1]}}, ['"a"', "sigma > 0"]),
    ({"a": {"_type": "randint", "_value": [0, 2.5]}}, ['"a"', "integer"]),
    ({"a": {"_type": "choice", "_value": []}}, ['"a"', "at least one"]),
    ({"a": {"_type": "choice", "_value": [0, 0.0]}}, ['"a"', "distinct", "0 and 0.0"]),
    ({"a": {"_type": "choice", "_value": [1, 1]}}, ['"a"', "distinct", "1 and 1"]),
    ({"a": {"_type": "choice", "_value": ["x", "y", "x"]}}, ['"a"', "distinct", "'x' and 'x'"]),
    ({"a": {"_type": "choice", "_value": [1, "x", 1.0]}}, ['"a"', "distinct", "1 and 1.0"]),
    ({"a": {"_value": [1]}}, ['"a"', "_type"]),
    ({"a": [1, 2]}, ['"a"', "_type"]),
    ({}, ["empty"]),
    ({"TRIAL_BUDGET": {"_type": "choice", "_value": [1]}}, ['"TRIAL_BUDGET"', "reserved"]),
])
def test_bad_spaces_name_the_key(spec, words):
    with pytest.raises(SearchSpaceError) as error:
        SearchSpace(spec, reserved=("TRIAL_BUDGET",))
    for word in words:
        assert word in str(error.value)


def test_true_and_one_are_distinct_choice_options():
    space = SearchSpace({"a": {"_type": "choice", "_value": [1, True]}})
    assert [repr(space.decode(space.encode({"a": v}))["a"]) for v in (1, True)] == ["1", "True"]


def test_encoding_a_foreign_value_names_the_parameter():
    space = SearchSpace({"opt": {"_type": "choice", "_value": ["sgd", "adam"]}})
    with pytest.raises(SearchSpaceError, match='"opt"'):
        space.encode({"opt": "rmsprop"})


# ---- spaces NNI accepts that used to crash the first request ---------------------------------------

def draws(spec, n=2000, seed=0):
    space = SearchSpace({"a": spec})
    rng = np.random.default_rng(seed)
    configs = [space.sample(rng) for _ in range(n)]
    return space, np.array([c["a"] for c in configs], dtype=float), space.encode_many(configs)


def assert_finite_unit(X):
    assert np.all(np.isfinite(X)) and X.min() >= 0 and X.max() <= 1


def test_qlognormal_rounding_to_zero_samples_zero_like_nni_and_encodes_it():
    space, values, X = draws({"_type": "qlognormal", "_value": [2, 0.5, 10]})
    assert 0.18 < np.mean(values == 0) < 0.27, "about 22% of exp(N(2, 0.5)) round to 0 at q = 10, as in NNI"
    assert np.allclose(values / 10, np.round(values / 10))
    assert_finite_unit(X)
    assert space.encode({"a": 0.0})[0] == 0.0 and space.decode(space.encode({"a": 0.0}))["a"] == 0.0


def test_lognormal_whose_draws_underflow_samples_and_encodes_zero():
    _, values, X = draws({"_type": "lognormal", "_value": [-800, 1]})
    assert np.all(values == 0.0), "exp(N(-800, 1)) underflows to 0 in NNI too"
    assert_finite_unit(X)


def test_lognormal_whose_draws_overflow_stays_at_the_largest_float():
    _, values, X = draws({"_type": "lognormal", "_value": [800, 1]}, n=50)
    assert np.all(values == sys.float_info.max), "NNI would give inf, which no trial can use"
    assert_finite_unit(X)


def test_uniform_wider_than_the_largest_float_samples_and_encodes_finitely():
    space, values, X = draws({"_type": "uniform", "_value": [-1e308, 1e308]})
    assert np.all(np.isfinite(values)) and values.min() >= -1e308 and values.max() <= 1e308
    assert values.min() < -5e307 and values.max() > 5e307, "spread over the whole range"
    assert_finite_unit(X)
    assert space.encode({"a": 0.0})[0] == pytest.approx(0.5)
    assert space.decode(np.array([0.75]))["a"] == pytest.approx(5e307)


@pytest.mark.parametrize("spec", [
    {"_type": "qnormal", "_value": [1e308, 1e308, 0.5]},
    {"_type": "qlognormal", "_value": [700, 10, 1e-300]},
    {"_type": "quniform", "_value": [-1e308, 1e308, 1e-300]},
    {"_type": "qloguniform", "_value": [1e-300, 1e300, 1e-310]},
    {"_type": "normal", "_value": [-1e308, 1e308]},
])
def test_quantisation_and_draws_past_the_largest_float_stay_finite(spec):
    space, values, X = draws(spec, n=500)
    assert np.all(np.isfinite(values))
    assert_finite_unit(X)
    decoded = [space.decode(np.array([u]))["a"] for u in (0.0, 0.5, 1.0)]
    assert all(math.isfinite(v) for v in decoded)


@pytest.mark.parametrize("type_,args", [
    ("quniform", [0.5, 9.5, 2]), ("qloguniform", [0.3, 50, 4]), ("qnormal", [1, 3, 0.5]),
    ("qlognormal", [2, 0.5, 10]), ("qnormal", [1e308, 1e308, 0.5]),
])
def test_quantisation_is_nni_parameter_expressions(type_, args):
    """The same underlying draw quantised by NNI's own function and by the advisor agree."""
    from nni import parameter_expressions as nni_expressions

    class FixedDraw:  # an nni random_state whose uniform/normal return one chosen draw
        def __init__(self, draw):
            self.draw = draw

        def uniform(self, low, high):
            return self.draw

        def normal(self, mu, sigma):
            return self.draw

    parameter = SearchSpace({"a": {"_type": type_, "_value": args}}).parameters[0]
    rng = np.random.default_rng(3)
    for _ in range(300):
        if "log" in type_:
            draw = rng.uniform(math.log(args[0]), math.log(args[1])) if "uniform" in type_ else rng.normal(*args[:2])
            raw = math.exp(draw)
        else:
            draw = rng.uniform(*args[:2]) if "uniform" in type_ else rng.normal(*args[:2])
            raw = draw
        with np.errstate(over="ignore"):
            expected = float(getattr(nni_expressions, type_)(*args, FixedDraw(draw)))
        if math.isfinite(expected):
            assert parameter._quantise(raw) == expected, (raw, expected)
        else:
            finite_draw = min(max(raw, -sys.float_info.max), sys.float_info.max)  # as sample() keeps it
            assert math.isfinite(parameter._quantise(finite_draw)), "where NNI overflows to inf, stay finite"


def test_randint_beyond_int64_with_a_narrow_range_samples_in_range():
    space, values, X = draws({"_type": "randint", "_value": [2 ** 70, 2 ** 70 + 4]}, n=200)
    configs = [space.sample(np.random.default_rng(1)) for _ in range(20)]
    assert {c["a"] for c in configs} <= {2 ** 70 + i for i in range(4)}
    assert [space.encode({"a": 2 ** 70 + i})[0] for i in range(4)] == [0.125, 0.375, 0.625, 0.875]
    assert_finite_unit(X)


def test_infinite_choice_options_are_used_consistently():
    space = SearchSpace({"a": {"_type": "choice", "_value": [float("inf"), 1.0, float("-inf")]}})
    rng = np.random.default_rng(0)
    for _ in range(30):
        config = space.sample(rng)
        assert space.decode(space.encode(config)) == config


@pytest.mark.parametrize("spec,words", [
    ({"a": {"_type": "choice", "_value": [float("nan"), 1.0]}}, ['"a"', "NaN", 'string such as "nan"']),
    ({"a": {"_type": "uniform", "_value": [0, 10 ** 400]}}, ['"a"', "fit a float"]),
    ({"a": {"_type": "normal", "_value": [0, float("inf")]}}, ['"a"', "finite"]),
    ({"a": {"_type": "randint", "_value": [0, 2 ** 70]}}, ['"a"', "2**63", "quniform"]),
])
def test_spaces_nni_accepts_but_no_trial_can_use_fail_early_naming_the_key_and_fix(spec, words):
    with pytest.raises(SearchSpaceError) as error:
        SearchSpace(spec)
    for word in words:
        assert word in str(error.value)


def test_a_huge_integer_choice_option_is_one_hot_not_an_overflow():
    space = SearchSpace({"a": {"_type": "choice", "_value": [10 ** 400, 1]}})
    assert space.n_dims == 2
    assert list(space.encode({"a": 10 ** 400})) == [1.0, 0.0]


# ---- properties: every space NNI's validator accepts ----------------------------------------------

from hypothesis import HealthCheck, assume, given, settings, strategies as st  # noqa: E402
from nni.common.hpo_utils.validation import validate_search_space  # noqa: E402

FINITE = st.floats(allow_nan=False, allow_infinity=False)
POSITIVE = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
EXTREME = st.sampled_from([sys.float_info.max, -sys.float_info.max, 1e308, -1e308, 5e-324, -5e-324, 1e-300, 0.0])
NUMBER = FINITE | EXTREME


@st.composite
def ordered_pair(draw, numbers=NUMBER):
    low, high = draw(numbers), draw(numbers)
    assume(low != high)
    return [min(low, high), max(low, high)]


def numeric_spec(type_):
    if type_ == "randint":
        ints = st.integers(-2 ** 63, 2 ** 63) | st.integers(-2 ** 80, 2 ** 80)
        pair = st.tuples(ints, ints).filter(lambda p: p[0] != p[1]).map(sorted)
    elif type_ in ("loguniform", "qloguniform"):
        pair = ordered_pair(POSITIVE | st.sampled_from([5e-324, 1e308]))
    elif "normal" in type_:
        pair = st.tuples(NUMBER, POSITIVE | st.sampled_from([5e-324, sys.float_info.max])).map(list)
    else:
        pair = ordered_pair()
    if type_.startswith("q"):
        args = st.tuples(pair, POSITIVE | st.sampled_from([5e-324, 1e-300, 1e300])).map(lambda t: [*t[0], t[1]])
    else:
        args = pair.map(list)
    return args.map(lambda a: {"_type": type_, "_value": a})


CHOICE_OPTION = (st.integers(-2 ** 70, 2 ** 70) | st.integers(10 ** 300, 10 ** 400) | FINITE
                 | st.sampled_from([float("inf"), -float("inf")]) | st.text(max_size=5) | st.booleans())
CHOICE = st.lists(CHOICE_OPTION, min_size=1, max_size=6, unique_by=repr).map(
    lambda options: {"_type": "choice", "_value": options})
NUMERIC_TYPES = ["randint", "uniform", "quniform", "loguniform", "qloguniform",
                 "normal", "qnormal", "lognormal", "qlognormal"]
ANY_SPEC = st.one_of(CHOICE, *[numeric_spec(t) for t in NUMERIC_TYPES])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=ANY_SPEC, seed=st.integers(0, 2 ** 32 - 1))
def test_every_accepted_space_samples_and_encodes_finitely_in_the_unit_cube(spec, seed):
    assert validate_search_space({"a": spec}, raise_exception=True)
    try:
        space = SearchSpace({"a": spec})
    except SearchSpaceError as error:  # NNI accepts it, no trial could use it: refused up front
        assert '"a"' in str(error)
        return
    rng = np.random.default_rng(seed)
    for _ in range(10):
        value = space.sample(rng)["a"]
        if not isinstance(value, (str, bool)) and spec["_type"] != "choice":
            assert math.isfinite(value)
        encoded = space.encode({"a": value})
        assert np.all(np.isfinite(encoded)) and encoded.min() >= 0 and encoded.max() <= 1, (value, encoded)
        decoded = space.decode(encoded)["a"]
        assert spec["_type"] == "choice" or math.isfinite(decoded)


MODERATE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
STEP = st.floats(min_value=1e-3, max_value=1e3)


@st.composite
def moderate_numeric_spec(draw):
    type_ = draw(st.sampled_from(NUMERIC_TYPES))
    if type_ == "randint":
        low = draw(st.integers(-10 ** 6, 10 ** 6))
        args = [low, low + draw(st.integers(1, 10 ** 6))]
    elif "normal" in type_:
        args = [draw(st.floats(-5, 5) if "log" in type_ else MODERATE), draw(st.floats(1e-3, 3))]
    else:
        low = draw(st.floats(1e-6, 1e6) if "log" in type_ else MODERATE)
        args = [low, low + draw(st.floats(1e-3, 1e6))]
    if type_.startswith("q"):
        args.append(draw(STEP))
    return {"_type": type_, "_value": args}


@settings(max_examples=300, deadline=None)
@given(spec=moderate_numeric_spec() | CHOICE, seed=st.integers(0, 2 ** 32 - 1))
def test_decoding_an_encoding_gives_the_value_back(spec, seed):
    """Round trip wherever the encoding resolves the value: everywhere for choices and the bounded
    types; for the normal types away from the tails, where the CDF saturates."""
    try:
        space = SearchSpace({"a": spec})
    except SearchSpaceError:
        return
    parameter = space.parameters[0]
    rng = np.random.default_rng(seed)
    for _ in range(10):
        value = space.sample(rng)["a"]
        encoded = space.encode({"a": value})
        back = space.decode(encoded)["a"]
        if spec["_type"] == "choice":
            assert repr(back) == repr(value)
            continue
        if "normal" in spec["_type"] and not 1e-9 < encoded[0] < 1 - 1e-9:
            continue
        q = parameter.args[2] if spec["_type"].startswith("q") else 0.0
        assert math.isclose(back, value, rel_tol=1e-6, abs_tol=1e-9 + q), (value, encoded, back)
