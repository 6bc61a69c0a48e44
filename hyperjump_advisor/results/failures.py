"""Why an experiment never ran HyperJump, from NNI's ``dispatcher.log`` (no records were written).

NNI 3.0 shows only "Dispatcher stream error, tuner may have crashed." as the experiment's error (see
docs/nni-facts.md); the advisor's own one-line message is in ``dispatcher.log``.
"""
from __future__ import annotations

import re
from typing import Optional

_REFUSALS = (
    # (pattern in dispatcher.log, what it means: {0} is the captured text)
    (re.compile(r"ClassArgsError: (.+)"), "the advisor refused its classArgs: {0}"),
    (re.compile(r"HyperJump failed while handling Initialize: (.+)"), "the advisor could not start: {0}"),
    (re.compile(r"Builtin name is not found: (\S*hyperjump\S*)", re.IGNORECASE),
     "NNI does not know the advisor name '{0}': run `hyperjump-register` with the Python environment that runs "
     "nnictl, or name the class with codeDirectory and className (README, \"Use it in an experiment\")"),
)


def dispatcher_refusal(log_text: str) -> Optional[str]:
    """The advisor's refusal to start, as one sentence, or None when the log shows none."""
    for pattern, meaning in _REFUSALS:
        found = pattern.findall(log_text)
        if found:
            return meaning.format(found[-1].strip())
    return None
