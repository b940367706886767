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

import base64
import os
import re
import secrets
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import sealing
from ..data import dbhost
from ..errors import ConfigError, GatewayError, NotFound
from . import cloudinit, releases
from .spec import DeploymentSpec

#: The role whose VMs run PostgreSQL (its first VM is the gateway's database).
DATABASE_ROLE = "database"
#: Key of the deployment record's ``spec`` JSON holding sealed secrets (not part of the spec).
SECRETS = "secrets"
#: Key of the same JSON holding each secret's version (bumped by ``deploy apply --rotate NAME``).
VERSIONS = "secret_versions"


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


#: The secrets the kit makes when the spec's [secrets] table does not name a source for them.
GENERATED: dict[str, Callable[[], str]] = {
    "db_password": dbhost.new_password,
    "secret_key": lambda: secrets.token_urlsafe(48),
    "encryption_key": _fernet_key,
}
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


def public_url(spec: DeploymentSpec) -> str:
    """The portal's own URL: https on the first [tls] name, else http on the load balancer's
    DNS name, else empty (the setting's default)."""
    if spec.tls is not None and spec.tls.names:
        return f"https://{spec.tls.names[0].rstrip('.')}"
    if spec.dns is not None and spec.dns.lb_record:
        return f"http://{spec.dns.lb_record}.{spec.dns.zone.rstrip('.')}"
    return ""


def app_context(spec: DeploymentSpec, role: str) -> dict[str, Any]:
    """What the kit's gateway template needs: the service the role runs, its port, the pip
    arguments that install the release, the settings file's text."""
    lb = spec.load_balancer
    web_role = lb.role if lb is not None else "web"
    app = spec.app
    wheel = releases.artifact(spec)
    # the wheel's path relative to the units' working directory, /var/lib/gateway-kit
    pip = [f"release/{wheel.name}" if wheel is not None else app.requirement]
    if app.index_url:
        pip += ["--index-url", app.index_url]
    if app.find_links:
        pip += ["--find-links", app.find_links]
    settings = (Path(spec.base_dir) / app.settings).read_text() if app.settings else ""
    return {
        "public_url": public_url(spec),
        "web_role": web_role,
        "port": lb.member_port if lb is not None and role == lb.role else 8000,
        "pip_args": shlex.join(pip),
        "settings_toml": settings,
        "release": wheel.release if wheel is not None else app.requirement,
        "wheel": wheel,
        # each [secrets] entry reaches the services as the environment variable NAME (upper case)
        "operator_secrets": [name for name, _ in spec.secret_sources],
    }


def role_context(spec: DeploymentSpec, role: str, vm: str) -> dict[str, Any]:
    """Template context added for ``vm`` of ``role`` (placeholders, never the password itself)."""
    vm_db = database_vm(spec)
    ctx: dict[str, Any] = {
        "database_url": dbhost.database_url(database_host(spec), PASSWORD) if vm_db else "",
        **app_context(spec, role),
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


def secret_names(text: str) -> list[str]:
    """The secrets ``text`` refers to (``${secret.<name>}``), sorted."""
    return sorted({m.group(2) for m in TOKEN_RE.finditer(text) if m.group(1) == "secret"})


def secret_versions(record: Mapping[str, Any] | None) -> dict[str, int]:
    """Each secret's version kept in a deployment record (absent: 1)."""
    found = (record or {}).get(VERSIONS) or {}
    return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}


def mark_versions(text: str, versions: Mapping[str, int]) -> str:
    """``text`` with a comment naming the rotated secrets it uses, so that a rotation changes the
    user data's digest (and VMs carrying the secret are replaced, one at a time) while the text
    keeps holding placeholders only."""
    rotated = [f"{n}@{versions[n]}" for n in secret_names(text) if versions.get(n, 1) > 1]
    if not rotated:
        return text
    return text.rstrip("\n") + f"\n# gateway-kit secrets: {' '.join(rotated)}\n"


def new_secret(spec: DeploymentSpec, name: str) -> str:
    """The value of secret ``name`` for a deployment that has none stored yet: read from the
    source the spec names for it, else generated.

    :raises ConfigError: names the secret and where it should come from (never a value).
    """
    source = dict(spec.secret_sources).get(name)
    if source is None:
        if name in GENERATED:
            return GENERATED[name]()
        raise ConfigError(
            f"The user data uses ${{secret.{name}}}, which the kit does not generate: add "
            f'{name} = "env:VARIABLE" or "file:PATH" to the spec\'s [secrets] table.'
        )
    kind, _, where = source.partition(":")
    if kind == "env":
        value = os.environ.get(where, "")
        if not value:
            raise ConfigError(f"secrets.{name}: the environment variable {where} is not set or empty.")
        return value
    path = Path(spec.base_dir) / Path(where).expanduser()
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"secrets.{name}: cannot read {path} ({exc.strerror}).") from exc
    if not value:
        raise ConfigError(f"secrets.{name}: {path} is empty.")
    return value


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
            "The deployment's secrets cannot be decrypted: ENCRYPTION_KEY (or "
            "SECRET_KEY) changed since they were stored. Restore the old key."
        ) from exc


def render_user_data(
    spec: DeploymentSpec, versions: Mapping[str, int] | None = None
) -> Callable[[str, str, int], str]:
    """The cloud-init renderer for ``spec``: Jinja2 templates relative to the spec's folder (or
    the kit's own); ``versions`` of rotated secrets are marked in the text (:func:`mark_versions`)."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML
        keep_trailing_newline=True,
    )
    env.filters["b64"] = lambda text: base64.b64encode(str(text).encode()).decode()
    cache: dict[str, jinja2.Template] = {}

    def render(role: str, vm: str, index: int) -> str:
        r = spec.role(role)
        assert r.cloud_init is not None
        zone = spec.dns.zone if spec.dns else ""
        if r.cloud_init not in cache:
            path = cloudinit.resolve(r.cloud_init, spec.base_dir)
            try:
                cache[r.cloud_init] = env.from_string(path.read_text())
            except OSError as exc:
                hint = (
                    " database.yaml.j2 was retired (it formatted the volume unconditionally): use "
                    'cloud_init = "gateway-kit:postgres-on-volume".'
                    if Path(r.cloud_init).name == "database.yaml.j2"
                    else ""
                )
                raise NotFound(
                    f"roles.{role}.cloud_init: cannot read the template {path} ({exc.strerror}).{hint}"
                ) from exc
            except jinja2.TemplateSyntaxError as exc:
                raise NotFound(f"roles.{role}.cloud_init: {path} line {exc.lineno}: {exc.message}.") from exc
        template = cache[r.cloud_init]
        text = template.render(
            deployment=spec.name,
            role=role,
            vm=vm,
            index=index,
            hostname=f"{spec.name}-{vm}",
            zone=zone.rstrip("."),
            fqdn=f"{vm}.{zone.rstrip('.')}" if zone else f"{spec.name}-{vm}",
            roles={x.name: x.count for x in spec.roles},
            volumes=[v.name for v in spec.volumes if v.attach_to in (role, vm)],
            has_volume=r.volume is not None,
            **role_context(spec, role, vm),
        )
        releases.check_size(role, text)
        return mark_versions(text, versions or {})

    return render
