"""The deployment spec: a TOML file validated into frozen dataclasses.

A spec names everything a gateway's hosting needs (see ``deploy/examples/standard.toml``)::

    name = "standard"                 # the deployment; every resource is tagged with it
    cloud = "local"                   # clouds.yaml entry (default: the CLOUD_NAME setting)

    [keypair]                          # optional
    name = "standard-admin"
    public_key = "ssh-ed25519 AAAA..." # or public_key_file = "~/.ssh/id_ed25519.pub"

    [network]
    name = "private"                   # an existing project network
    external = "public"                # where floating IPs come from
    [[network.rules]]                  # ingress rules of the deployment's security group
    protocol = "tcp"
    port = 22                          # or port_range = [8000, 8100]
    cidr = "0.0.0.0/0"

    [roles.web]                        # a service role: `count` VMs
    count = 2
    flavor = "m3.small"
    image = "Featured-Ubuntu24"
    cloud_init = "gateway-kit:web"    # the kit's template, or a path relative to the spec file
    floating_ip = false
    [roles.web.volume]                 # one volume per VM of the role (optional)
    size = 20

    [volumes.datasets]                 # a standalone volume
    size = 100
    attach_to = "database"             # a role (its first VM) or a VM such as "database-1"

    [dns]
    zone = "gateway.example.org."      # must exist unless create_zone = true
    ttl = 300
    vm_records = true                  # an A record <role>-<n>.<zone> per VM
    lb_record = "www"                  # an A record for the load balancer's address
    [dns.aliases]                      # CNAMEs: alias -> target name in the zone
    portal = "www"

    [load_balancer]
    role = "web"                       # members: the role's VMs
    algorithm = "ROUND_ROBIN"
    member_port = 80
    floating_ip = true
    [[load_balancer.listeners]]
    protocol = "HTTP"
    port = 80
    [load_balancer.health_monitor]
    url_path = "/healthz"

    [tls]                              # optional: an ACME certificate on the load balancer, in a
                                       # TERMINATED_HTTPS listener whose pool <name>-tls-pool has
                                       # the same members and health monitor as <name>-pool
    names = ["www", "portal"]          # relative to [dns].zone (lb_record or aliases), or ending in '.'
    listener_port = 443                # the TERMINATED_HTTPS listener the certificate is delivered to
    staging = false                    # true: CERTS_STAGING_DIRECTORY_URL (ACME settings: CERTS_*)
    redirect_http = false              # true: the HTTP listeners redirect to https://<first name>

    [secrets]                          # optional: secrets the operator supplies; templates use
                                       # ${secret.<name>}; secret_key, encryption_key and db_password
                                       # are generated when not listed here
    oidc_client_secret = "env:OIDC_CLIENT_SECRET"
    smtp_password = "file:secrets/smtp"   # relative to the spec file

:func:`load_spec` reads and validates a file; every problem is reported at once as a
:class:`~gateway_kit.errors.ValidationError` whose entries name the field (``roles.web.flavour:
unknown key; did you mean 'flavor'?``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from .spec_sections import (
    Checker,
    check_app,
    check_dns,
    check_keypair,
    check_load_balancer,
    check_network,
    check_roles,
    check_secrets,
    check_tls,
    check_volumes,
)
from .spec_types import NAME_RE, App, DeploymentSpec, Tls, spec_from_json

# What the rest of the kit imports from here (the dataclasses themselves live in .spec_types).
__all__ = ["App", "DeploymentSpec", "Tls", "load_spec", "parse_spec", "spec_from_json"]


_TOP = {
    "name": "deployment name",
    "cloud": "clouds.yaml entry",
    "keypair": "table",
    "network": "table",
    "roles": "table of roles",
    "volumes": "table of volumes",
    "dns": "table",
    "load_balancer": "table",
    "tls": "table",
    "secrets": "table of secret sources",
    "app": "table: requirement, index_url, find_links, settings, wheel",
}


def parse_spec(data: dict[str, Any], base_dir: Path | str = ".") -> DeploymentSpec:
    """Validate a parsed TOML document; raise :class:`ValidationError` listing every problem."""
    c = Checker()
    top = c.table(data, "", _TOP, required=("name", "network", "roles"))
    name = (
        c.string(
            top,
            "",
            "name",
            pattern=NAME_RE,
            what="a deployment name (lower-case letters, digits and '-', starting with a "
            "letter, at most 31 characters)",
        )
        or "invalid"
    )
    cloud = c.string(top, "", "cloud")
    keypair = check_keypair(c, top.get("keypair"), Path(base_dir)) if "keypair" in top else None
    network = check_network(c, top.get("network", {}))
    roles = check_roles(c, top.get("roles", {}))
    role_names = {r.name for r in roles}
    vm_names = {f"{r.name}-{i}" for r in roles for i in range(1, r.count + 1)}
    volumes = check_volumes(c, top.get("volumes", {}), role_names, vm_names)
    dns = check_dns(c, top["dns"]) if "dns" in top else None
    lb = check_load_balancer(c, top["load_balancer"], role_names) if "load_balancer" in top else None
    tls = check_tls(c, top["tls"], dns, lb) if "tls" in top else None
    secret_sources = check_secrets(c, top["secrets"]) if "secrets" in top else ()
    app = check_app(c, top["app"], Path(base_dir)) if "app" in top else App()
    if lb is not None and tls is None and any(li.protocol == "TERMINATED_HTTPS" for li in lb.listeners):
        c.error(
            "load_balancer.listeners",
            "a TERMINATED_HTTPS listener needs a certificate: remove it and add a [tls] table "
            "(the certificate's delivery creates the listener on port 443)",
        )
    if dns is not None and dns.lb_record and lb is None:
        c.error("dns.lb_record", "needs a [load_balancer] table")
    if dns is not None:
        names = {f"{r.name}-{i}" for r in roles for i in range(1, r.count + 1)} if dns.vm_records else set()
        if dns.lb_record:
            names.add(dns.lb_record)
        for alias, target in dns.aliases:
            if alias in names:
                c.error(f"dns.aliases.{alias}", "clashes with an A record of the deployment")
            if target not in names and not target.endswith("."):
                c.error(
                    f"dns.aliases.{alias}",
                    f"target {target!r} is not a record of the deployment "
                    f"({', '.join(sorted(names)) or 'none'}); end it with '.' for an outside name",
                )
    if c.errors:
        raise ValidationError(
            c.errors,
            "The deployment spec is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in c.errors),
        )
    return DeploymentSpec(
        name=name,
        cloud=cloud,
        network=network,
        roles=roles,
        volumes=volumes,
        keypair=keypair,
        dns=dns,
        load_balancer=lb,
        tls=tls,
        secret_sources=secret_sources,
        app=app,
        base_dir=str(base_dir),
    )


def load_spec(path: Path | str) -> DeploymentSpec:
    """Read and validate a spec file; errors name the file, the line (syntax) or the field."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ValidationError(
            [{"field": "(file)", "message": f"cannot read {file}: {exc.strerror}"}],
            f"Cannot read the deployment spec {file}: {exc.strerror}.",
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(
            [{"field": "(syntax)", "message": str(exc)}], f"{file} is not valid TOML: {exc}."
        ) from exc
    return parse_spec(data, file.resolve().parent)
