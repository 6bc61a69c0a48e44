"""Every NNI search-space type: sampling range and semantics, encoding round trip, clear errors."""
import math

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


def test_encoding_a_foreign_value_names_the_parameter():
    space = SearchSpace({"opt": {"_type": "choice", "_value": ["sgd", "adam"]}})
    with pytest.raises(SearchSpaceError, match='"opt"'):
        space.encode({"opt": "rmsprop"})
