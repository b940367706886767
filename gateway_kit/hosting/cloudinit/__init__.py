"""The kit's own cloud-init templates, shipped inside the package (a pip-installed kit has them).

A spec names one as ``cloud_init = "gateway-kit:<name>"``; any other value is a path relative to
the spec file. ``gateway-kit:web`` and ``gateway-kit:worker`` are both ``gateway.yaml.j2``: the
gateway installed once per VM and run as systemd units (gunicorn on the load balancer's role,
``gateway-kit worker`` on the others); ``gateway-kit:postgres-on-volume`` is the database role. The
burst pool (``burst-agent.yaml.j2``) and the database role (:mod:`gateway_kit.data.dbhost`:
``postgres-on-volume.yaml.j2`` and the script it installs) read theirs from here too.
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding the templates.
FOLDER = Path(__file__).resolve().parent
#: How a spec names one of them.
PREFIX = "gateway-kit:"
#: Names that stand for another template (the service the role runs is decided by the role).
ALIASES = {"web": "gateway", "worker": "gateway"}


def names() -> list[str]:
    """The templates a spec can name (without the ``.yaml.j2`` suffix)."""
    return sorted({p.name.removesuffix(".yaml.j2") for p in FOLDER.glob("*.yaml.j2")} | set(ALIASES))


def resolve(reference: str, base_dir: Path | str) -> Path:
    """The file a spec's ``cloud_init`` names: a kit template, or a path relative to ``base_dir``."""
    if reference.startswith(PREFIX):
        name = reference.removeprefix(PREFIX)
        return FOLDER / f"{ALIASES.get(name, name)}.yaml.j2"
    return Path(base_dir) / reference
