"""Database hosting: the template context of the ``database`` role's cloud-init.

``gateway_kit/hosting/cloudinit/postgres-on-volume.yaml.j2`` installs ``postgres-on-volume.sh`` and runs it
(see the script's header for what it does and guarantees). The hosting engine renders the
template with :func:`user_data_context` merged into its usual context; the same ``password``
goes into the web VMs' ``DATABASE_URL`` (:func:`database_url`), so it reaches them through their
own user data and never through a log.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[1] / "hosting" / "cloudinit" / "postgres-on-volume.sh"
TEMPLATE = SCRIPT.with_name("postgres-on-volume.yaml.j2")


def new_password() -> str:
    """A password for the gateway's role (256 bits, URL-safe: no quoting anywhere)."""
    return secrets.token_hex(32)


def device_path(volume_id: str) -> str:
    """Where a Cinder volume appears on a KVM guest: its id, cut to 20 characters by virtio."""
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


def user_data_context(
    volume_id: str | None,
    web_addresses: Sequence[str],
    password: str,
    db_name: str = "gateway",
    db_user: str = "gateway",
) -> dict[str, Any]:
    return {
        "database_volume_id": volume_id or "",
        "web_addresses": list(web_addresses),
        "db_password": password,
        "db_name": db_name,
        "db_user": db_user,
        "postgres_on_volume_script_b64": base64.b64encode(SCRIPT.read_bytes()).decode(),
    }


def database_url(
    host: str, password: str, db_name: str = "gateway", db_user: str = "gateway", port: int = 5432
) -> str:
    """The web VMs' DATABASE_URL for the database VM at ``host``."""
    return f"postgresql+psycopg://{db_user}:{password}@{host}:{port}/{db_name}"
