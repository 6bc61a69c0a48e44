"""The replay's advisors by name: :class:`AdvisorSpec` and the ``REGISTRY`` that :mod:`.advisors` (this
project's and NNI's advisors) and :mod:`.peers.runner` (other libraries' advisors) both fill."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class AdvisorSpec:
    name: str
    builder: Callable[..., Any]          # builder(R=, eta=, seed=, class_args=) -> offline advisor
    description: str
    takes_class_args: bool = False
    class_args: dict = field(default_factory=dict)

    def build(self, R: int, eta: int, seed: int, class_args: Optional[dict] = None) -> Any:
        extra = dict(self.class_args)
        if self.takes_class_args and class_args:
            extra.update(class_args)
        return self.builder(R=R, eta=eta, seed=seed, class_args=extra)


REGISTRY: dict[str, AdvisorSpec] = {}


def register(spec: AdvisorSpec) -> AdvisorSpec:
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> AdvisorSpec:
    """A registered advisor, or NAME:KEY=VALUE,... (overrides, checked: :mod:`.overrides`)."""
    from .advisors import switched  # lazy: advisors fills this registry and imports it
    from .overrides import resolve
    return resolve(name, REGISTRY, switched)
