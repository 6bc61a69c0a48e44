"""classArgs validation: every bad value names its field and what is allowed."""
import pytest

from hyperjump_advisor.settings import ClassArgsError, Settings, parse_class_args


def test_defaults_follow_nni_hyperband_and_the_paper():
    s = parse_class_args()
    assert (s.R, s.eta, s.optimize_mode) == (60, 3, "maximize")
    assert s.exec_mode == "async", "asynchronous Hyperband's brackets: the measured fastest (README, Benchmarks)"
    assert (s.threshold, s.p_no_jump, s.random_fraction) == (0.1, 0.3, 0.3)
    assert s.local_search == 0.5, "half of the model's proposals around the best configurations (README, Benchmarks)"


def test_integral_floats_are_accepted_as_integers():
    s = parse_class_args(R=81.0, eta=3.0, seed=7)
    assert (s.R, s.eta, s.seed) == (81, 3, 7) and isinstance(s.R, int)


@pytest.mark.parametrize("args,words", [
    ({"R": 0}, ["classArgs.R", ">= 1"]),
    ({"R": "81"}, ["classArgs.R", "integer"]),
    ({"R": 8.5}, ["classArgs.R", "integer"]),
    ({"R": True}, ["classArgs.R"]),
    ({"eta": 1}, ["classArgs.eta", ">= 2"]),
    ({"optimize_mode": "max"}, ["classArgs.optimize_mode", "maximize", "minimize"]),
    ({"exec_mode": "asha"}, ["classArgs.exec_mode", "serial", "parallelism", "async"]),
    ({"threshold": -0.1}, ["classArgs.threshold", ">= 0"]),
    ({"threshold": "high"}, ["classArgs.threshold"]),
    ({"p_no_jump": 1.5}, ["classArgs.p_no_jump", "[0, 1]"]),
    ({"random_fraction": -1}, ["classArgs.random_fraction", "[0, 1]"]),
    ({"local_search": 2}, ["classArgs.local_search", "[0, 1]"]),
    ({"seed": -3}, ["classArgs.seed"]),
    ({"best_metric": float("nan")}, ["classArgs.best_metric"]),
    ({"Eta": 3, "r": 9}, ["unknown classArgs Eta (did you mean eta?), r (did you mean R?)", "allowed: R, eta"]),
])
def test_bad_class_args_name_the_field(args, words):
    with pytest.raises(ClassArgsError) as error:
        parse_class_args(**args)
    for word in words:
        assert word in str(error.value)


def test_loss_direction_and_normaliser_zero_point():
    assert parse_class_args(optimize_mode="maximize").to_loss(0.9) == -0.9
    assert parse_class_args(optimize_mode="minimize").to_loss(0.9) == 0.9
    assert parse_class_args().best_loss == -1.0, "accuracy-like by default when maximising"
    assert parse_class_args(optimize_mode="minimize").best_loss == 0.0
    assert parse_class_args(optimize_mode="maximize", best_metric=100).best_loss == -100


def test_allowed_keys_are_the_settings_fields():
    assert Settings.allowed_keys()[:4] == ["R", "eta", "optimize_mode", "exec_mode"]


def test_an_unknown_class_arg_names_the_closest_known_one():
    with pytest.raises(ClassArgsError, match=r"unknown classArgs treshold \(did you mean threshold\?\); allowed: R, eta"):
        parse_class_args(treshold=0.1)
