"""systemd units on the data plane: a small supervisor and the ``systemctl`` an instance calls.

A real image runs its services as systemd units; a cloud-config writes
``/etc/systemd/system/NAME.service`` and runs ``systemctl daemon-reload`` and ``systemctl enable
--now NAME``. On the data plane every instance finds ``systemctl`` (and ``journalctl``) first on its
``PATH``: a shim that sends its arguments to the :class:`Supervisor` of the cloud over a Unix
socket (abstract namespace; each instance has its own token in ``ROOT/<id>/systemd/control.json``,
mode 0600, and the peer must run as the cloud's user). The supervisor runs the units as children
of the cloud, so they end with their instance and with the cloud.

**Unit files** are read from the instance's rootfs: ``/etc/systemd/system``,
``/run/systemd/system``, ``/lib/systemd/system``, ``/usr/lib/systemd/system`` (first found), plus
drop-ins ``NAME.service.d/*.conf``. Honoured in ``[Service]``: ``Type``
(``simple``/``exec``/``notify``/``forking``-as-simple, ``oneshot`` with ``RemainAfterExit``),
``ExecStartPre`` (in order, each to completion; a ``-`` prefix ignores its failure),
``ExecStart``, ``ExecStop`` (run before the signal), ``ExecReload`` (``$MAINPID`` set),
``Environment``, ``EnvironmentFile`` (``-`` prefix: optional; its values override
``Environment``), ``WorkingDirectory``, ``Restart`` (``no``, ``always``, ``on-failure``,
``on-abnormal``; as in systemd, a start whose ``ExecStartPre`` fails is retried too),
``RestartSec``, ``TimeoutStopSec``, ``KillSignal``, ``StartLimitBurst``/``StartLimitIntervalSec``
(5 in 10 s by default); ``[Install] WantedBy`` decides the ``.wants`` directory ``enable`` links
into. ``User`` and ``Group`` are honoured when the cloud runs as root (the user must exist on the
host; PostgreSQL, for one, refuses to run as root); otherwise, like sandboxing and resource
controls, they are ignored (everything runs as the user running the cloud). Unit files are read
afresh on every start, so ``daemon-reload`` is accepted and changes nothing.

**Paths.** ``WorkingDirectory`` and ``EnvironmentFile`` are paths in the rootfs. In a command line
the program and each absolute-path argument (also the value of ``--opt=/path``) are rewritten into
the rootfs when that path, or its parent directory, exists there; otherwise the host path is used
(so ``/usr/bin/python3`` is the host's, ``/opt/app/run.sh`` written by ``write_files`` is the
instance's). ``$VAR``/``${VAR}`` are expanded as systemd does (``$VAR`` alone splits on spaces).
Units start with the instance environment (``PATH``, ``LANG``, ``HOME``, ``INSTANCE_*``) and a
working directory of the rootfs.

**Boot.** When an instance powers on, its enabled units start (in name order, before the user
script runs); when it powers off or is deleted, and when the cloud stops, its units are stopped
(``ExecStop``, ``KillSignal`` (SIGTERM) to the unit's process group, SIGKILL after ``TimeoutStopSec``, 3 s by
default).

**systemctl** verbs: ``daemon-reload``, ``start``, ``stop``, ``restart``, ``try-restart``,
``reload``/``reload-or-restart`` (``ExecReload``, else as restart), ``enable``/``disable``
(``--now``), ``status``, ``is-active``, ``is-enabled``, ``is-failed``, ``list-units``,
``show -p PROP`` (``ActiveState``, ``SubState``, ``MainPID``, ``NRestarts``, ``ExecMainStatus``,
``UnitFileState``); exit statuses as systemd's (``status``: 0 running, 3 not, 4 no such unit).
``journalctl -u NAME [-n N]`` prints the unit's output, which is kept in
``ROOT/<id>/journal/NAME.service.log``.
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_kit.localcloud.dataplane.cloudconfig import rootfs_path
from gateway_kit.localcloud.dataplane.procs import Spawner, end_group, group_alive

log = logging.getLogger(__name__)

UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")
CLIENT = Path(__file__).with_name("systemctl.py")
STOP_TIMEOUT = 3.0
# systemd's exit statuses for "status"/"is-active" (LSB): 3 program is not running, 4 unknown unit.
NOT_RUNNING = 3
NO_SUCH_UNIT = 4


# -- unit files (pure) ---------------------------------------------------------------------------


@dataclass
class Unit:
    """What the supervisor uses of one ``.service`` file."""

    name: str
    path: str = ""
    description: str = ""
    type: str = "simple"
    exec_start: list[str] = field(default_factory=list)
    exec_start_pre: list[str] = field(default_factory=list)
    exec_stop: list[str] = field(default_factory=list)
    exec_reload: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    environment_files: list[str] = field(default_factory=list)
    working_directory: str = ""
    restart: str = "no"
    restart_sec: float = 0.1
    timeout_stop_sec: float = STOP_TIMEOUT
    kill_signal: signal.Signals = signal.SIGTERM
    user: str = ""
    group: str = ""
    remain_after_exit: bool = False
    start_limit_burst: int = 5
    start_limit_interval: float = 10.0
    wanted_by: list[str] = field(default_factory=list)


def parse_sections(text: str) -> list[tuple[str, str, str]]:
    """``(section, key, value)`` of an INI-style unit file, repeated keys kept, ``\\`` joined."""
    out: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif "=" in line:
            key, value = line.split("=", 1)
            out.append((section, key.strip(), value.strip()))
    return out


def parse_seconds(value: str, default: float) -> float:
    """``5``, ``5s``, ``500ms``, ``1min``, ``infinity``."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|sec|m|min|)\s*", value)
    if value.strip() == "infinity":
        return 1e9
    if not match:
        return default
    number = float(match.group(1))
    return {"ms": number / 1000, "m": number * 60, "min": number * 60}.get(match.group(2), number)


