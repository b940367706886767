"""Executors: backends that run jobs, picked by short name per destination.

Executors are registered under the entry-point group ``gateway_kit.executors`` (``local`` ships
with the kit; ``slurm`` and ``burst`` follow). :func:`load_executor_class` resolves a name and
fails loudly, listing the installed names, when it is unknown.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ...errors import ConfigError
from .base import (
    CapacityExhausted,
    Executor,
    ExecutorError,
    JobSpec,
    PollResult,
)

GROUP = "gateway_kit.executors"

__all__ = [
    "GROUP",
    "CapacityExhausted",
    "Executor",
    "ExecutorError",
    "JobSpec",
    "PollResult",
    "installed_executors",
    "load_executor_class",
]


def installed_executors() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_executor_class(name: str, where: str = "") -> type[Executor]:
    """The executor class registered as ``name``; ConfigError listing the choices otherwise."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ConfigError(
            f"{where or 'Executor'}: unknown executor {name!r}; installed executors: "
            f"{', '.join(installed_executors()) or 'none'}."
        )
    cls = found[0].load()  # an import error here is a broken install: let it raise
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ConfigError(f"Executor {name!r} ({found[0].value}) is not an Executor subclass.")
    return cls
