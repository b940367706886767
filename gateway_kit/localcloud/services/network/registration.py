"""The network service's seed (networks, subnets, routers) and registration with the local cloud."""

from __future__ import annotations

from typing import Any

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.store import Doc

from .common import bp, render_error
from .networks import new_network, new_subnet
from .routers import add_interface, new_router

# -- seed and registration --------------------------------------------------------------


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    projects = {p["name"]: p["id"] for p in cloud.store.all("identity.project")}
    external: Doc | None = None
    for spec in data.get("networks", []):
        project = projects[spec["project"]]
        net = new_network(
            cloud,
            project,
            {
                "name": spec["name"],
                "router:external": spec.get("external", False),
                "shared": spec.get("shared", False),
                "provider:network_type": "flat" if spec.get("external") else "geneve",
                "provider:physical_network": "public" if spec.get("external") else None,
            },
        )
        sub = new_subnet(
            cloud,
            project,
            net,
            {
                "name": spec["name"] + "-subnet",
                "cidr": spec["cidr"],
                "gateway_ip": spec.get("gateway"),
                "dns_nameservers": spec.get("dns", []),
            },
        )
        if spec.get("external"):
            external = net
        if spec.get("router"):
            gw = {"network_id": external["id"]} if external else None
            router = new_router(cloud, project, {"name": spec["router"], "external_gateway_info": gw})
            add_interface(cloud, router, project, sub["id"], None)


def register(cloud: LocalCloud) -> None:
    cloud.serve(bp, render_error, ("network", "neutron"), seed=seed)
