"""Elastic SLURM nodes on the cloud: SLURM's ``ResumeProgram`` and ``SuspendProgram``.

slurmctld calls ``gateway-kit slurm resume NODELIST`` when jobs need powered-down ``State=CLOUD``
nodes and ``gateway-kit slurm suspend NODELIST`` when they have been idle for ``SuspendTime``.
:class:`ElasticNodes` then, for every node of the hostlist:

* **resume**: picks the flavor from the node's features (``SLURM_CLOUD_FLAVORS``; a node with GPU
  gres gets the ``gpu`` entry), creates one server named after the node (idempotent: an existing
  server of that name is reused), waits for ACTIVE, and runs ``scontrol update NodeName=..
  NodeAddr=<its address> NodeHostname=..`` so the controller can reach it. The server's cloud-init
  (``templates/cloud-init.yaml.j2``) installs munge and slurmd, writes the munge key and
  ``slurm.conf`` and starts slurmd, which registers with the controller.
* **suspend**: deletes the node's server (one already gone is fine).

A node that cannot be resumed is set ``DOWN`` with the reason, so that SLURM requeues its jobs
elsewhere instead of waiting for ``ResumeTimeout``. Everything done is logged.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from ..errors import CloudError, ConfigError
from . import hostlist
from .transport import Transport

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).with_name("templates") / "cloud-init.yaml.j2"
_PAIR = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True)
class NodeInfo:
    name: str
    features: tuple[str, ...] = ()
    gres: str = ""

    @property
    def gpus(self) -> bool:
        return "gpu" in self.gres


@dataclass
class NodeAction:
    node: str
    action: str
    server: str = ""
    flavor: str = ""
    address: str = ""
    ok: bool = True
    message: str = ""
    commands: list[list[str]] = field(default_factory=list)


def parse_scontrol_nodes(text: str) -> dict[str, NodeInfo]:
    """Nodes from ``scontrol --oneliner show node`` (pure)."""
    out: dict[str, NodeInfo] = {}
    for line in text.splitlines():
        pairs = dict(_PAIR.findall(line))
        name = pairs.get("NodeName")
        if not name:
            continue
        feats = pairs.get("AvailableFeatures", "") or pairs.get("Features", "")
        features = tuple(f for f in feats.split(",") if f and f != "(null)")
        gres = pairs.get("Gres", "")
        out[name] = NodeInfo(name, features, "" if gres == "(null)" else gres)
    return out


def flavor_for(node: NodeInfo, flavors: Mapping[str, str]) -> str:
    """The flavor of ``node``: its first feature named in ``flavors``, ``gpu`` for a node with GPU
    gres, else ``default``."""
    for feature in node.features:
        if feature in flavors:
            return flavors[feature]
    if node.gpus and "gpu" in flavors:
        return flavors["gpu"]
    if "default" in flavors:
        return flavors["default"]
    raise ConfigError(
        f"SLURM_CLOUD_FLAVORS has no flavor for node {node.name} (features "
        f"{', '.join(node.features) or 'none'}) and no 'default'."
    )


def scontrol_update_addr_argv(node: str, address: str, hostname: str | None = None) -> list[str]:
    return [
        "scontrol",
        "update",
        f"NodeName={node}",
        f"NodeAddr={address}",
        f"NodeHostname={hostname or node}",
    ]


def scontrol_down_argv(nodes: str, reason: str) -> list[str]:
    return ["scontrol", "update", f"NodeName={nodes}", "State=DOWN", f"Reason={reason[:200]}"]


def render_user_data(
    template: str, *, node: str, cluster: str, controller: str, munge_key: bytes, slurm_conf: str
) -> str:
    """cloud-init user-data for ``node`` (pure). Secrets travel base64-encoded in ``write_files``."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (YAML)
    if not re.match(r"^[A-Za-z0-9_.-]+$", node):
        raise ValueError(f"invalid node name {node!r}")
    return env.from_string(template).render(
        node=node,
        cluster=cluster,
        controller=controller,
        munge_key_b64=base64.b64encode(munge_key).decode(),
        slurm_conf_b64=base64.b64encode(slurm_conf.encode()).decode(),
    )


