"""The local cloud's data plane: instances that really run, as local process groups.

Off by default (the fidelity suites want a control plane only). Turn it on for one cloud with
:func:`enable` -- ``enable(server.cloud, root=Path(...))`` on a
:class:`~gateway_kit.localcloud.server.LocalCloudServer` -- or, from the CLI, with
``gateway-kit localcloud serve --dataplane`` once the ``serve`` command passes the flag through.

**What an instance is.** When Nova reports a server ACTIVE (the ``compute.boot_hooks``
extension point), the data plane:

1. gives it a loopback address of its own, ``127.100.x.y`` (Linux routes all of ``127/8`` to
   ``lo`` without configuration), and makes Neutron's port -- hence Nova's ``addresses`` and the
   SDK's ``server.private_v4`` -- report that address as the server's fixed IP;
2. makes a directory ``ROOT/<server id>/`` whose ``rootfs/`` stands in for the instance's file
   system;
3. reads the server's user data (base64, as Nova stores it) as **cloud-config** and runs it.

**Cloud-config keys honoured:**

* ``write_files``: each ``path`` is written under ``rootfs/`` (``/etc/x`` -> ``rootfs/etc/x``) with
  ``content`` (``encoding: b64`` / ``base64`` honoured), ``permissions`` (octal string) and
  ``append``; ``owner`` is ignored (everything belongs to the user running the cloud) and
  ``defer`` too (every file is written before the commands run).
* ``runcmd``: the items become one ``/bin/sh`` script, as cloud-init writes them (a string is a
  shell line; a list is an argv, each item shell-quoted). The script is the leader of a process
  group of its own, with its working directory ``rootfs/``, output appended to
  ``ROOT/<id>/console.log`` (``openstack console log show`` does not read it yet), and this
  environment only: ``PATH`` (the directory of the Python running the cloud first, so that
  ``gateway-kit`` is found), ``HOME`` and ``INSTANCE_ROOT`` (``rootfs/``), ``INSTANCE_ID``,
  ``INSTANCE_NAME``, ``INSTANCE_IP`` (the loopback address), ``INSTANCE_FLAVOR``, ``LANG``.
  Templates that must work on a real cloud too write paths as ``${INSTANCE_ROOT:-}/etc/...``;
  a web VM (Hosting) binds its server to ``$INSTANCE_IP``.
* ``bootcmd``: run like ``runcmd``, before it, in the same script.
* A user data that starts with ``#!`` is run as that script (no cloud-config parsing).

**Ignored** (accepted, logged at debug level): ``packages``, ``package_update``,
``package_upgrade``, ``apt``, ``yum_repos``, ``snap``, ``users``, ``groups``, ``ssh_*``,
``chpasswd``, ``mounts``, ``disk_setup``, ``fs_setup``, ``power_state``, ``final_message``,
``timezone``, ``hostname``, ``manage_etc_hosts`` and anything else -- the instance shares the
host's software, users and disks, so an image must already provide what ``packages`` would add.

**Lifecycle.** The data plane follows Nova's status (a background thread also applies due state
transitions, so an instance boots without anybody polling it):

=====================================  ==========================================================
status                                 processes
=====================================  ==========================================================
ACTIVE (boot, start, unshelve, reboot)  running; a power-on after SHUTOFF/SHELVED/REBOOT runs the
                                       user data again (nothing survives a power-off here, so
                                       ``runcmd`` plays the part of the services a real image
                                       would restart)
SUSPENDED, PAUSED                      its processes are stopped with SIGSTOP; resume: SIGCONT
SHUTOFF, SHELVED*, REBOOT, ERROR       the group is ended (SIGTERM, 3 s, SIGKILL)
deleted (``compute.destroy_hooks``)    its processes are ended and the address freed; the directory
                                       stays until the cloud is reset (for post-mortems)
=====================================  ==========================================================

An instance's processes are its user script's process group plus every descendant the
background thread has seen (it walks ``/proc`` each pass), so a program that starts a session of
its own -- the job runner does -- is still stopped, continued and ended with its instance.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.store import Doc

log = logging.getLogger(__name__)

EXTENSION_KEY = "dataplane"
#: The store kind of the data plane's own records (one per live instance).
KIND = "dataplane.instance"
SERVER = "compute.server"
PORT = "network.port"
#: The block instance addresses come from: 127.100.0.0/16.
ADDRESS_PREFIX = (127, 100)
RUNNING = frozenset({"ACTIVE", "VERIFY_RESIZE", "RESIZE", "REBUILD", "MIGRATING", "RESCUE"})
FROZEN = frozenset({"SUSPENDED", "PAUSED"})
#: Keys of cloud-config the data plane acts on; every other key is ignored.
HONOURED = ("write_files", "runcmd", "bootcmd")
KILL_GRACE = 3.0


def decode_user_data(raw: str | None) -> str:
    """The user data as text (Nova stores it base64-encoded); "" when absent or not text."""
    if not raw:
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def parse_cloud_config(text: str) -> dict[str, Any]:
    """A ``#cloud-config`` document as a mapping ({} for anything else)."""
    if not text.lstrip().startswith("#cloud-config"):
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        log.warning("data plane: user data is not valid YAML (%s); nothing runs", exc)
        return {}
    return data if isinstance(data, dict) else {}


