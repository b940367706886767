"""Releases: what a web or worker VM runs, how it gets there, and the way back.

**The artifact.** A release is the gateway project's wheel named by ``[app] wheel`` (built by
``python -m build`` or ``pip wheel --no-deps``), or, without one, the ``[app] requirement`` as
the package index or ``find_links`` resolve it. The wheel travels **in the VM's user data**
(base64, beside its SHA-256): a channel the kit controls on every OpenStack cloud (Jetstream2 and
the local one alike), needing no package index, object store or credentials on the VM. On the
VM, ``gk-install`` checks the SHA-256 before anything else and refuses a wheel that does not
match, then installs it (its dependencies -- the kit and the libraries -- from the image, the
index or ``find_links``). Nova limits user data to 64 KiB, so the wheel may be at most
:data:`MAX_WHEEL_BYTES`; a gateway project's own wheel is a few kilobytes (the kit is its
dependency, not part of it).

**Rolling out.** The release is part of the web and worker VMs' user data, so a new release
replaces them blue/green, one at a time, as any change of their user data does
(:meth:`gateway_kit.hosting.run.Run.replace_server`): a new VM boots the new release, its
pool member must be healthy (the load balancer's monitor gets ``/healthz`` through it), the old
member is set admin-down and drained (``HOSTING_DRAIN_SECONDS``), then leaves the pool and the
old VM is deleted (gunicorn ends its requests in flight on SIGTERM). A VM without a pool member
(a worker) is shut down cleanly first (Nova's stop), so that its worker gets SIGTERM and hands
back the jobs it leased, which the new worker resumes at once from their saved executor state;
a worker that dies unstopped is covered by the lease, ``JOBS_LEASE_SECONDS``. Replacing
rather than upgrading in place keeps a VM's software exactly what its user data says, and a
failed release leaves the old VMs serving.

**History.** Each release applied is kept in the deployment's record (:data:`HISTORY`, the last
:data:`KEEP`), the wheel with it, so that ``deploy rollback`` can return to the previous one even
when its file is gone. Each server carries its release in its metadata (:data:`META_RELEASE`):
``deploy status`` shows what every VM runs, as the cloud reports it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .spec_types import DeploymentSpec

#: Key of the deployment record's JSON holding the release history (newest last).
HISTORY = "releases"
#: Releases kept for rollback.
KEEP = 5
#: Server metadata naming the release a VM runs.
META_RELEASE = "gateway-kit-release"
#: Nova's limit on a server's user data, base64-encoded.
MAX_USER_DATA = 65535
#: The largest wheel the user data can carry (base64 twice over: in the cloud-config, then the
#: whole user data for Nova, with the rest of the cloud-config beside it).
MAX_WHEEL_BYTES = 30 * 1024
#: The kit's templates that run the release (the others, such as the database role, do not).
APP_TEMPLATES = ("gateway-kit:web", "gateway-kit:worker")
_WHEEL_NAME = re.compile(r"^([A-Za-z0-9_.]+)-([A-Za-z0-9_.!+]+)-[^-]+-[^-]+-[^-]+\.whl$")


@dataclass(frozen=True)
class Artifact:
    """A release's wheel: file name, bytes and SHA-256."""

    name: str
    data: bytes
    sha256: str

    @property
    def release(self) -> str:
        """``<project>-<version>+<first 12 hex digits of the SHA-256>``."""
        m = _WHEEL_NAME.match(self.name)
        stem = f"{m.group(1)}-{m.group(2)}" if m else self.name.removesuffix(".whl")
        return f"{stem}+{self.sha256[:12]}"

    @property
    def b64(self) -> str:
        return base64.b64encode(self.data).decode()


