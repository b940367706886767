"""``gateway-kit demo``: the whole gateway on the embedded defaults, in one process tree.

The demo knows no part in detail. Each part (the local cloud, the development OpenID provider, the
worker...) is a class registered under the entry-point group ``gateway_kit.demo_parts`` (or added
to :data:`BUILTIN_PARTS`) and follows :class:`DemoPart`. Parts start in ascending ``order``; each
may put settings for the gateway into ``ctx.settings`` (passed to later parts' child processes
as ``GATEWAY_KIT_*`` variables and to the web app), environment variables into ``ctx.env``, start
child processes with ``ctx.spawn`` and print lines with ``ctx.say``. On Ctrl-C, SIGINT or SIGTERM
(handled even when a shell started the demo in the background, where SIGINT starts ignored) every
part is stopped in reverse order and every child process group is ended. If the demo itself is
killed (SIGKILL), its children still end: each is started with :func:`~.process_lifetime.die_with_parent`
and inherits the demo's :class:`~.process_lifetime.Lifeline`, which grandchildren that outlive
their own parent (local jobs, a killed worker's) watch.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from werkzeug.serving import WSGIRequestHandler

from .process_lifetime import Lifeline, die_with_parent

log = logging.getLogger("gateway_kit.demo")

#: Parts that ship with the kit, as "module:Class" (entry points add more).
BUILTIN_PARTS: list[str] = ["gateway_kit.demo:WorkerPart"]


@runtime_checkable
class DemoPart(Protocol):
    """A piece of the demo.

    Lifecycle (each optional hook is called only if the part has it), so that the parts' processes
    boot while the demo builds the web app, and nothing that can wait delays its URL:

    1. the demo creates the part (no arguments) and calls :meth:`start` in ``order``: start the
       part's processes *without waiting for them* (choose their ports up front) and put the
       settings and environment they imply into ``ctx``; raise if that is impossible;
    2. it builds the web app and migrates its database (the parts' children boot meanwhile);
    3. ``wait_ready()``, in order: block until the part's processes answer, or raise;
    4. ``ready(app)``, in order: work that needs the app and the answering parts (seed data);
    5. once the web app listens, ``background(ctx)``, in order: start what no request needs at
       once (the worker, the session proxy);
    6. :meth:`stop` on shutdown, in reverse order.
    """

    name: str
    order: int

    def start(self, ctx: DemoContext) -> None: ...

    def stop(self) -> None: ...


@dataclass
class DemoContext:
    instance_path: Path
    host: str = "127.0.0.1"
    #: The web app's base URL (``http://HOST:PORT``), known before any part starts.
    web_url: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    say_fn: Callable[[str], None] = print
    #: Handed to every child (``GATEWAY_KIT_LIFELINE_FD``); cut when the demo ends, however.
    lifeline: Lifeline | None = None

    def free_port(self) -> int:
        with socket.socket() as s:
            s.bind((self.host, 0))
            port: int = s.getsockname()[1]
            return port

    def say(self, line: str) -> None:
        self.messages.append(line)

    def add_plugin(self, module: str) -> None:
        """Append ``module`` to ``PLUGINS`` (a list, JSON or comma-separated text) unless it is there."""
        plugins = self.settings.get("PLUGINS", [])
        if isinstance(plugins, str):
            plugins = json.loads(plugins) if plugins.startswith("[") else plugins.split(",")
        if module not in plugins:
            plugins = [*plugins, module]
        self.settings["PLUGINS"] = plugins

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        for key, value in self.settings.items():
            env[f"GATEWAY_KIT_{key}"] = value if isinstance(value, str) else json.dumps(value)
        env["GATEWAY_KIT_INSTANCE"] = str(self.instance_path)
        if self.lifeline is not None:
            self.lifeline.env(env)
        env.update(extra or {})
        return env

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, log_file: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a child in its own process group; its output goes to ``<instance>/logs/NAME.log``.

        The child gets SIGTERM when the demo ends, even by SIGKILL (call ``spawn`` from the demo's
        main thread: the death signal follows the thread that started the child)."""
        logs = self.instance_path / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(log_file or logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            argv,
            env=self.child_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
            pass_fds=self.lifeline.fds if self.lifeline is not None else (),
        )
        out.close()
        self.children.append(proc)
        return proc

    def stop_children(self, timeout: float = 10.0) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.children):
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class _QuietHandler(WSGIRequestHandler):
    """No per-request lines on the demo's console (burst agents poll often); the gateway's own
    request log (``gateway_kit.access``) still records every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class WorkerPart:
    """Runs ``gateway-kit worker`` as a child process (after every part that adds settings)."""

    name = "worker"
    order = 80

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ctx: DemoContext) -> None:
        pass  # no request waits for the worker: it starts once the web app listens

    def background(self, ctx: DemoContext) -> None:
        self.proc = ctx.spawn("worker", [sys.executable, "-m", "gateway_kit", "worker"])
        ctx.say(f"worker        pid {self.proc.pid} (log: {ctx.instance_path / 'logs/worker.log'})")

    def stop(self) -> None:
        pass  # the context ends every child's process group


def write_env_file(ctx: DemoContext) -> Path:
    """``<instance>/demo.env``: ``export`` lines for the settings and environment the parts chose.

    So that ``gateway-kit certs issue`` or ``openstack server list`` in another shell talk to this
    demo's local cloud and ACME server. Readable by the owner only (it may hold the development
    provider's client secret, like the instance folder's database does).
    """
    import shlex

    path = ctx.instance_path / "demo.env"
    env = {f"GATEWAY_KIT_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in ctx.settings.items()}
    env["GATEWAY_KIT_INSTANCE"] = str(ctx.instance_path)
    env.update(ctx.env)
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    ctx.instance_path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Written by gateway-kit demo; valid while it runs.\n" + "\n".join(lines) + "\n")
    return path


def load_parts(names: list[str] | None = None) -> list[DemoPart]:
    """Instantiate the built-in and entry-point parts (optionally only those in ``names``)."""
    factories: dict[str, Any] = {}
    for spec in BUILTIN_PARTS:
        modname, _, attr = spec.partition(":")
        cls = getattr(importlib.import_module(modname), attr)
        factories[cls.name] = cls
    for ep in entry_points(group="gateway_kit.demo_parts"):
        try:
            factories[ep.name] = ep.load()
        except ModuleNotFoundError as exc:
            log.warning("demo part %s is not available: %s", ep.name, exc)
    parts = [cls() for name, cls in factories.items() if names is None or name in names]
    return sorted(parts, key=lambda p: p.order)


def run_demo(
    host: str,
    port: int,
    instance_path: Path,
    config: dict[str, Any],
    only: list[str] | None = None,
    ready_file: Path | None = None,
) -> None:
    """Start every part, the web app, print the banner, and serve until interrupted."""
    from werkzeug.serving import make_server

    from .settings import load_settings

    ctx = DemoContext(instance_path=instance_path, host=host, lifeline=Lifeline())
    if port == 0:  # parts (burst instances' agents) need the web URL before the app serves
        port = ctx.free_port()
    ctx.web_url = f"http://{host}:{port}"
    # Parts extend (or setdefault) settings rather than replace what the gateway's settings file
    # and GATEWAY_KIT_* variables declare, so they start from those values.
    loaded = load_settings(instance_path)
    ctx.settings.update(
        {k: v for k, v in loaded.values.items() if loaded.sources[k] != "default" and k != "INSTANCE_PATH"}
    )
    ctx.settings["PLUGINS"] = list(loaded.values["PLUGINS"])
    ctx.settings.update(config)
    parts = load_parts(only)
    started: list[DemoPart] = []
    stop = threading.Event()

    serving = threading.Event()

    def _signal(_sig: int, _frm: Any) -> None:
        stop.set()
        if not serving.is_set():  # still starting parts: interrupt that at once
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _signal)
    # Explicitly: a shell that starts a command in the background (``demo &``) makes it ignore
    # SIGINT, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, _signal)
    server = None
    thread: threading.Thread | None = None
    try:
        for part in parts:
            part.start(ctx)
            started.append(part)
        os.environ.update(ctx.env)
        # The parts' processes boot while this one imports and builds the app.
        from . import create_app
        from .db import upgrade

        app = create_app(ctx.settings, instance_path=str(instance_path))
        upgrade(app)
        for part in started:
            if (wait_ready := getattr(part, "wait_ready", None)) is not None:
                wait_ready()
        for part in started:
            if (ready := getattr(part, "ready", None)) is not None:
                ready(app)
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        url = f"http://{host}:{server.server_port}/"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        for part in started:
            if (background := getattr(part, "background", None)) is not None:
                background(ctx)
        env_file = write_env_file(ctx)
        banner = [
            "",
            f"  {app.config['GATEWAY_NAME']} is running on the embedded defaults.",
            f"  Open {url} in your browser.",
            "",
            *[f"  {line}" for line in ctx.messages],
            "",
            "  To use the CLI and openstack on this demo from another shell:",
            *[f"    export OS_CLIENT_CONFIG_FILE={v}" for v in [ctx.env.get("OS_CLIENT_CONFIG_FILE")] if v],
            f"    source {env_file}    # every setting the demo's parts chose (certificates, cloud...)",
            "",
            "  Press Ctrl-C to stop everything the demo started.",
            "",
        ]
        print("\n".join(banner), flush=True)
        if ready_file is not None:
            ready_file.write_text(url)
        serving.set()
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        serving.set()  # a second signal must not interrupt the clean-up
        print("Stopping the demo...", flush=True)
        if server is not None:
            if thread is not None:  # shutdown() waits for serve_forever: only once it has started
                server.shutdown()
            server.server_close()
        for part in reversed(started):
            try:
                part.stop()
            except Exception:
                log.exception("demo part %s did not stop cleanly", part.name)
        ctx.stop_children()
        if ctx.lifeline is not None:
            ctx.lifeline.close()
        print("Stopped.", flush=True)
