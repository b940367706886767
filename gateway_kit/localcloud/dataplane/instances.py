"""Instances on the data plane: processes that follow Nova's status (see the package docstring)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.dataplane import blocks, cloudconfig, names
from gateway_kit.localcloud.dataplane import volumes as vols
from gateway_kit.localcloud.dataplane.procs import group_alive, kill_all, pid_alive, proc_table, track
from gateway_kit.localcloud.dataplane.systemd import Instance, Supervisor
from gateway_kit.localcloud.dataplane.traffic import (
    Binding,
    Handler,
    Traffic,
    forwarder,
    listening_now,
    port_allows,
)
from gateway_kit.localcloud.store import Doc

log = logging.getLogger(__name__)

EXTENSION_KEY = "dataplane"
#: The store kind of the data plane's own records (one per live instance).
KIND = "dataplane.instance"
SERVER = "compute.server"
PORT = "network.port"
SUBNET = "network.subnet"
FLOATINGIP = "network.floatingip"
RULE = "network.security_group_rule"
#: The block instance addresses come from: 127.100.0.0/16.
ADDRESS_PREFIX = (127, 100)
RUNNING = frozenset({"ACTIVE", "VERIFY_RESIZE", "RESIZE", "REBUILD", "MIGRATING", "RESCUE"})
FROZEN = frozenset({"SUSPENDED", "PAUSED"})
KILL_GRACE = 3.0


def address_for(index: int, block: int = 0) -> str:
    """The ``index``-th instance address (1-based) of a cloud whose block is ``block`` (0-255),
    skipping .0 and .255 host parts: ``127.100.<block>.1`` first."""
    per = 254
    third, fourth = divmod(index - 1, per)
    return f"{ADDRESS_PREFIX[0]}.{ADDRESS_PREFIX[1]}.{(block + third) % 256}.{fourth + 1}"


BLOCK_KIND = "dataplane.block"
EXTERNAL_CIDR = "127.64.0.0/16"


def cloud_block(cloud: LocalCloud) -> tuple[int, int | None]:
    """This cloud's block of loopback space and its claim (:mod:`.blocks`), picked once among the
    blocks no running cloud on this machine holds and kept in its state, so that several clouds on
    one machine (parallel test runs) do not share addresses: instances get ``127.100.<block>.y``,
    load balancer VIPs ``127.101.<block>.y``, and the allocation pool of an external subnet of
    ``127.64.0.0/16`` that still spans all of it becomes ``127.64.<block>.2-254``."""
    rec = cloud.store.get(BLOCK_KIND, "block")
    fd = blocks.claim(int(rec["block"])) if rec is not None else None
    if fd is None and (rec is None or not cloud.store.all(KIND)):  # no instance holds an address yet
        chosen, fd = blocks.claim_free()
        rec = {"id": "block", "block": chosen}
        cloud.store.put(BLOCK_KIND, rec)
    assert rec is not None
    block = int(rec["block"])
    whole = (("127.64.0.1", "127.64.0.2"), ("127.64.255.254", "127.64.255.255"))
    ours = [((f"127.64.{b}.2",), (f"127.64.{b}.254",)) for b in blocks.BLOCKS]  # a block of before
    for subnet in cloud.store.find(SUBNET, lambda d: d.get("cidr") == EXTERNAL_CIDR):
        pools = subnet.get("allocation_pools") or []
        if len(pools) == 1 and any(
            pools[0].get("start") in starts and pools[0].get("end") in ends for starts, ends in [whole, *ours]
        ):
            subnet["allocation_pools"] = [{"start": f"127.64.{block}.2", "end": f"127.64.{block}.254"}]
            cloud.store.put(SUBNET, subnet)
    return block, fd


@dataclass
class DataPlane:
    """The data plane of one local cloud. Build it with :func:`enable`.

    :param root: the folder holding one directory per instance.
    :param interval: seconds between passes of the background thread.
    """

    cloud: LocalCloud
    root: Path
    interval: float = 0.2
    block: int = 0
    #: The descriptor holding this cloud's claim on ``block`` (:mod:`.blocks`), closed by :meth:`stop`.
    claim: int | None = None
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    supervisor: Supervisor = field(default_factory=Supervisor)
    traffic: Traffic = field(default_factory=Traffic)
    _mapped: dict[tuple[str, int], int] = field(default_factory=dict)
    volumes: vols.Volumes | None = None
    #: Functions adding bindings (load balancers): ``fn(cloud, wanted)`` under the cloud's lock.
    binders: list[Any] = field(default_factory=list)
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
                "address": address_for(index, self.block),
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
            for fip in self.cloud.store.find(FLOATINGIP, lambda f: f.get("port_id") == port["id"]):
                fip["fixed_ip_address"] = rec["address"]
                self.cloud.store.put(FLOATINGIP, fip)

    # -- processes -------------------------------------------------------------------------

    def _power_on(self, server: Doc, rec: Doc) -> None:
        if rec.get("power") == "on" and group_alive(rec.get("pgid")):
            return
        base = Path(rec["dir"])
        rootfs = base / "rootfs"
        rootfs.mkdir(parents=True, exist_ok=True)
        console = base / "console.log"
        say = _console_writer(console)
        say(f"localcloud data plane: booting {server['id']} ({server.get('name', '')}) at {rec['address']}")
        text = cloudconfig.decode_user_data(server.get("user_data"))
        try:
            text = cloudconfig.render(text, self.instance_data(server, rec))
        except ValueError as exc:
            say(f"cloud-init: {exc}; the user data is not run")
            text = ""
        if text.startswith("#!"):
            script = text
        else:
            config = cloudconfig.parse_cloud_config(text)
            ignored = sorted(k for k in config if k not in cloudconfig.HONOURED)
            if ignored:
                say(f"cloud-init: the local cloud ignores these cloud-config keys: {', '.join(ignored)}")
            for name in cloudconfig.missing_packages(cloudconfig.package_names(config)):
                say(
                    f"cloud-init: package {name} is not installed on this host (the local cloud's "
                    "instances share the host's software); install it there or its services may fail"
                )
            rec["mounts"] = vols.mount_points(config)
            cloudconfig.write_files(rootfs, list(config.get("write_files") or []))
            script = cloudconfig.script_for(config)
        (base / "user-script.sh").write_text(script, encoding="utf-8")
        env = self.environment(server, rec)
        self.supervisor.power_on(Instance(str(server["id"]), base, rootfs, dict(env)))
        env["PATH"] = os.pathsep.join([str(base / "bin"), env["PATH"]])  # systemctl, journalctl
        with open(console, "ab") as out:
            proc = self.supervisor.spawner.popen(
                ["/bin/sh", str(base / "user-script.sh")],
                cwd=rootfs,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self._procs[str(server["id"])] = proc
        rec.update(pgid=proc.pid, power="on", boots=int(rec.get("boots", 0)) + 1)
        self.cloud.store.put(KIND, rec)
        log.info("data plane: instance %s runs at %s (pgid %s)", server["id"], rec["address"], proc.pid)

    def environment(self, server: Doc, rec: Doc) -> dict[str, str]:
        """What an instance's user script and units start with."""
        rootfs = Path(rec["dir"]) / "rootfs"
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
        dns = self.cloud.extensions.get("dns_server")
        if dns is not None and getattr(dns, "running", False):
            env["INSTANCE_NAMESERVER"] = f"{dns.host}:{dns.port}"
        return env

    def instance_data(self, server: Doc, rec: Doc) -> dict[str, Any]:
        """The Jinja variables of the instance's user data (``v1.local_ipv4`` ...)."""
        public = ""
        ports = {p["id"] for p in self.cloud.store.find(PORT, lambda p: p.get("device_id") == server["id"])}
        for fip in self.cloud.store.find(FLOATINGIP, lambda f: f.get("port_id") in ports):
            public = str(fip.get("floating_ip_address") or "")
        return cloudconfig.instance_data(server, str(rec["address"]), public)

    def console_log(self, cloud: LocalCloud, server: Doc) -> list[str]:
        """``openstack console log show``: what the instance's boot and user script printed."""
        path = self.root / str(server["id"]) / "console.log"
        try:
            return path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def _power_off(self, rec: Doc) -> None:
        self.supervisor.power_off(str(rec["id"]))
        pgid = rec.get("pgid")
        pids = track(rec.get("pids", []), pgid, proc_table())
        if pgid or pids:
            kill_all(pids, pgid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            kill_all(pids, pgid, signal.SIGTERM)
            deadline = time.monotonic() + KILL_GRACE
            while time.monotonic() < deadline and (
                group_alive(pgid) or any(pid_alive(pid) for pid, _s in pids)
            ):
                self._reap()
                time.sleep(0.02)
            kill_all(track(pids, pgid, proc_table()), pgid, signal.SIGKILL)
        self._reap()
        rec.update(pgid=None, power="off", pids=[])
        if self.cloud.store.get(KIND, rec["id"]) is not None:
            self.cloud.store.put(KIND, rec)

    def _signal(self, rec: Doc, sig: signal.Signals, power: str) -> None:
        pgid = rec.get("pgid")
        if pgid and rec.get("power") != power:
            kill_all(track(rec.get("pids", []), pgid, proc_table()), pgid, sig)
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
            if self.volumes is not None:
                by_id = {str(r["id"]): r for r in self.cloud.store.all(KIND)}
                before = {k: list(r.get("volume_links") or []) for k, r in by_id.items()}
                self.volumes.sync(self.cloud, by_id)
                for key, rec in by_id.items():
                    if rec.get("volume_links") != before[key]:
                        self.cloud.store.put(KIND, rec)
            wanted = self.floating_bindings()
            for binder in self.binders:
                binder(self.cloud, wanted)
        self.traffic.apply(wanted)
        mapped = self.traffic.mapped_ports()
        if mapped != self._mapped:
            self._mapped = mapped
            names.write_ports(self.root, mapped)

    def floating_bindings(self) -> dict[Binding, Handler]:
        """Listeners on floating IPs associated with servers' ports (see :mod:`.traffic`)."""
        wanted: dict[Binding, Handler] = {}
        fips = [f for f in self.cloud.store.all(FLOATINGIP) if f.get("port_id")]
        if not fips:
            return wanted
        table = listening_now()
        rules = self.cloud.store.all(RULE)
        for fip in fips:
            port = self.cloud.store.get(PORT, str(fip["port_id"]))
            if port is None or not str(port.get("device_owner", "")).startswith("compute:"):
                continue
            target = str((port.get("fixed_ips") or [{}])[0].get("ip_address", ""))
            if not target or not port.get("admin_state_up", True):
                continue
            groups = set(port.get("security_groups") or [])
            mine = [r for r in rules if r.get("security_group_id") in groups]
            version = hash(
                json.dumps(
                    [port.get("port_security_enabled", True), sorted(groups), mine],
                    sort_keys=True,
                    default=str,
                )
            )
            for number in sorted(table.get(target, ())):
                if not port_allows(port, mine, number, None):
                    continue
                key = f"fip {fip['id']} -> {target}:{number} sg {version}"

                def allow(client: str, port: Doc = port, rules: list[Doc] = mine, n: int = number) -> bool:
                    return port_allows(port, rules, n, client)

                wanted[Binding(str(fip["floating_ip_address"]), number, key)] = forwarder(
                    target, number, allow
                )
        return wanted

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reconcile()
            except Exception:  # the loop must survive a bad document; it is logged
                log.exception("data plane pass failed")

    def start(self) -> DataPlane:
        self.root.mkdir(parents=True, exist_ok=True)
        self.volumes = vols.Volumes(self.root)
        self.supervisor.spawner.start()
        self.supervisor.start()
        self.traffic.root = os.geteuid() == 0
        self.traffic.start()
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
        self.supervisor.stop()
        self.supervisor.spawner.stop()
        self.traffic.stop()
        blocks.release(self.claim)
        self.claim = None

    def address(self, server_id: str) -> str | None:
        rec = self.cloud.store.get(KIND, server_id)
        return str(rec["address"]) if rec else None

    def port_for(self, address: str, port: int) -> int | None:
        """The port the data plane really listens on for ``address:port`` (``10000 + port`` for a
        port below 1024 it may not bind; see :mod:`.traffic`), or ``None`` when nothing listens."""
        return self.traffic.actual_port(address, port)

    def mapped_ports(self) -> dict[tuple[str, int], int]:
        """Every ``(address, port)`` served on another port."""
        return self.traffic.mapped_ports()

    def directory(self, server_id: str) -> Path:
        return self.root / server_id


def enable(cloud: LocalCloud, root: Path, interval: float = 0.2) -> DataPlane:
    """Turn the data plane on for ``cloud``: register its hooks and start its thread.

    Idempotent: a second call returns the running data plane.
    """
    existing = cloud.extensions.get(EXTENSION_KEY)
    if isinstance(existing, DataPlane):
        return existing
    with cloud.lock:
        block, claim = cloud_block(cloud)
    plane = DataPlane(cloud=cloud, root=root, interval=interval, block=block, claim=claim)
    cloud.extensions.setdefault("compute.boot_hooks", []).append(plane.on_boot)
    cloud.extensions.setdefault("compute.destroy_hooks", []).append(plane.on_destroy)
    cloud.extensions["compute.console_log"] = plane.console_log
    cloud.reset_hooks.append(lambda c: plane_reset(plane))
    cloud.extensions[EXTENSION_KEY] = plane
    from gateway_kit.localcloud.dataplane import balancer

    balancer.attach(plane)
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
    for key in ("octavia.member_health", "octavia.stats"):
        cloud.extensions.pop(key, None)
    plane.binders.clear()
    if cloud.extensions.get("compute.console_log") == plane.console_log:
        del cloud.extensions["compute.console_log"]
    for key, fn in (("compute.boot_hooks", plane.on_boot), ("compute.destroy_hooks", plane.on_destroy)):
        with contextlib.suppress(ValueError):
            cloud.extensions.get(key, []).remove(fn)


def _console_writer(path: Path) -> Any:
    def say(line: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    return say
