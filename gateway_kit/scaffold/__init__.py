"""``gateway-kit new``: render a new gateway project from the templates in ``template/``.

Every file under ``template/`` is a Jinja2 template (suffix ``.j2`` stripped); ``__package__`` in a
path becomes the project's Python package name. The running kit's wheel goes into ``wheels/``
(:mod:`.wheels`), so the project's dependency on gateway-kit resolves on a fresh machine.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import __version__
from ..errors import ScaffoldError
from .wheels import kit_wheel

TEMPLATE_DIR = Path(__file__).parent / "template"
#: The project's folder holding the kit's wheel (``pip install --find-links wheels``).
WHEELS = "wheels"


@dataclass
class Project:
    name: str
    package: str
    dist: str


def project_names(path: Path, name: str | None) -> Project:
    base = path.resolve().name
    package = re.sub(r"[^0-9a-zA-Z_]", "_", base).strip("_").lower()
    if not package or package[0].isdigit() or keyword.iskeyword(package):
        raise ScaffoldError(
            f"Cannot derive a Python package name from the folder name {base!r}: use a folder name "
            "that starts with a letter, such as 'my-portal'."
        )
    dist = re.sub(r"[^0-9a-zA-Z]+", "-", base).strip("-").lower()
    title = name or " ".join(part.capitalize() for part in re.split(r"[-_ ]+", base) if part)
    return Project(name=title, package=package, dist=dist)


def create_project(path: Path, name: str | None = None) -> Project:
    """Render the template into ``path``; refuse a non-empty existing directory or a file."""
    if path.exists() and not path.is_dir():
        raise ScaffoldError(f"{path} exists and is a file: choose a new folder name.")
    if path.is_dir() and any(path.iterdir()):
        raise ScaffoldError(
            f"{path} exists and is not empty: gateway-kit new never overwrites files. "
            "Choose a new folder, or empty this one."
        )
    project = project_names(path, name)
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - not HTML
    )
    context = {"project": project, "kit_version": __version__}
    for src in sorted(TEMPLATE_DIR.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(TEMPLATE_DIR).as_posix()
        target_rel = rel.replace("__package__", project.package).removesuffix(".j2")
        if target_rel == "gitignore":
            target_rel = ".gitignore"
        target = path / target_rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = env.get_template(rel).render(**context)
        target.write_text(text, encoding="utf-8")
    kit_wheel(path / WHEELS)
    return project