def script_for(config: dict[str, Any]) -> str:
    """The ``/bin/sh`` script of ``bootcmd`` then ``runcmd`` (pure)."""
    lines = ["#!/bin/sh"]
    for key in ("bootcmd", "runcmd"):
        for item in config.get(key) or []:
            if isinstance(item, list):
                lines.append(" ".join(shlex.quote(str(a)) for a in item))
            elif isinstance(item, str):
                lines.append(item)
    return "\n".join(lines) + "\n"


def rootfs_path(rootfs: Path, path: str) -> Path:
    """Where a cloud-config absolute ``path`` lands inside ``rootfs`` (never outside it)."""
    parts = [p for p in Path("/" + path).parts[1:] if p not in ("..", ".")]
    return rootfs.joinpath(*parts)


def write_files(rootfs: Path, items: list[Any]) -> None:
    for item in items:
        if not isinstance(item, dict) or not item.get("path"):
            continue
        target = rootfs_path(rootfs, str(item["path"]))
        target.parent.mkdir(parents=True, exist_ok=True)
        content = item.get("content", "")
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content or b"")
        if str(item.get("encoding", "")).lower() in ("b64", "base64"):
            data = base64.b64decode(data)
        with open(target, "ab" if item.get("append") else "wb") as f:
            f.write(data)
        perms = item.get("permissions")
        if perms:
            with contextlib.suppress(ValueError):
                target.chmod(int(str(perms), 8))


def address_for(index: int) -> str:
    """The ``index``-th instance address (1-based), skipping .0 and .255 host parts."""
    per = 254
    third, fourth = divmod(index - 1, per)
    return f"{ADDRESS_PREFIX[0]}.{ADDRESS_PREFIX[1]}.{third}.{fourth + 1}"


