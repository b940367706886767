"""What cloud-init templates get beyond the spec: the database role's context and its secret.

The ``database`` role runs PostgreSQL on its own volume (``gateway-kit:
postgres-on-volume``, :mod:`gateway_kit.data.dbhost`); the other roles get the
``database_url`` to reach it. Some of that is only known during ``apply`` (the volume's id, the
private subnet) and one part is secret (the gateway role's password), so templates are rendered
with **placeholders** -- ``${volume:database-1.id}``, ``${subnet.cidr}``,
``${secret.db_password}`` -- and :func:`fill` replaces them just before the server is created.

The change digest of a server's user data is taken over the text *with* placeholders: it is
stable from plan to apply and from run to run, holds no secret, and the database VM is not
replaced because a web VM's address or the password's storage changed.

The password is generated once per deployment, sealed (:mod:`gateway_kit.sealing`, key
``ENCRYPTION_KEY`` or derived from ``SECRET_KEY``) and kept in the deployment's record under
:data:`SECRETS`; it is never logged, journalled or shown by ``deploy status``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import sealing
from ..data import dbhost
from ..errors import ConfigError, GatewayError
from .spec import DeploymentSpec

#: The role whose VMs run PostgreSQL (its first VM is the gateway's database).
DATABASE_ROLE = "database"
#: Key of the deployment record's ``spec`` JSON holding sealed secrets (not part of the spec).
SECRETS = "secrets"
PASSWORD = "${secret.db_password}"
SUBNET = "${subnet.cidr}"
TOKEN_RE = re.compile(r"\$\{(secret|subnet|(?:volume|server):[a-z0-9-]+)\.([a-z_]+)\}")


def database_vm(spec: DeploymentSpec) -> str | None:
    """The VM the web VMs' ``DATABASE_URL`` points at (``database-1``), if the spec has one."""
    for r in spec.roles:
        if r.name == DATABASE_ROLE and r.count > 0:
            return f"{DATABASE_ROLE}-1"
    return None


def database_host(spec: DeploymentSpec) -> str:
    """Its DNS name when the spec makes one (stable across a replace), else its address."""
    vm = database_vm(spec)
    if vm is None:
        return ""
    if spec.dns is not None and spec.dns.vm_records:
        return f"{vm}.{spec.dns.zone.rstrip('.')}"
    return f"${{server:{vm}.address}}"


def role_context(spec: DeploymentSpec, role: str, vm: str) -> dict[str, Any]:
    """Template context added for ``vm`` of ``role`` (placeholders, never the password itself)."""
    vm_db = database_vm(spec)
    ctx: dict[str, Any] = {
        "database_url": dbhost.database_url(database_host(spec), PASSWORD) if vm_db else "",
    }
    if role == DATABASE_ROLE:
        r = spec.role(role)
        if r.volume is None:
            raise ConfigError(
                "roles.database.volume is required: PostgreSQL keeps its data on the role's own "
                "volume (add [roles.database.volume] with a size)."
            )
        # pg_hba.conf: the deployment's private subnet rather than the web VMs' addresses, which
        # change with every rolling replace (the database VM's user data cannot follow them).
        ctx.update(dbhost.user_data_context(f"${{volume:{vm}.id}}", [SUBNET], PASSWORD))
    return ctx


def fill(text: str, values: Callable[[str, str], str | None]) -> str:
    """Replace every placeholder in ``text`` with ``values(key, attr)``.

    :raises GatewayError: a placeholder has no value yet (names the placeholder, not a value).
    """

    def one(m: re.Match[str]) -> str:
        value = values(m.group(1), m.group(2))
        if value is None or value == "":
            raise GatewayError(
                f"The user data refers to {m.group(0)}, which is not known yet. Create the "
                f"resource it names first (for the database address: give the spec a [dns] table "
                "with vm_records, or list roles.database before the other roles).",
                reason="user_data_unresolved",
            )
        return value

    return TOKEN_RE.sub(one, text)


def sealed_secrets(record: Mapping[str, Any] | None) -> dict[str, str]:
    """The sealed secrets kept in a deployment record's ``spec`` JSON."""
    found = (record or {}).get(SECRETS) or {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def seal(config: Mapping[str, Any], value: str) -> str:
    return sealing.seal(config, value.encode())


def unseal(config: Mapping[str, Any], token: str) -> str:
    try:
        return sealing.unseal(config, token).decode()
    except sealing.UnreadableSecret as exc:
        raise ConfigError(
            "The deployment's database password cannot be decrypted: ENCRYPTION_KEY (or "
            "SECRET_KEY) changed since it was stored. Restore the old key."
        ) from exc
