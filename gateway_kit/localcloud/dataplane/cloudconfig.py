"""User data as cloud-init reads it: base64, ``## template: jinja``, ``#cloud-config``, scripts.

Pure functions (no processes): the data plane calls them when an instance powers on.

**Jinja instance data.** A user data whose first line is ``## template: jinja`` is rendered with
Jinja2 before anything else, as cloud-init does, with these variables (:func:`instance_data`):
``v1.instance_id``, ``v1.local_hostname``, ``v1.local_ipv4`` (the instance's loopback address),
``v1.public_ipv4`` (its floating IP, "" if none), ``v1.availability_zone``, ``v1.region``,
``v1.cloud_name`` (``openstack``), ``v1.platform``, ``v1.machine``, ``v1.kernel_release``,
``v1.python_version``, ``v1.distro`` (``localcloud``) and ``ds.meta_data`` (``uuid``, ``name``,
``hostname``, ``availability_zone``, ``meta``). An undefined variable renders as
``CI_MISSING_JINJA_VAR/<name>`` (cloud-init's marker), so a typo shows up in the file it lands in.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import platform
import shlex
from pathlib import Path
from typing import Any

import jinja2
import yaml

log = logging.getLogger(__name__)

JINJA_HEADER = "## template: jinja"
#: Keys of cloud-config the data plane acts on (``packages`` is checked, ``mounts`` places volumes).
HONOURED = ("write_files", "runcmd", "bootcmd", "packages", "mounts")
DPKG_STATUS = Path("/var/lib/dpkg/status")


def decode_user_data(raw: str | None) -> str:
    """The user data as text (Nova stores it base64-encoded); "" when absent or not text."""
    if not raw:
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


class _MissingVar(jinja2.Undefined):
    """cloud-init's rendering of an undefined variable."""

    def __str__(self) -> str:
        return f"CI_MISSING_JINJA_VAR/{self._undefined_name}"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _MissingVar(name=f"{self._undefined_name}.{name}")


def instance_data(
    server: dict[str, Any], local_ipv4: str, public_ipv4: str = "", region: str = "RegionOne"
) -> dict[str, Any]:
    """The variables a ``## template: jinja`` user data sees (cloud-init's ``v1`` and ``ds``)."""
    hostname = str(server.get("hostname") or server.get("name") or server["id"])
    zone = str(server.get("availability_zone") or "nova")
    v1 = {
        "instance_id": str(server["id"]),
        "local_hostname": hostname,
        "local_ipv4": local_ipv4,
        "public_ipv4": public_ipv4,
        "availability_zone": zone,
        "region": region,
        "cloud_name": "openstack",
        "platform": "openstack",
        "subplatform": "metadata (local cloud)",
        "machine": platform.machine(),
        "kernel_release": platform.release(),
        "python_version": platform.python_version(),
        "distro": "localcloud",
    }
    meta = {
        "uuid": v1["instance_id"],
        "name": str(server.get("name", "")),
        "hostname": hostname,
        "availability_zone": zone,
        "meta": dict(server.get("metadata") or {}),
    }
    return {"v1": v1, "ds": {"meta_data": meta}, **{k.replace("_", "-"): v for k, v in v1.items()}}


def render(text: str, variables: dict[str, Any]) -> str:
    """Render a ``## template: jinja`` user data (other text is returned as is).

    :raises ValueError: the template does not parse (the message says where).
    """
    first, _, rest = text.partition("\n")
    if first.strip() != JINJA_HEADER:
        return text
    env = jinja2.Environment(undefined=_MissingVar, keep_trailing_newline=True, autoescape=False)  # noqa: S701 -- YAML, not HTML
    try:
        return env.from_string(rest).render(**variables)
    except jinja2.TemplateError as exc:
        raise ValueError(f"user data is not a valid Jinja template: {exc}") from exc


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


def package_names(config: dict[str, Any]) -> list[str]:
    """The names in ``packages:`` (an item is a name or ``[name, version]``)."""
    names = []
    for item in config.get("packages") or []:
        if isinstance(item, list) and item:
            names.append(str(item[0]))
        elif isinstance(item, str):
            names.append(item)
    return names


def installed_packages(status_text: str) -> set[str]:
    """Installed package names from the text of dpkg's status file (pure)."""
    names: set[str] = set()
    for stanza in status_text.split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith(" ")
        )
        if "install ok installed" in fields.get("Status", "") and fields.get("Package"):
            names.add(fields["Package"].strip())
    return names


def missing_packages(names: list[str], status_file: Path = DPKG_STATUS) -> list[str]:
    """Those of ``names`` the host lacks (all of them where the host has no dpkg)."""
    if not names:
        return []
    try:
        have = installed_packages(status_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return list(names)
    return [n for n in names if n.split("=", 1)[0] not in have]