def read_wheel(path: Path) -> Artifact:
    """The wheel at ``path``, checked for name and size.

    :raises ConfigError: unreadable, not a wheel, or too big for the user data (names the limit).
    """
    if not _WHEEL_NAME.match(path.name):
        raise ConfigError(
            f"app.wheel: {path.name} is not a wheel file name (project-version-py3-none-any.whl); "
            "build one with `pip wheel --no-deps -w dist .` in the project."
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"app.wheel: cannot read {path} ({exc.strerror}).") from exc
    if len(data) > MAX_WHEEL_BYTES:
        raise ConfigError(
            f"app.wheel: {path.name} is {len(data)} bytes; the VM's user data carries at most "
            f"{MAX_WHEEL_BYTES} (Nova's 64 KiB limit). Ship the project's own wheel only (the kit "
            "is its dependency, installed from the index or [app] find_links), or publish it and "
            "name it in [app] requirement."
        )
    return Artifact(path.name, data, hashlib.sha256(data).hexdigest())


def artifact(spec: DeploymentSpec) -> Artifact | None:
    """The spec's wheel, if ``[app] wheel`` names one."""
    if not spec.app.wheel:
        return None
    return read_wheel(Path(spec.base_dir) / spec.app.wheel)


def release_of(spec: DeploymentSpec) -> str:
    """The release the spec's app VMs run: the wheel's (:attr:`Artifact.release`), else the
    requirement."""
    found = artifact(spec)
    return found.release if found is not None else spec.app.requirement


def runs_release(spec: DeploymentSpec, role: str) -> bool:
    """Whether ``role``'s VMs run the gateway (and so carry the release)."""
    return spec.role(role).cloud_init in APP_TEMPLATES


def check_size(role: str, text: str) -> None:
    """:raises ConfigError: ``text`` is more user data than Nova takes (names the role and sizes)."""
    size = (len(text.encode()) + 2) // 3 * 4
    if size > MAX_USER_DATA:
        raise ConfigError(
            f"roles.{role}: its user data is {size} bytes in base64; Nova takes at most "
            f"{MAX_USER_DATA}. Make the [app] wheel or settings file smaller."
        )


def history(record: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The releases kept in a deployment record, oldest first."""
    found = (record or {}).get(HISTORY) or []
    return [dict(x) for x in found if isinstance(x, dict)] if isinstance(found, list) else []


def remember(record: Mapping[str, Any] | None, spec: DeploymentSpec) -> list[dict[str, Any]]:
    """The history with ``spec``'s release appended (unless it is already the newest)."""
    kept = history(record)
    found = artifact(spec)
    release = found.release if found is not None else spec.app.requirement
    if kept and kept[-1].get("release") == release:
        return kept
    app = {k: v for k, v in vars(spec.app).items() if k != "wheel"}
    entry: dict[str, Any] = {"release": release, "app": app, "at": datetime.now(UTC).isoformat()}
    if found is not None:
        entry["wheel"] = {"name": found.name, "sha256": found.sha256, "data": found.b64}
    return [*kept, entry][-KEEP:]


def previous(record: Mapping[str, Any] | None, current: str) -> dict[str, Any]:
    """The release before ``current`` in the history.

    :raises ConfigError: there is none (names what the history holds).
    """
    kept = history(record)
    names = [x.get("release") for x in kept]
    if current in names:
        idx = names.index(current)
        if idx > 0:
            return kept[idx - 1]
    elif kept:
        return kept[-1]
    raise ConfigError(
        f"There is no release before {current} to return to (kept: {', '.join(map(str, names)) or 'none'}). "
        "Roll forward with `gateway-kit deploy release SPEC` and a fixed [app]."
    )


def spec_for(spec: DeploymentSpec, entry: Mapping[str, Any], cache: Path) -> DeploymentSpec:
    """``spec`` running the release ``entry`` of the history: its app table, and its wheel written
    under ``cache`` (checked against the recorded SHA-256) when it had one."""
    app = dict(entry.get("app") or {})
    wheel = entry.get("wheel")
    path: str | None = None
    if isinstance(wheel, dict):
        data = base64.b64decode(str(wheel["data"]))
        if hashlib.sha256(data).hexdigest() != wheel["sha256"]:
            raise ConfigError(f"The kept wheel of release {entry.get('release')} does not match its SHA-256.")
        folder = cache / str(wheel["sha256"])
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / str(wheel["name"])
        target.write_bytes(data)
        path = str(target.resolve())
    # a settings path in the kept app table is relative to the spec's folder, as before
    return replace(spec, app=replace(spec.app, **{**app, "wheel": path}))