def first_address(addresses: Mapping[str, Any]) -> str:
    """The server's first fixed IPv4 address (else any address)."""
    found = ""
    for entries in addresses.values():
        for entry in entries or []:
            addr = entry.get("addr", "")
            if entry.get("version") == 4 and entry.get("OS-EXT-IPS:type", "fixed") == "fixed":
                return str(addr)
            found = found or str(addr)
    return found


class ElasticNodes:
    """Create and delete one cloud server per SLURM node.

    :param conn: an ``openstack.connection.Connection``.
    :param transport: runs ``scontrol``.
    :param settings: the app's settings (``SLURM_CLOUD_*``).
    """

    def __init__(
        self,
        conn: Any,
        transport: Transport,
        settings: Mapping[str, Any],
        *,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.conn = conn
        self.transport = transport
        self.settings = settings
        self.report = report or (lambda line: None)
        self.prefix = str(settings.get("SLURM_CLOUD_NODE_PREFIX", ""))

    def _say(self, message: str, *args: Any) -> None:
        text = message % args if args else message
        log.info("slurm elastic: %s", text)
        self.report(text)

    def expand(self, nodelist: str) -> list[str]:
        """``scontrol show hostnames`` when it answers, else the pure parser."""
        try:
            result = self.transport.run(["scontrol", "show", "hostnames", nodelist], timeout=30)
            if result.returncode == 0 and result.stdout.strip():
                return result.stdout.split()
        except Exception as exc:  # any failure here falls back to the pure parser
            log.debug("scontrol show hostnames failed: %s", exc)
        return hostlist.expand(nodelist)

    def node_info(self, nodelist: str, names: list[str]) -> dict[str, NodeInfo]:
        result = self.transport.run(["scontrol", "--oneliner", "show", "node", nodelist], timeout=30)
        found = parse_scontrol_nodes(result.stdout) if result.returncode == 0 else {}
        return {n: found.get(n, NodeInfo(n)) for n in names}

    def server_name(self, node: str) -> str:
        return f"{self.prefix}{node}"

    # -- resume ---------------------------------------------------------------------------------

    def resume(self, nodelist: str) -> list[NodeAction]:
        names = self.expand(nodelist)
        self._say("resume %s: %d node(s): %s", nodelist, len(names), " ".join(names))
        infos = self.node_info(nodelist, names)
        actions = [self._create(infos[n]) for n in names]
        ready = []
        for action in actions:
            if not action.ok:
                continue
            try:
                action.address = self._wait_active(action.server)
            except CloudError as exc:
                action.ok, action.message = False, exc.user_message
                continue
            ready.append(action)
        if self.settings.get("SLURM_CLOUD_SET_NODEADDR", True):
            for action in ready:
                argv = scontrol_update_addr_argv(action.node, action.address)
                result = self.transport.run(argv, timeout=30)
                action.commands.append(argv)
                if result.returncode != 0:
                    action.ok, action.message = False, f"scontrol update: {result.stderr.strip()}"
                else:
                    self._say("node %s: NodeAddr=%s", action.node, action.address)
        failed = [a for a in actions if not a.ok]
        for action in failed:
            self._say("node %s: resume FAILED: %s", action.node, action.message)
            argv = scontrol_down_argv(action.node, f"gateway-kit resume failed: {action.message}")
            self.transport.run(argv, timeout=30)
            action.commands.append(argv)
        return actions

    def _create(self, node: NodeInfo) -> NodeAction:
        name = self.server_name(node.name)
        action = NodeAction(node=node.name, action="resume", server=name)
        try:
            action.flavor = flavor_for(node, dict(self.settings.get("SLURM_CLOUD_FLAVORS") or {}))
            existing = self.conn.compute.find_server(name, ignore_missing=True)
            if existing is not None and existing.status not in ("ERROR", "DELETED", "SOFT_DELETED"):
                self._say("node %s: reusing server %s (%s)", node.name, existing.id, existing.status)
                action.server = existing.id
                return action
            if existing is not None:
                self.conn.compute.delete_server(existing, ignore_missing=True)
            flavor = self.conn.compute.find_flavor(action.flavor, ignore_missing=False)
            image = self.conn.image.find_image(
                str(self.settings.get("SLURM_CLOUD_IMAGE", "")), ignore_missing=False
            )
            attrs: dict[str, Any] = {
                "name": name,
                "flavor_id": flavor.id,
                "image_id": image.id,
                "metadata": {"gateway_kit_slurm_node": node.name},
                "user_data": base64.b64encode(self.user_data(node.name).encode()).decode(),
            }
            network = str(self.settings.get("SLURM_CLOUD_NETWORK", ""))
            if network:
                net = self.conn.network.find_network(network, ignore_missing=False)
                attrs["networks"] = [{"uuid": net.id}]
            if self.settings.get("SLURM_CLOUD_KEYPAIR"):
                attrs["key_name"] = self.settings["SLURM_CLOUD_KEYPAIR"]
            server = self.conn.compute.create_server(**attrs)
            action.server = server.id
            self._say("node %s: created server %s (flavor %s)", node.name, server.id, action.flavor)
        except ConfigError as exc:
            action.ok, action.message = False, exc.user_message
        except Exception as exc:  # openstacksdk raises many types; report, go on
            action.ok, action.message = False, f"{type(exc).__name__}: {exc}"
        return action

    def _wait_active(self, server_id: str) -> str:
        timeout = float(self.settings.get("SLURM_CLOUD_WAIT_SECONDS", 600))
        try:
            server = self.conn.compute.get_server(server_id)
            server = self.conn.compute.wait_for_server(
                server, status="ACTIVE", failures=["ERROR"], interval=0.5, wait=int(timeout)
            )
        except Exception as exc:  # translated at the cloud boundary
            raise CloudError(f"server {server_id} did not become ACTIVE: {exc}") from exc
        address = first_address(server.addresses or {})
        if not address:
            raise CloudError(f"server {server_id} has no address")
        return address

    def user_data(self, node: str) -> str:
        template_path = str(self.settings.get("SLURM_CLOUD_USER_DATA", "") or "") or str(TEMPLATE)
        conf_path = (
            str(self.settings.get("SLURM_CLOUD_SLURM_CONF", "") or "")
            or str(self.settings.get("SLURM_CONF", "") or "")
            or "/etc/slurm/slurm.conf"
        )
        key_path = str(self.settings.get("SLURM_CLOUD_MUNGE_KEY", "/etc/munge/munge.key"))
        try:
            template = Path(template_path).read_text()
            slurm_conf = Path(conf_path).read_text()
            munge_key = Path(key_path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"Cannot build the elastic node's cloud-init: {exc}") from exc
        pairs = dict(_PAIR.findall(slurm_conf))
        return render_user_data(
            template,
            node=node,
            cluster=pairs.get("ClusterName", ""),
            controller=pairs.get("SlurmctldHost", ""),
            munge_key=munge_key,
            slurm_conf=slurm_conf,
        )

    # -- suspend --------------------------------------------------------------------------------

    def suspend(self, nodelist: str) -> list[NodeAction]:
        names = self.expand(nodelist)
        self._say("suspend %s: %d node(s): %s", nodelist, len(names), " ".join(names))
        actions = []
        for node in names:
            action = NodeAction(node=node, action="suspend", server=self.server_name(node))
            try:
                server = self.conn.compute.find_server(action.server, ignore_missing=True)
                if server is None:
                    self._say("node %s: no server %s (already gone)", node, action.server)
                else:
                    self.conn.compute.delete_server(server, ignore_missing=True)
                    self._say("node %s: deleted server %s", node, server.id)
            except Exception as exc:  # report and continue with the other nodes
                action.ok, action.message = False, f"{type(exc).__name__}: {exc}"
                self._say("node %s: suspend FAILED: %s", node, action.message)
            actions.append(action)
        return actions
