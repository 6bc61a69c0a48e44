"""Drive an NNI advisor in-process, without an NNI manager (tests and the replay).

``MsgDispatcherBase`` skips connecting when the command channel URL starts with
``ws://_unittest_`` (NNI's own unit tests rely on it). Advisors read the URL from
``dispatcher_env_vars`` (a namedtuple) that ``msg_dispatcher_base`` imports by name,
so a copy with the offline URL is put there while the advisor is built. ``send`` is replaced by a recorder.
An advisor with a clock of its own (``own_clock``, HyperJump) starts no clock thread here: the driver
sends :data:`~hyperjump_advisor.clock.TICK` itself, when its own (virtual) clock says so (:func:`tick`).
"""
from __future__ import annotations

import contextlib
from unittest import mock
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import nni
import nni.runtime.msg_dispatcher_base as dispatcher_base
from nni.runtime.tuner_command_channel import CommandType

OFFLINE_URL = "ws://_unittest_hyperjump_offline"


@contextlib.contextmanager
def offline_channel() -> Iterator[None]:
    saved = dispatcher_base.dispatcher_env_vars
    dispatcher_base.dispatcher_env_vars = saved._replace(NNI_TUNER_COMMAND_CHANNEL=OFFLINE_URL)
    try:
        yield
    finally:
        dispatcher_base.dispatcher_env_vars = saved


@dataclass
class Sent:
    command: CommandType
    data: Any  # decoded payload

    @property
    def name(self) -> str:
        return self.command.name


def build_offline(factory: Callable[..., Any], sent: Optional[list] = None, **class_args: Any):
    """Instantiate an advisor with no NNI manager; what it sends is appended to ``advisor.sent``
    (and to ``sent``, if given, which also catches what a failing constructor sent)."""
    sent = [] if sent is None else sent

    def record(_self, command, data):
        sent.append(Sent(command, _decode(data)))

    with offline_channel(), mock.patch.object(dispatcher_base.MsgDispatcherBase, "send", record):
        advisor = factory(**class_args)
    advisor.sent = sent
    advisor.send = lambda command, data: record(advisor, command, data)
    if hasattr(advisor, "own_clock"):
        advisor.own_clock = False  # no thread: ticks come from the driver, on its clock
    return advisor


def tick(advisor: Any) -> None:
    """What the advisor's clock thread enqueues, processed now (the driver advances its clock first)."""
    from .clock import TICK
    advisor.process_command(TICK, None)


def _decode(data: Any) -> Any:
    if isinstance(data, str) and data:
        try:
            return nni.load(data)
        except Exception:
            return data
    return data


def metric_message(parameter_id: Any, trial_job_id: str, value: Any, kind: str = "FINAL",
                   sequence: int = 0) -> dict:
    """A ReportMetricData payload as the NNI manager sends it."""
    return {"parameter_id": parameter_id, "trial_job_id": trial_job_id, "type": kind,
            "sequence": sequence, "value": nni.dump(value)}


def trial_end_message(trial_job_id: str, event: str, parameters: dict) -> dict:
    """A TrialEnd payload; ``parameters`` is the NewTrialJob payload the trial was started with."""
    return {"trial_job_id": trial_job_id, "event": event, "hyper_params": nni.dump(parameters)}
