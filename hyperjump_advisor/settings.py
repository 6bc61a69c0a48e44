"""classArgs of the HyperJump advisor, validated up front.

NNI does not validate classArgs of current-format YAML, so every check lives here
and names the field, the bad value and what is allowed.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from typing import Any, Optional

from .schedule import ExecMode


LOG_LEVELS = ("debug", "info", "warning", "error")
# exec_mode "async" (the default): asynchronous Hyperband's brackets on shared rungs at Hyperband's budgets,
# promotions as soon as a configuration ranks in the top 1/eta of its rung, jumps past rungs and stops decided by
# rEAR (async_schedule/). There p_no_jump is drawn per configuration and hold_first_bracket does not apply.
# "serial" and "parallelism" are the synchronous brackets of schedule.py. Measured in the replay: see README.
ASYNC_MODE = "async"
EXEC_MODES = tuple(m.value for m in ExecMode) + (ASYNC_MODE,)


SERIAL_STARTS_OFF = (
    "classArgs.serial_starts is false: NNI 3.0's local and remote training services hand a starting trial the "
    "oldest waiting parameters, whoever they were sent for (NNI issue 5726), so NNI's trial list, its web UI and "
    "`nnictl trial ls` will show another trial's parameters and TRIAL_BUDGET for many trials (measured on the quick "
    "start: 27% of the trials with 2 concurrent trials, 59% with 4). The advisor's own records stay right: read "
    "the configurations with `hyperjump-results`. Leave serial_starts out (true) to keep NNI's list right.")


def serial_starts_warning(class_args: dict[str, Any]) -> Optional[str]:
    """What a user who turns serial_starts off loses, or None."""
    return SERIAL_STARTS_OFF if class_args.get("serial_starts") is False else None


class ClassArgsError(ValueError):
    """A classArg of the HyperJump advisor is wrong; the message names it and the fix."""


@dataclass(frozen=True)
class Settings:
    R: int = 60
    eta: int = 3
    optimize_mode: str = "maximize"
    exec_mode: str = "async"
    threshold: float = 0.1
    p_no_jump: float = 0.3
    random_fraction: float = 0.3
    seed: Optional[int] = None
    best_metric: Optional[float] = None
    order_by_risk: bool = True
    rank_one_order: bool = False
    noise_std: float = 0.0
    pause_resume: bool = True
    opportunistic: bool = True
    hold_first_bracket: bool = False
    max_consecutive_failures: int = 10
    log_level: str = "info"
    serial_starts: bool = True   # NNI issue 5726: see SERIAL_STARTS_OFF
    calibrated_risk: bool = False
    learned_brackets: bool = True
    keep_budget_term: bool = False
    final_grace_seconds: float = 30.0   # stall guard: how long an ended SUCCEEDED trial waits for its FINAL
    min_lost_seconds: float = 120.0     # stall guard: the least time before a parameter no job runs is failed
    local_search: float = 0.5   # share of the model's proposals drawn by EI among neighbours of the best configurations

    @property
    def maximize(self) -> bool:
        return self.optimize_mode == "maximize"

    @property
    def jumping(self) -> bool:
        return self.threshold > 0

    def to_loss(self, metric: float) -> float:
        """The model and the risk engine minimise: loss = -metric when maximising."""
        return -metric if self.maximize else metric

    @property
    def best_loss(self) -> float:
        """Best attainable loss, the zero point of rEAR's normaliser (see README)."""
        best = self.best_metric if self.best_metric is not None else (1.0 if self.maximize else 0.0)
        return self.to_loss(best)

    @classmethod
    def allowed_keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _int(name: str, value: Any, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise ClassArgsError(f"classArgs.{name} must be an integer >= {minimum} ({hint}), got {value!r}")
    if value < minimum:
        raise ClassArgsError(f"classArgs.{name} must be >= {minimum} ({hint}), got {value!r}")
    return int(value)


def _probability(name: str, value: Any, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ClassArgsError(f"classArgs.{name} must be a number in [0, 1] ({hint}), got {value!r}")
    return float(value)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ClassArgsError(f"classArgs.{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _seconds(name: str, value: Any, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ClassArgsError(f"classArgs.{name} must be a number of seconds > 0 ({hint}), got {value!r}")
    return float(value)


def parse_class_args(**class_args: Any) -> Settings:
    """Validate NNI classArgs into :class:`Settings`; raise :class:`ClassArgsError` naming the field."""
    unknown = sorted(set(class_args) - set(Settings.allowed_keys()))
    if unknown:
        known = {k.lower(): k for k in Settings.allowed_keys()}
        guesses = [f"{k} (did you mean {known[m[0]]}?)" if m else k
                   for k, m in ((k, difflib.get_close_matches(k.lower(), list(known), n=1)) for k in unknown)]
        raise ClassArgsError(f"unknown classArgs {', '.join(guesses)}; "
                             f"allowed: {', '.join(Settings.allowed_keys())}")
    d = Settings()
    get = lambda k: class_args.get(k, getattr(d, k))  # noqa: E731
    threshold = get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or \
            not math.isfinite(threshold) or threshold < 0:
        raise ClassArgsError("classArgs.threshold (lambda, the rEAR a jump may risk) must be a number >= 0; "
                             f"0 disables jumping; got {threshold!r}")
    seed = get("seed")
    if seed is not None:
        seed = _int("seed", seed, 0, "random seed, or omit it for a fresh one")
    best_metric = get("best_metric")
    if best_metric is not None and (isinstance(best_metric, bool) or not isinstance(best_metric, (int, float))
                                    or not math.isfinite(best_metric)):
        raise ClassArgsError(f"classArgs.best_metric must be a finite number (the best attainable metric), "
                             f"got {best_metric!r}")
    for flag in ("order_by_risk", "rank_one_order", "pause_resume", "opportunistic", "hold_first_bracket",
                 "serial_starts", "calibrated_risk",
                 "learned_brackets", "keep_budget_term"):
        if not isinstance(get(flag), bool):
            raise ClassArgsError(f"classArgs.{flag} must be true or false, got {get(flag)!r}")
    noise_std = get("noise_std")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not 0 <= noise_std < math.inf:
        raise ClassArgsError("classArgs.noise_std (std of a measured metric, 0 = exact measurements) must be a "
                             f"number >= 0, got {noise_std!r}")
    return Settings(
        R=_int("R", get("R"), 1, "the maximum TRIAL_BUDGET, e.g. epochs"),
        eta=_int("eta", get("eta"), 2, "1/eta of the configurations move up a stage"),
        optimize_mode=_choice("optimize_mode", get("optimize_mode"), ("maximize", "minimize")),
        exec_mode=_choice("exec_mode", get("exec_mode"), EXEC_MODES),
        threshold=float(threshold),
        p_no_jump=_probability("p_no_jump", get("p_no_jump"), "probability that a bracket never jumps"),
        random_fraction=_probability("random_fraction", get("random_fraction"),
                                     "fraction of a bracket's configurations drawn at random"),
        seed=seed,
        best_metric=None if best_metric is None else float(best_metric),
        order_by_risk=get("order_by_risk"),
        rank_one_order=get("rank_one_order"),
        noise_std=float(noise_std),
        pause_resume=get("pause_resume"),
        opportunistic=get("opportunistic"),
        hold_first_bracket=get("hold_first_bracket"),
        max_consecutive_failures=_int("max_consecutive_failures", get("max_consecutive_failures"), 0,
                                      "trials in a row without a usable result before the experiment stops; "
                                      "0 never stops"),
        log_level=_choice("log_level", get("log_level"), LOG_LEVELS),
        serial_starts=get("serial_starts"),
        calibrated_risk=get("calibrated_risk"),
        learned_brackets=get("learned_brackets"),
        keep_budget_term=get("keep_budget_term"),
        final_grace_seconds=_seconds("final_grace_seconds", get("final_grace_seconds"),
                                     "how long a trial that ended SUCCEEDED waits for its final metric"),
        min_lost_seconds=_seconds("min_lost_seconds", get("min_lost_seconds"),
                                  "the least time before a parameter that no job runs counts as failed"),
        local_search=_probability("local_search", get("local_search"),
                                  "share of the model-chosen configurations searched among the neighbours of the "
                                  "best ones; 0 = off"),
    )
