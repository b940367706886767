"""Launchers: how a session's server is placed on a destination's executor and found again.

A session runs *as a job* of its destination's executor (:class:`~gateway_kit.jobs.executors.base.Executor`):
the executor starts, polls, cancels and releases it exactly as it does a batch job, so GPU
sessions get their devices as GPU jobs do. A launcher adds what only an interactive server needs:
the address its server listens on, which the session proxy connects to.

**Lifecycle.** :meth:`Launcher.place` is called once, before the executor's ``submit``, and
returns the host and port the server must listen on (they reach the command as ``{port}``);
:meth:`Launcher.locate` is called on each pass while the session starts, with the executor's
state, and returns the address once it is known (a remote node reports it) or ``None``.

Launchers are picked by the destination's executor short name (entry-point group
``gateway_kit.session_launchers``); an executor without a launcher cannot run sessions, and
launching there fails with a message naming the ones that can.
"""

from __future__ import annotations

import abc
import socket
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar

from ..errors import ValidationError

GROUP = "gateway_kit.session_launchers"


class Launcher(abc.ABC):
    name: ClassVar[str] = ""

    def __init__(self, destination: str, options: Mapping[str, Any]) -> None:
        self.destination = destination
        self.options = dict(options)

    @abc.abstractmethod
    def place(self, session_id: int) -> tuple[str, int]:
        """The host and port the session's server will listen on."""

    def locate(
        self, session_id: int, placed: tuple[str, int], executor_state: Mapping[str, Any]
    ) -> tuple[str, int] | None:
        """The server's address once known; default: where it was placed."""
        return placed


class LocalLauncher(Launcher):
    """Servers on the gateway host, on loopback, on a port free when the session starts."""

    name = "local"

    def place(self, session_id: int) -> tuple[str, int]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        return "127.0.0.1", port


def installed_launchers() -> dict[str, type[Launcher]]:
    found: dict[str, type[Launcher]] = {"local": LocalLauncher}
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.load()
    return found


def launcher_for(options: Mapping[str, Any], destination: str) -> Launcher:
    executor = str(options.get("executor", "local"))
    classes = installed_launchers()
    cls = classes.get(executor)
    if cls is None:
        raise ValidationError(
            [
                {
                    "field": "application",
                    "message": f"routes to destination {destination!r}, whose executor {executor!r} cannot "
                    f"run interactive sessions (executors that can: {', '.join(sorted(classes))})",
                }
            ]
        )
    return cls(destination, options)