@dataclass
class DataPlane:
    """The data plane of one local cloud. Build it with :func:`enable`.

    :param root: the folder holding one directory per instance.
    :param interval: seconds between passes of the background thread.
    """

    cloud: LocalCloud
    root: Path
    interval: float = 0.2
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # -- hooks (called by Nova under the cloud's lock) ---------------------------------------

    def on_boot(self, cloud: LocalCloud, server: Doc) -> None:
        rec = self._record(server)
        self._assign_address(server, rec)
        self._power_on(server, rec)

    def on_destroy(self, cloud: LocalCloud, server: Doc) -> None:
        rec = cloud.store.get(KIND, str(server["id"]))
        if rec is None:
            return
        self._power_off(rec)
        cloud.store.delete(KIND, rec["id"])

    # -- records -------------------------------------------------------------------------

    def _record(self, server: Doc) -> Doc:
        rec = self.cloud.store.get(KIND, str(server["id"]))
        if rec is None:
            used = {int(r["index"]) for r in self.cloud.store.all(KIND)}
            index = next(i for i in range(1, len(used) + 2) if i not in used)
            rec = {
                "id": server["id"],
                "index": index,
                "address": address_for(index),
                "dir": str(self.root / str(server["id"])),
                "pgid": None,
                "power": "off",
            }
            self.cloud.store.put(KIND, rec)
        return rec

    def _assign_address(self, server: Doc, rec: Doc) -> None:
        """Make the server's first port report the instance's loopback address."""
        ports = self.cloud.store.find(PORT, lambda p: p.get("device_id") == server["id"])
        ports.sort(key=lambda p: str(p.get("created_at", "")))
        if not ports or not ports[0].get("fixed_ips"):
            return
        port = ports[0]
        if port["fixed_ips"][0]["ip_address"] != rec["address"]:
            port["fixed_ips"][0] = {**port["fixed_ips"][0], "ip_address": rec["address"]}
            self.cloud.store.put(PORT, port)

    # -- processes -------------------------------------------------------------------------

    def _power_on(self, server: Doc, rec: Doc) -> None:
        if rec.get("power") == "on" and _group_alive(rec.get("pgid")):
            return
        base = Path(rec["dir"])
        rootfs = base / "rootfs"
        rootfs.mkdir(parents=True, exist_ok=True)
        text = decode_user_data(server.get("user_data"))
        if text.startswith("#!"):
            script = text
        else:
            config = parse_cloud_config(text)
            ignored = sorted(k for k in config if k not in HONOURED)
            if ignored:
                log.debug("data plane: %s ignores cloud-config keys %s", server["id"], ignored)
            write_files(rootfs, list(config.get("write_files") or []))
            script = script_for(config)
        (base / "user-script.sh").write_text(script, encoding="utf-8")
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
            "HOME": str(rootfs),
            "INSTANCE_ROOT": str(rootfs),
            "INSTANCE_ID": str(server["id"]),
            "INSTANCE_NAME": str(server.get("name", "")),
            "INSTANCE_IP": str(rec["address"]),
            "INSTANCE_FLAVOR": str((server.get("flavor") or {}).get("name", "")),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        with open(base / "console.log", "ab") as console:
            proc = subprocess.Popen(
                ["/bin/sh", str(base / "user-script.sh")],
                cwd=rootfs,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self._procs[str(server["id"])] = proc
        rec.update(pgid=proc.pid, power="on", boots=int(rec.get("boots", 0)) + 1)
        self.cloud.store.put(KIND, rec)
        log.info("data plane: instance %s runs at %s (pgid %s)", server["id"], rec["address"], proc.pid)

    def _power_off(self, rec: Doc) -> None:
        pgid = rec.get("pgid")
        pids = track(rec.get("pids", []), pgid, proc_table())
        if pgid or pids:
            _kill_all(pids, pgid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            _kill_all(pids, pgid, signal.SIGTERM)
            deadline = time.monotonic() + KILL_GRACE
            while time.monotonic() < deadline and (
                _group_alive(pgid) or any(_pid_alive(pid) for pid, _s in pids)
            ):
                self._reap()
                time.sleep(0.02)
            _kill_all(track(pids, pgid, proc_table()), pgid, signal.SIGKILL)
        self._reap()
        rec.update(pgid=None, power="off", pids=[])
        if self.cloud.store.get(KIND, rec["id"]) is not None:
            self.cloud.store.put(KIND, rec)

    def _signal(self, rec: Doc, sig: signal.Signals, power: str) -> None:
        pgid = rec.get("pgid")
        if pgid and rec.get("power") != power:
            _kill_all(track(rec.get("pids", []), pgid, proc_table()), pgid, sig)
            rec["power"] = power
            self.cloud.store.put(KIND, rec)

    def _reap(self) -> None:
        for key, proc in list(self._procs.items()):
            if proc.poll() is not None:
                del self._procs[key]

    # -- the reconcile loop ----------------------------------------------------------------

    def reconcile(self) -> None:
        """One pass: apply due transitions, then make processes follow each server's status."""
        with self.cloud.lock:
            for doc in self.cloud.store.all(SERVER):
                self.cloud.settle_now(SERVER, doc)  # may call on_boot / on_destroy
            live = {str(d["id"]): d for d in self.cloud.store.all(SERVER)}
            records = self.cloud.store.all(KIND)
            table = proc_table() if any(r.get("pgid") for r in records) else {}
            for rec in records:
                if rec.get("pgid") and rec.get("power") == "on":
                    pids = track(rec.get("pids", []), rec["pgid"], table)
                    if pids != rec.get("pids"):
                        rec["pids"] = pids
                        self.cloud.store.put(KIND, rec)
                server = live.get(str(rec["id"]))
                if server is None:
                    self._power_off(rec)
                    self.cloud.store.delete(KIND, rec["id"])
                    continue
                status = server.get("status")
                if status in RUNNING and not server.get("task_state"):
                    if rec.get("power") == "stopped":
                        self._signal(rec, signal.SIGCONT, "on")
                    elif rec.get("power") == "off":
                        self._assign_address(server, rec)
                        self._power_on(server, rec)
                elif status in FROZEN:
                    self._signal(rec, signal.SIGSTOP, "stopped")
                elif status not in RUNNING and rec.get("power") != "off":
                    self._power_off(rec)
            self._reap()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reconcile()
            except Exception:  # the loop must survive a bad document; it is logged
                log.exception("data plane pass failed")

    def start(self) -> DataPlane:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="localcloud-dataplane", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the background thread and every instance's processes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.cloud.lock:
            for rec in self.cloud.store.all(KIND):
                self._power_off(rec)

    def address(self, server_id: str) -> str | None:
        rec = self.cloud.store.get(KIND, server_id)
        return str(rec["address"]) if rec else None

    def directory(self, server_id: str) -> Path:
        return self.root / server_id


def proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in ticks) of every process (Linux /proc)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def track(known: list[list[int]], root: int | None, table: dict[int, tuple[int, int]]) -> list[list[int]]:
    """The live processes of an instance: those known before (same start time, so not a reused
    pid), the root, and all their descendants. Processes that start a session of their own (the
    job runner does) stay tracked because they are still descendants when first seen."""
    live = {pid for pid, start in known if table.get(pid, (0, -1))[1] == start}
    if root and root in table:
        live.add(root)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _start) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack = list(live)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in live:
                live.add(child)
                stack.append(child)
    return [[pid, table[pid][1]] for pid in sorted(live)]


