"""Destinations (where jobs may run) and routing (which one a job goes to).

Routing is policy, execution is mechanism: ``JOBS_DESTINATIONS_MAP`` names destinations, each with
an executor short name, SU rates and executor options; ``JOBS_ROUTING_RULES`` maps an application
id (or ``*``) to a destination. Without a rule, a job goes to the first destination its
application lists, else to the first configured destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from ..errors import ConfigError
from .apps import Application
from .executors import Executor, load_executor_class

EXTENSION_KEY = "gateway_kit.jobs.destinations"


class Destinations:
    """The configured destinations of one app, and the executors built for them (lazily)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings
        self.table: dict[str, dict[str, Any]] = {
            name: dict(opts) for name, opts in settings["JOBS_DESTINATIONS_MAP"].items()
        }
        if not self.table:
            raise ConfigError(
                "Setting JOBS_DESTINATIONS_MAP is empty: expected at least one "
                "destination, e.g. {local = {executor = 'local'}}."
            )
        self.classes: dict[str, type[Executor]] = {}
        for name, opts in self.table.items():
            opts.setdefault("executor", "local")
            for key in ("su_per_cpu_hour", "su_per_gpu_hour"):
                value = opts.get(key, 0.0)
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(
                        f"Setting JOBS_DESTINATIONS_MAP: destination {name!r} has "
                        f"{key} = {value!r}; expected a number >= 0."
                    )
            self.classes[name] = load_executor_class(
                opts["executor"], f"Setting JOBS_DESTINATIONS_MAP, destination {name!r}"
            )
        self.rules: dict[str, str] = dict(settings["JOBS_ROUTING_RULES"])
        for app_id, dest in self.rules.items():
            if dest not in self.table:
                raise ConfigError(
                    f"Setting JOBS_ROUTING_RULES routes {app_id!r} to {dest!r}, "
                    f"which is not a destination ({', '.join(self.table)})."
                )
        self._executors: dict[str, Executor] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.table

    def __iter__(self) -> Any:
        return iter(self.table)

    def options(self, name: str) -> dict[str, Any]:
        return self.table[name]

    def route(self, application: Application) -> str:
        allowed = list(application.destinations) or list(self.table)
        for key in (application.id, "*"):
            dest = self.rules.get(key)
            if dest is not None and dest in allowed:
                return dest
        return allowed[0]

    def executor(self, name: str) -> Executor:
        if name not in self._executors:
            self._executors[name] = self.classes[name](name, self.table[name], self.settings)
        return self._executors[name]


def destinations(app: Flask | None = None) -> Destinations:
    found: Destinations = (app or current_app).extensions[EXTENSION_KEY]
    return found
