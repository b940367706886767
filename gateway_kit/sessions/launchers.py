"""Launchers: how a session's server is placed on a destination's executor and found again.

A session runs *as a job* of its destination's executor (:class:`~gateway_kit.jobs.executors.base.Executor`):
the executor starts, polls, cancels and releases it exactly as it does a batch job, so GPU
sessions get their devices as GPU jobs do. A launcher adds what only an interactive server needs:
the address its server listens on, which the session proxy connects to.

**Lifecycle.** :meth:`Launcher.place` is called once, before the executor's ``submit``, and
returns the host and port the server must listen on (the port reaches the command as ``{port}``),
or ``None`` when the node chooses them (then ``{port}`` is :data:`.nodeserver.PORT_MARK`);
:meth:`Launcher.wrap` may wrap the rendered command (the ``slurm`` and ``burst`` launchers run it
under :mod:`.nodeserver`, which reports the node's address, as Open OnDemand's batch connect does);
:meth:`Launcher.locate` is called on each pass while the session starts and returns the address
once it is known, or ``None``.

Launchers are picked by the destination's executor short name (entry-point group
``gateway_kit.session_launchers``); an executor without a launcher cannot run sessions, and
launching there fails with a message naming the ones that can.
"""

from __future__ import annotations

import abc
import json
import socket
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ValidationError
from ..jobs.executors.base import KIT_ADDRESS_MARK, KIT_PYTHON_MARK, SERVER_ADDRESS_FILE
from ..jobs.jobfiles import open_job_file

GROUP = "gateway_kit.session_launchers"
ADDRESS_FILE = SERVER_ADDRESS_FILE


class Launcher(abc.ABC):
    name: ClassVar[str] = ""

    def __init__(self, destination: str, options: Mapping[str, Any]) -> None:
        self.destination = destination
        self.options = dict(options)

    @abc.abstractmethod
    def bind_address(self) -> str:
        """The address the server listens on (the command's ``{host}``)."""

    @abc.abstractmethod
    def place(self, session_id: int) -> tuple[str, int] | None:
        """The host and port the session's server will listen on, or None: the node picks them."""

    def wrap(self, argv: list[str], workdir: Path) -> list[str]:
        """The command the executor runs for the rendered ``argv``; default: ``argv`` itself."""
        return argv

    def locate(self, placed: tuple[str, int] | None, workdir: Path) -> tuple[str, int] | None:
        """The server's address once known; default: where it was placed."""
        return placed


class LocalLauncher(Launcher):
    """Servers on the gateway host, on loopback, on a port free when the session starts."""

    name = "local"

    def bind_address(self) -> str:
        return "127.0.0.1"

    def place(self, session_id: int) -> tuple[str, int] | None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        return "127.0.0.1", port


class NodeLauncher(Launcher):
    """Servers on another machine that picks its own port: the command runs under
    :mod:`.nodeserver`, which writes the address to :data:`ADDRESS_FILE` in the job's directory;
    :meth:`locate` reads it there (in the gateway's copy of that directory).

    Destination options: ``session_bind`` (the address servers listen on, default ``0.0.0.0``),
    ``session_host`` (the host the proxy connects to, default the bind address or the node's
    name), ``session_python`` (the Python that runs the kit there, default :meth:`python`).
    """

    def python(self) -> str:
        """The default ``session_python``."""
        return sys.executable

    def bind_address(self) -> str:
        return str(self.options.get("session_bind") or self.default_bind())

    def default_bind(self) -> str:
        """The default ``session_bind``."""
        return "0.0.0.0"

    def place(self, session_id: int) -> tuple[str, int] | None:
        return None

    def wrap(self, argv: list[str], workdir: Path) -> list[str]:
        python = str(self.options.get("session_python") or self.python())
        wrapper = [python, "-m", "gateway_kit.sessions.nodeserver"]
        wrapper += ["--bind", self.bind_address()]
        if self.options.get("session_host"):
            wrapper += ["--report-host", str(self.options["session_host"])]
        return [*wrapper, "--address-file", str(workdir / ADDRESS_FILE), "--", *argv]

    def locate(self, placed: tuple[str, int] | None, workdir: Path) -> tuple[str, int] | None:
        try:
            # Written on the node by the session's user: no link, no FIFO, a few bytes at most.
            with open_job_file(workdir, ADDRESS_FILE) as f:
                data = json.loads(f.read(4096).decode("utf-8"))
        except (OSError, ValueError):
            return None  # not written yet
        if not isinstance(data, dict):
            return None
        host, port = data.get("host"), data.get("port")
        if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
            return None
        return host, port


class SlurmLauncher(NodeLauncher):
    """Servers in SLURM batch jobs: the node picks a port and reports its address in the job's
    directory (shared with the gateway, as the ``slurm`` executor requires); the nodes run the
    gateway's own Python unless ``session_python`` says otherwise."""

    name = "slurm"


class BurstLauncher(NodeLauncher):
    """Servers on burst instances: the instance's agent runs the command with its own Python
    (:data:`~gateway_kit.jobs.executors.base.KIT_PYTHON_MARK`) and makes the server listen on the
    instance's address (:data:`~gateway_kit.jobs.executors.base.KIT_ADDRESS_MARK`, unless
    ``session_bind`` says otherwise), reports the port the server took
    to the gateway, which writes the address file with the *instance's* address as it recorded it
    (an agent cannot point the proxy anywhere else), and heart-beats while the server runs."""

    name = "burst"

    def python(self) -> str:
        return KIT_PYTHON_MARK

    def default_bind(self) -> str:
        return KIT_ADDRESS_MARK  # the agent puts its instance's address there


def installed_launchers() -> dict[str, type[Launcher]]:
    found: dict[str, type[Launcher]] = {
        "local": LocalLauncher,
        "slurm": SlurmLauncher,
        "burst": BurstLauncher,
    }
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