def _kill_all(pids: list[list[int]], pgid: Any, sig: signal.Signals) -> None:
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(pgid), sig)
    for pid, _start in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _group_alive(pgid: Any) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(int(pgid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def enable(cloud: LocalCloud, root: Path, interval: float = 0.2) -> DataPlane:
    """Turn the data plane on for ``cloud``: register its hooks and start its thread.

    Idempotent: a second call returns the running data plane.
    """
    existing = cloud.extensions.get(EXTENSION_KEY)
    if isinstance(existing, DataPlane):
        return existing
    plane = DataPlane(cloud=cloud, root=root, interval=interval)
    cloud.extensions.setdefault("compute.boot_hooks", []).append(plane.on_boot)
    cloud.extensions.setdefault("compute.destroy_hooks", []).append(plane.on_destroy)
    cloud.reset_hooks.append(lambda c: plane_reset(plane))
    cloud.extensions[EXTENSION_KEY] = plane
    return plane.start()


def plane_reset(plane: DataPlane) -> None:
    """On a cloud reset: end every instance (the store is cleared right after)."""
    for rec in plane.cloud.store.all(KIND):
        plane._power_off(rec)


def disable(cloud: LocalCloud) -> None:
    """Stop the data plane of ``cloud`` (its instances' processes end)."""
    plane = cloud.extensions.pop(EXTENSION_KEY, None)
    if not isinstance(plane, DataPlane):
        return
    plane.stop()
    for key, fn in (("compute.boot_hooks", plane.on_boot), ("compute.destroy_hooks", plane.on_destroy)):
        with contextlib.suppress(ValueError):
            cloud.extensions.get(key, []).remove(fn)