def parse_signal(value: str, default: signal.Signals) -> signal.Signals:
    """``SIGINT``, ``INT`` or ``2``."""
    name = value.strip().upper()
    try:
        return (
            signal.Signals(int(name)) if name.isdigit() else signal.Signals[f"SIG{name.removeprefix('SIG')}"]
        )
    except (KeyError, ValueError):
        return default


def credentials(unit: Unit) -> dict[str, Any]:
    """``Popen`` arguments running ``unit`` as its ``User=``/``Group=``: only when the cloud runs
    as root (otherwise nobody can switch users, and the unit runs as the cloud's user).

    :raises RuntimeError: the user or group does not exist on the host (systemd's status 217).
    """
    if not (unit.user or unit.group) or os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(unit.user or "root")
        gid = grp.getgrnam(unit.group).gr_gid if unit.group else user.pw_gid
    except KeyError as exc:
        raise RuntimeError(f"User={unit.user} Group={unit.group}: not on this host ({exc})") from None
    return {"user": user.pw_uid, "group": gid, "extra_groups": os.getgrouplist(user.pw_name, gid)}


def parse_unit(name: str, texts: list[str], path: str = "") -> Unit:
    """A :class:`Unit` from the main file's text followed by its drop-ins' (pure).

    An empty value resets a list setting, as in systemd.
    """
    unit = Unit(name=name, path=path)
    lists = {
        "ExecStart": unit.exec_start,
        "ExecStartPre": unit.exec_start_pre,
        "ExecStop": unit.exec_stop,
        "ExecReload": unit.exec_reload,
        "Environment": unit.environment,
        "EnvironmentFile": unit.environment_files,
        "WantedBy": unit.wanted_by,
    }
    for text in texts:
        for section, key, value in parse_sections(text):
            if key in lists:
                if not value:
                    lists[key].clear()
                elif key in ("Environment", "WantedBy"):
                    lists[key].extend(shlex.split(value))
                else:
                    lists[key].append(value)
            elif section == "Unit" and key == "Description":
                unit.description = value
            elif key == "Type":
                unit.type = value
            elif key == "WorkingDirectory":
                unit.working_directory = value
            elif key == "Restart":
                unit.restart = value
            elif key == "RestartSec":
                unit.restart_sec = parse_seconds(value, unit.restart_sec)
            elif key in ("TimeoutStopSec", "TimeoutSec"):
                unit.timeout_stop_sec = min(parse_seconds(value, STOP_TIMEOUT), 30.0)
            elif key == "KillSignal":
                unit.kill_signal = parse_signal(value, unit.kill_signal)
            elif key in ("User", "Group"):
                setattr(unit, key.lower(), value)
            elif key == "RemainAfterExit":
                unit.remain_after_exit = value.lower() in ("yes", "true", "1", "on")
            elif key == "StartLimitBurst":
                unit.start_limit_burst = int(value) if value.isdigit() else unit.start_limit_burst
            elif key == "StartLimitIntervalSec":
                unit.start_limit_interval = parse_seconds(value, unit.start_limit_interval)
    return unit


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#``/``;`` comments, optional ``export``, quotes removed)."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\$")


