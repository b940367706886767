"""The compute service's seed (flavors) and registration with the local cloud."""

from __future__ import annotations

from typing import Any

from gateway_kit.localcloud.core import LocalCloud, MicroversionSpec

from .common import FLAVOR, MAX_MICROVERSION, MIN_MICROVERSION, bp, render_error
from .lifecycle import _booted, _deleted, _failed, _settled

# -- seed and registration --------------------------------------------------------------


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    for spec in data.get("flavors", []):
        cloud.put(
            FLAVOR,
            {
                "id": str(spec["id"]),
                "name": spec["name"],
                "vcpus": int(spec["vcpus"]),
                "ram": int(spec["ram"]),
                "disk": int(spec["disk"]),
                "swap": int(spec.get("swap", 0)),
                "ephemeral": int(spec.get("ephemeral", 0)),
                "rxtx_factor": 1.0,
                "is_public": bool(spec.get("is_public", True)),
                "description": spec.get("description"),
                "extra_specs": {k: str(v) for k, v in spec.get("extra_specs", {}).items()},
                "access": [],
            },
        )


def register(cloud: LocalCloud) -> None:
    cloud.serve(
        bp,
        render_error,
        ("compute", "nova"),
        microversion=MicroversionSpec(
            "compute", MIN_MICROVERSION, MAX_MICROVERSION, legacy_header="X-OpenStack-Nova-API-Version"
        ),
        seed=seed,
    )
    cloud.add_hook("compute.booted", _booted)
    cloud.add_hook("compute.failed", _failed)
    cloud.add_hook("compute.deleted", _deleted)
    cloud.add_hook("compute.settled", _settled)
    cloud.extensions.setdefault("compute.boot_hooks", [])
    cloud.extensions.setdefault("compute.destroy_hooks", [])
