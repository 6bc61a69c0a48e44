"""Ablations as settings, not names: ``--advisor 'hyperjump:threshold=0,random_fraction=1'``.

``NAME:KEY=VALUE,KEY=VALUE`` is the registered advisor NAME (one of this project's: ``hyperjump``,
``hyperband``) with its classArgs overridden. Values are JSON (``0``, ``0.5``, ``true``, ``"x"``) or, when
not JSON, plain text (``exec_mode=parallelism``). Keys are checked before any replay:

- a classArg of the advisor (:class:`hyperjump_advisor.settings.Settings`; any classArg the advisor
  accepts, including ones added later): the merged classArgs go through
  :func:`hyperjump_advisor.settings.parse_class_args`, so a typo or a bad value stops with its message,
  which names the field and what is allowed. ``R``, ``eta``, ``optimize_mode`` and ``seed`` belong to the
  replay (``--R``, ``--eta``, ``--seeds``) and are refused here;
- a *replay switch* (:class:`ReplaySwitches`): an engine choice that is not (yet) a classArg, set on the built
  advisor by the replay (one bracket, trusting jumps, no challenger promotions, the searcher's options, the
  jump guard, the anytime probe). A classArg of the same name takes precedence, so a switch that becomes a
  classArg keeps its spelling.

The run's advisor name is the text as given, so reports show the override.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any, Callable

from ..settings import ClassArgsError, Settings, parse_class_args

REPLAY_OWNED = ("R", "eta", "optimize_mode", "seed")


class OverrideError(ValueError):
    """An advisor name with overrides the replay cannot use; the message names the key and the fix."""


@dataclass(frozen=True)
class ReplaySwitches:
    several_brackets: bool = True      # False: every configuration starts at rung 0 (ASHA's one bracket), async
    explain_jumps: bool = True         # False: jump past rungs even when the model does not explain the result
    promote_challengers: bool = True   # False: only the top 1/eta of a rung moves up (no challenger promotions)
    no_repeat: bool = True             # searcher: never propose a configuration already run at the proposal budget
    pending_aware: bool = False        # searcher: kriging-believer EI over pending configurations
    jump_guard: int = 0                # jumps need jump_guard * (d + 2) observations at the stage's budget or above
    config_batch: int = 0              # async: new configurations proposed at once per start rung (0: the default)
    anytime: bool = False              # the anytime probe (replay/anytime_probe.py): an early run of the best guess

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def split_name(text: str) -> tuple[str, dict[str, Any]]:
    """``'hyperjump:threshold=0,exec_mode=parallelism'`` -> ("hyperjump", {"threshold": 0, "exec_mode": "parallelism"})."""
    base, colon, rest = text.partition(":")
    overrides: dict[str, Any] = {}
    if not colon:
        return base, overrides
    if not rest.strip():
        raise OverrideError(f"advisor {text!r}: nothing after ':'; write NAME:KEY=VALUE[,KEY=VALUE...]")
    for item in rest.split(","):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise OverrideError(f"advisor {text!r}: {item!r} is not KEY=VALUE; write NAME:KEY=VALUE[,KEY=VALUE...]")
        if key in overrides:
            raise OverrideError(f"advisor {text!r}: {key} is given twice")
        overrides[key] = parse_value(value.strip())
    return base, overrides


def split_overrides(name: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(classArgs, replay switches); raises OverrideError for a key that is neither, or belongs to the replay."""
    class_keys, switch_keys = Settings.allowed_keys(), ReplaySwitches.keys()
    owned = [k for k in overrides if k in REPLAY_OWNED]
    if owned:
        raise OverrideError(f"advisor {name!r}: {', '.join(owned)} is set by the replay (use --R, --eta, --seeds; "
                            "every advisor minimises the table's loss), not in an override")
    unknown = [k for k in overrides if k not in class_keys and k not in switch_keys]
    if unknown:
        allowed = [k for k in class_keys if k not in REPLAY_OWNED]
        raise OverrideError(f"advisor {name!r}: unknown key(s) {', '.join(unknown)}; classArgs: {', '.join(allowed)}; "
                            f"replay switches: {', '.join(switch_keys)}")
    class_args = {k: v for k, v in overrides.items() if k in class_keys}
    switches = {k: v for k, v in overrides.items() if k not in class_keys}
    return class_args, switches


def check_switches(name: str, switches: dict[str, Any]) -> ReplaySwitches:
    for key, value in switches.items():
        default = getattr(ReplaySwitches(), key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise OverrideError(f"advisor {name!r}: replay switch {key} must be true or false, got {value!r}")
        if not isinstance(default, bool) and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise OverrideError(f"advisor {name!r}: replay switch {key} must be an integer >= 0, got {value!r}")
    return ReplaySwitches(**switches)


def resolve(text: str, registry: dict, variant: Callable[[ReplaySwitches], Callable[[], Any]]) -> Any:
    """The AdvisorSpec named by ``text`` (a registered name, or NAME:KEY=VALUE,... with checked overrides);
    ``variant(switches)`` returns the factory of the advisor class with those switches."""
    base, overrides = split_name(text)
    if base not in registry:
        raise KeyError(f"unknown advisor {base!r}; known: {', '.join(registry)}")
    spec = registry[base]
    if not overrides:
        return spec
    if not spec.takes_class_args:
        raise OverrideError(f"advisor {text!r}: {base} takes no overrides; only this project's advisors do "
                            f"({', '.join(n for n, s in registry.items() if s.takes_class_args)})")
    class_args, switches = split_overrides(text, overrides)
    merged = {**spec.class_args, **class_args}
    try:
        parse_class_args(R=9, eta=3, optimize_mode="minimize", seed=0, **merged)
    except ClassArgsError as error:
        raise OverrideError(f"advisor {text!r}: {error}") from None
    checked = check_switches(text, switches)
    builder = spec.builder
    if switches:
        factory = variant(checked)
        def builder(R, eta, seed, class_args, _base=spec.builder):  # noqa: E306  (the switched class)
            return _base(R=R, eta=eta, seed=seed, class_args=class_args, factory=factory)
    return dataclasses.replace(spec, name=text, class_args=merged, builder=builder)