def command_argv(line: str, env: dict[str, str]) -> tuple[list[str], bool]:
    """The argv of an ``Exec*=`` line and whether its failure is ignored (``-`` prefix)."""
    ignore = False
    while line and line[0] in "-@+!:":
        ignore = ignore or line[0] == "-"
        line = line[1:]
    argv: list[str] = []
    for word in shlex.split(line):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:  # "$VAR" as a whole word splits on white space
            argv.extend(env.get(whole.group(1), "").split())
            continue

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            return env.get(m.group(1) or m.group(2), "")

        argv.append(_VAR.sub(sub, word))
    return argv, ignore


def map_path(rootfs: Path, path: str) -> str:
    """``path`` inside the rootfs when it (or its parent directory) exists there, else as is."""
    if not path.startswith("/"):
        return path
    inside = rootfs_path(rootfs, path)
    if inside.exists() or (inside.parent != rootfs and inside.parent.is_dir()):
        return str(inside)
    return path


def map_argv(rootfs: Path, argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        if arg.startswith("--") and "=/" in arg:
            opt, value = arg.split("=", 1)
            out.append(f"{opt}={map_path(rootfs, value)}")
        else:
            out.append(map_path(rootfs, arg))
    return out


def unit_name(name: str) -> str:
    return name if "." in name else f"{name}.service"


# -- the supervisor ----------------------------------------------------------------------------


@dataclass
class Instance:
    """What the supervisor knows of a running instance."""

    id: str
    dir: Path
    rootfs: Path
    env: dict[str, str]
    token: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class UnitState:
    name: str
    active: str = "inactive"  # active, activating, deactivating, failed, inactive
    sub: str = "dead"  # running, exited, dead, failed, auto-restart
    proc: subprocess.Popen[bytes] | None = None
    since: float = 0.0
    exit_status: int | None = None
    result: str = "success"
    restarts: int = 0
    starts: list[float] = field(default_factory=list)
    restart_at: float | None = None
    stopping: bool = False


class Supervisor:
    """Runs the units of every instance of one data plane; serves the ``systemctl`` shims."""

    def __init__(self, interval: float = 0.1, spawner: Spawner | None = None) -> None:
        self.interval = interval
        self.spawner = spawner or Spawner()
        self.address = f"\0gk-localcloud-systemd-{os.getpid()}-{secrets.token_hex(6)}"
        self._lock = threading.RLock()
        self._instances: dict[str, Instance] = {}
        self._units: dict[str, dict[str, UnitState]] = {}
        self._stop = threading.Event()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._threads: list[threading.Thread] = []

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> Supervisor:
        supervisor = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                supervisor._handle(self.connection, self.rfile, self.wfile)

        server = socketserver.ThreadingUnixStreamServer(self.address, Handler)
        server.daemon_threads = True
        self._server = server
        for target, name in ((server.serve_forever, "systemd-control"), (self._watch, "systemd-watch")):
            thread = threading.Thread(target=target, name=f"localcloud-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop every unit of every instance and the threads."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        for instance_id in list(self._instances):
            self.power_off(instance_id)

    def power_on(self, instance: Instance) -> None:
        """Register an instance (writes its shims) and start its enabled units."""
        with self._lock:
            self._instances[instance.id] = instance
            self._units.setdefault(instance.id, {})
        self._write_shims(instance)
        for name in self.enabled_units(instance):
            rc, out = self._start(instance, name)
            if rc:
                self._console(instance, f"systemd: {name} failed to start at boot: {out.strip()}")

    def power_off(self, instance_id: str) -> None:
        """Stop an instance's units and forget it."""
        with self._lock:
            instance = self._instances.pop(instance_id, None)
            units = self._units.pop(instance_id, {})
        for state in units.values():
            if instance is not None:
                self._stop_unit(instance, state)
            elif state.proc is not None:
                end_group(state.proc.pid, STOP_TIMEOUT)

    def units(self, instance_id: str) -> dict[str, UnitState]:
        with self._lock:
            return dict(self._units.get(instance_id, {}))

    # -- files ---------------------------------------------------------------------------------

    def _write_shims(self, instance: Instance) -> None:
        sysdir = instance.dir / "systemd"
        bindir = instance.dir / "bin"
        sysdir.mkdir(parents=True, exist_ok=True)
        bindir.mkdir(parents=True, exist_ok=True)
        control = sysdir / "control.json"
        fd = os.open(control, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"address": self.address, "instance": instance.id, "token": instance.token}, f)
        for tool in ("systemctl", "journalctl"):
            shim = bindir / tool
            shim.write_text(
                "#!/bin/sh\n"
                f"exec {shlex.quote(sys.executable)} {shlex.quote(str(CLIENT))} "
                f'--control {shlex.quote(str(control))} {tool} "$@"\n',
                encoding="utf-8",
            )
            shim.chmod(0o755)

    def _console(self, instance: Instance, line: str) -> None:
        with contextlib.suppress(OSError), open(instance.dir / "console.log", "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")

    def find_unit(self, instance: Instance, name: str) -> Unit | None:
        for folder in UNIT_DIRS:
            path = instance.rootfs / folder / name
            if path.is_file():
                texts = [path.read_text(encoding="utf-8", errors="replace")]
                dropins = instance.rootfs / folder / f"{name}.d"
                if dropins.is_dir():
                    texts += [
                        p.read_text(encoding="utf-8", errors="replace")
                        for p in sorted(dropins.glob("*.conf"))
                    ]
                return parse_unit(name, texts, "/" + folder + "/" + name)
        return None

    def enabled_units(self, instance: Instance) -> list[str]:
        base = instance.rootfs / "etc/systemd/system"
        if not base.is_dir():
            return []
        names = {
            p.name for wants in base.glob("*.wants") for p in wants.iterdir() if p.name.endswith(".service")
        }
        return sorted(names)

    def is_enabled(self, instance: Instance, name: str) -> bool:
        return name in self.enabled_units(instance)

    def _journal(self, instance: Instance, name: str) -> Path:
        folder = instance.dir / "journal"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.log"

    # -- running units --------------------------------------------------------------------------

    def _env(self, instance: Instance, unit: Unit) -> dict[str, str]:
        env = dict(instance.env)
        for item in unit.environment:
            if "=" in item:
                key, value = item.split("=", 1)
                env[key] = value
        for spec in unit.environment_files:
            optional = spec.startswith("-")
            path = rootfs_path(instance.rootfs, spec.lstrip("-"))
            try:
                env.update(parse_env_file(path.read_text(encoding="utf-8")))
            except OSError as exc:
                if not optional:
                    raise RuntimeError(
                        f"EnvironmentFile {spec.lstrip('-')} cannot be read: {exc.strerror}"
                    ) from exc
        return env

    def _popen(
        self, instance: Instance, unit: Unit, line: str, env: dict[str, str]
    ) -> tuple[subprocess.Popen[bytes], bool]:
        argv, ignore = command_argv(line, env)
        if not argv:
            raise RuntimeError(f"empty command line in {unit.name}")
        argv = map_argv(instance.rootfs, argv)
        if not argv[0].startswith("/"):
            found = shutil.which(argv[0], path=env.get("PATH"))
            if found is None:
                raise RuntimeError(f"{argv[0]}: command not found")
            argv[0] = found
        cwd = (
            rootfs_path(instance.rootfs, unit.working_directory)
            if unit.working_directory
            else instance.rootfs
        )
        if not cwd.is_dir():
            raise RuntimeError(f"WorkingDirectory {unit.working_directory} does not exist")
        with open(self._journal(instance, unit.name), "ab") as journal:
            proc = self.spawner.popen(
                argv,
                cwd=cwd,
                env=env,
                **credentials(unit),
                stdin=subprocess.DEVNULL,
                stdout=journal,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        return proc, ignore

    def _run_to_end(self, instance: Instance, unit: Unit, line: str, env: dict[str, str]) -> None:
        proc, ignore = self._popen(instance, unit, line, env)
        try:
            rc = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            end_group(proc.pid, 1.0)
            rc = proc.wait()
        if rc and not ignore:
            raise RuntimeError(f"{line!r} exited with status {rc}")

    def _start(self, instance: Instance, name: str) -> tuple[int, str]:
        name = unit_name(name)
        unit = self.find_unit(instance, name)
        if unit is None:
            return 5, f"Failed to start {name}: Unit {name} not found.\n"
        with self._lock:
            state = self._units.setdefault(instance.id, {}).setdefault(name, UnitState(name))
            running = state.proc is not None and state.proc.poll() is None
            if running or (state.active, state.sub) == ("active", "exited"):
                return 0, ""
            state.active, state.sub, state.restart_at, state.stopping = "activating", "start", None, False
            now = time.monotonic()
            state.starts = [t for t in state.starts if now - t < unit.start_limit_interval] + [now]
            if len(state.starts) > unit.start_limit_burst:
                state.active, state.sub, state.result = "failed", "failed", "start-limit-hit"
                return 1, f"Job for {name} failed: start request repeated too quickly.\n"
        try:
            env = self._env(instance, unit)
            for line in unit.exec_start_pre:
                self._run_to_end(instance, unit, line, env)
            if unit.type == "oneshot":
                for line in unit.exec_start:
                    self._run_to_end(instance, unit, line, env)
                proc = None
            else:
                if len(unit.exec_start) != 1:
                    raise RuntimeError(f"{name} must have exactly one ExecStart= (Type={unit.type})")
                proc, _ignore = self._popen(instance, unit, unit.exec_start[0], env)
        except (RuntimeError, OSError) as exc:
            with self._lock:
                state.active, state.sub, state.result, state.since = (
                    "failed",
                    "failed",
                    "exit-code",
                    time.time(),
                )
                if unit.restart in ("always", "on-failure"):  # systemd retries a failed start too
                    state.active, state.sub = "activating", "auto-restart"
                    state.restarts += 1
                    state.restart_at = time.monotonic() + unit.restart_sec
            self._append_journal(instance, name, f"systemd: {name}: {exc}")
            return 1, f'Job for {name} failed: {exc}\nSee "systemctl status {name}" for details.\n'
        with self._lock:
            state.proc, state.since, state.result = proc, time.time(), "success"
            if proc is None:
                state.active, state.sub = (
                    ("active", "exited") if unit.remain_after_exit else ("inactive", "dead")
                )
            else:
                state.active, state.sub = "active", "running"
        log.info("data plane: %s started %s (pid %s)", instance.id, name, proc.pid if proc else "-")
        return 0, ""

    def _append_journal(self, instance: Instance, name: str, line: str) -> None:
        with contextlib.suppress(OSError), open(self._journal(instance, name), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _stop_unit(self, instance: Instance, state: UnitState) -> None:
        with self._lock:
            proc, state.stopping, state.restart_at = state.proc, True, None
            if state.active in ("active", "activating"):
                state.active, state.sub = "deactivating", "stop"
        unit = self.find_unit(instance, state.name)
        if unit is not None and proc is not None and proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError):
                env = self._env(instance, unit)
                env["MAINPID"] = str(proc.pid)
                for line in unit.exec_stop:
                    self._run_to_end(instance, unit, line, env)
        if proc is not None and group_alive(proc.pid):
            end_group(
                proc.pid,
                unit.timeout_stop_sec if unit else STOP_TIMEOUT,
                proc.poll,
                unit.kill_signal if unit else signal.SIGTERM,
            )
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        with self._lock:
            state.proc = None
            if state.active != "failed":
                state.active, state.sub = "inactive", "dead"
            state.since = time.time()

    def _watch(self) -> None:
        """Notice units whose main process ended; restart them as their ``Restart=`` says."""
        while not self._stop.wait(self.interval):
            due: list[tuple[Instance, str]] = []
            with self._lock:
                now = time.monotonic()
                for instance_id, units in self._units.items():
                    instance = self._instances.get(instance_id)
                    if instance is None:
                        continue
                    for state in units.values():
                        if state.restart_at is not None and now >= state.restart_at:
                            state.restart_at = None
                            due.append((instance, state.name))
                        proc = state.proc
                        if proc is None or state.stopping or proc.poll() is None:
                            continue
                        rc = proc.returncode
                        state.proc, state.exit_status, state.since = None, rc, time.time()
                        unit = self.find_unit(instance, state.name)
                        policy = unit.restart if unit else "no"
                        clean = rc == 0
                        again = (
                            policy == "always"
                            or (policy == "on-failure" and not clean)
                            or (policy == "on-abnormal" and rc < 0)
                        )
                        self._append_journal(
                            instance, state.name, f"systemd: {state.name}: main process exited, status={rc}"
                        )
                        if again:
                            state.active, state.sub, state.restarts = (
                                "activating",
                                "auto-restart",
                                state.restarts + 1,
                            )
                            state.restart_at = now + (unit.restart_sec if unit else 0.1)
                        elif clean:
                            state.active, state.sub, state.result = "inactive", "dead", "success"
                        else:
                            state.active, state.sub, state.result = "failed", "failed", "exit-code"
            for instance, name in due:
                rc, out = self._start(instance, name)
                if rc:
                    self._append_journal(instance, name, out.strip())

    # -- systemctl ------------------------------------------------------------------------------

    def command(self, instance_id: str, tool: str, argv: list[str]) -> tuple[int, str]:
        """Run one ``systemctl``/``journalctl`` invocation for an instance; (exit status, output)."""
        with self._lock:
            instance = self._instances.get(instance_id)
        if instance is None:
            return 1, "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
        if tool == "journalctl":
            return self._journalctl(instance, argv)
        flags = {a for a in argv if a.startswith("-")}
        args = [a for a in argv if not a.startswith("-")]
        props: list[str] = []
        for i, a in enumerate(argv):
            if a in ("-p", "--property") and i + 1 < len(argv):
                props += argv[i + 1].split(",")
                with contextlib.suppress(ValueError):
                    args.remove(argv[i + 1])
            elif a.startswith("--property="):
                props += a.split("=", 1)[1].split(",")
        if not args:
            args = ["list-units"]
        verb, names = args[0], [unit_name(n) for n in args[1:]]
        now = "--now" in flags
        if verb == "daemon-reload":
            return 0, ""
        if verb in ("start", "restart", "reload", "reload-or-restart", "try-restart", "stop"):
            return self._each(instance, verb, names)
        if verb in ("enable", "disable"):
            return self._enable(instance, verb, names, now)
        if verb in ("status", "is-active", "is-failed", "is-enabled", "show"):
            return self._query(instance, verb, names, props)
        if verb == "list-units":
            lines = [
                f"{s.name:40} loaded {s.active:10} {s.sub:10}"
                for s in sorted(self.units(instance.id).values(), key=lambda s: s.name)
            ]
            return 0, "\n".join(lines) + ("\n" if lines else "")
        return 1, (
            f"Unknown command verb '{verb}' (the local cloud's systemctl knows: start, stop, restart, "
            "enable, disable, status, is-active, is-enabled, is-failed, show, list-units, daemon-reload).\n"
        )

    def _each(self, instance: Instance, verb: str, names: list[str]) -> tuple[int, str]:
        if not names:
            return 1, f"Too few arguments: systemctl {verb} needs a unit name.\n"
        rc, out = 0, ""
        for name in names:
            state = self.units(instance.id).get(name)
            running = state is not None and state.active in ("active", "activating")
            if verb == "try-restart" and not running:
                continue
            if verb.startswith("reload") and running and state is not None:
                try:
                    if self._reload(instance, state):
                        continue
                except (RuntimeError, OSError) as exc:
                    rc, out = rc or 1, out + f"Job for {name} failed: {exc}\n"
                    continue
            if verb != "start" and state is not None:
                self._stop_unit(instance, state)
            if verb == "stop":
                if self.find_unit(instance, name) is None and state is None:
                    rc, out = rc or NO_SUCH_UNIT, out + f"Failed to stop {name}: Unit {name} not loaded.\n"
                continue
            one_rc, one_out = self._start(instance, name)
            rc, out = rc or one_rc, out + one_out
        return rc, out

    def _reload(self, instance: Instance, state: UnitState) -> bool:
        """Run the unit's ``ExecReload=`` (``$MAINPID`` set); False when it has none."""
        unit = self.find_unit(instance, state.name)
        proc = state.proc
        if unit is None or not unit.exec_reload or proc is None:
            return False
        env = {**self._env(instance, unit), "MAINPID": str(proc.pid)}
        for line in unit.exec_reload:
            self._run_to_end(instance, unit, line, env)
        return True

    def _enable(self, instance: Instance, verb: str, names: list[str], now: bool) -> tuple[int, str]:
        rc, out = 0, ""
        for name in names:
            unit = self.find_unit(instance, name)
            if unit is None:
                rc, out = 1, out + f"Failed to {verb} unit: Unit file {name} does not exist.\n"
                continue
            base = instance.rootfs / "etc/systemd/system"
            if verb == "enable":
                for target in unit.wanted_by or ["multi-user.target"]:
                    link = base / f"{target}.wants" / name
                    link.parent.mkdir(parents=True, exist_ok=True)
                    if not link.is_symlink():
                        link.symlink_to(unit.path)
                        out += f"Created symlink /etc/systemd/system/{target}.wants/{name} → {unit.path}.\n"
            else:
                for link in base.glob(f"*.wants/{name}"):
                    link.unlink()
                    out += f'Removed "/etc/systemd/system/{link.parent.name}/{name}".\n'
            if now:
                one_rc, one_out = self._each(instance, "start" if verb == "enable" else "stop", [name])
                rc, out = rc or one_rc, out + one_out
        return rc, out

    def _query(self, instance: Instance, verb: str, names: list[str], props: list[str]) -> tuple[int, str]:
        rc, out = 0, ""
        for name in names:
            unit = self.find_unit(instance, name)
            state = self.units(instance.id).get(name) or UnitState(name)
            enabled = "enabled" if self.is_enabled(instance, name) else "disabled"
            if verb == "is-enabled":
                if unit is None:
                    rc, out = 1, out + "not-found\n"
                else:
                    rc, out = rc or (0 if enabled == "enabled" else 1), out + enabled + "\n"
                continue
            if verb == "is-active":
                rc = rc or (0 if state.active == "active" else NOT_RUNNING)
                out += ("inactive" if unit is None else state.active) + "\n"
                continue
            if verb == "is-failed":
                rc = rc or (0 if state.active == "failed" else 1)
                out += state.active + "\n"
                continue
            pid = state.proc.pid if state.proc is not None and state.proc.poll() is None else 0
            if verb == "show":
                values = {
                    "Id": name,
                    "ActiveState": state.active,
                    "SubState": state.sub,
                    "MainPID": str(pid),
                    "NRestarts": str(state.restarts),
                    "ExecMainStatus": str(state.exit_status or 0),
                    "Result": state.result,
                    "UnitFileState": enabled if unit else "",
                    "LoadState": "loaded" if unit else "not-found",
                }
                wanted = props or list(values)
                out += "".join(f"{k}={values.get(k, '')}\n" for k in wanted)
                continue
            # status
            if unit is None:
                rc, out = rc or NO_SUCH_UNIT, out + f"Unit {name} could not be found.\n"
                continue
            since = datetime.fromtimestamp(state.since or time.time(), UTC).strftime(
                "%a %Y-%m-%d %H:%M:%S UTC"
            )
            out += f"● {name} - {unit.description or name}\n"
            out += f"     Loaded: loaded ({unit.path}; {enabled}; preset: enabled)\n"
            out += f"     Active: {state.active} ({state.sub}) since {since}\n"
            if pid:
                out += f"   Main PID: {pid}\n"
            tail = self._journal(instance, name)
            lines = (
                tail.read_text(encoding="utf-8", errors="replace").splitlines()[-10:] if tail.exists() else []
            )
            out += "\n" + "".join(f"{line}\n" for line in lines)
            rc = rc or (0 if state.active == "active" else NOT_RUNNING)
        return rc, out

    def _journalctl(self, instance: Instance, argv: list[str]) -> tuple[int, str]:
        names: list[str] = []
        count = 0
        for i, a in enumerate(argv):
            if a in ("-u", "--unit") and i + 1 < len(argv):
                names.append(unit_name(argv[i + 1]))
            elif a.startswith("--unit="):
                names.append(unit_name(a.split("=", 1)[1]))
            elif a in ("-n", "--lines") and i + 1 < len(argv) and argv[i + 1].isdigit():
                count = int(argv[i + 1])
        if not names:
            names = sorted(p.name.removesuffix(".log") for p in (instance.dir / "journal").glob("*.log"))
        lines: list[str] = []
        for name in names:
            path = self._journal(instance, name)
            if path.exists():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        if count:
            lines = lines[-count:]
        return 0, "".join(f"{line}\n" for line in lines) or "-- No entries --\n"

    # -- the control socket ----------------------------------------------------------------------

    def _handle(self, conn: socket.socket, rfile: Any, wfile: Any) -> None:
        # Only processes of the cloud's own user may talk to it (the socket is in the abstract
        # namespace, which any local user can reach), and only with the instance's token.
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        try:
            request = json.loads(rfile.readline(1 << 20))
            instance_id, token = str(request["instance"]), str(request["token"])
            tool, argv = str(request["tool"]), [str(a) for a in request["argv"]]
        except (ValueError, KeyError, TypeError):
            wfile.write(json.dumps({"rc": 1, "out": "bad request\n"}).encode() + b"\n")
            return
        with self._lock:
            instance = self._instances.get(instance_id)
        if uid != os.getuid() or instance is None or not secrets.compare_digest(token, instance.token):
            wfile.write(json.dumps({"rc": 1, "out": "Access denied\n"}).encode() + b"\n")
            return
        try:
            rc, out = self.command(instance_id, tool, argv)
        except Exception as exc:  # answer the shim rather than leave it hanging; logged
            log.exception("data plane: systemctl %s failed", argv)
            rc, out = 1, f"Failed: {exc}\n"
        wfile.write(json.dumps({"rc": rc, "out": out}).encode() + b"\n")
