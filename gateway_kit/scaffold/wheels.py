"""Wheels of what is installed: the kit itself (for a new project's ``wheels/`` folder, so its
dependency on gateway-kit resolves on a machine whose package index does not have the kit) and,
for tests that need an offline wheelhouse, any installed distribution.

An installed distribution is repacked from its files as ``RECORD`` lists them (the wheel it came
from, less the scripts pip generated outside ``site-packages``); a kit installed editable from a
checkout is built from that checkout's sources with setuptools, in a scratch copy so the checkout
gets no ``build/`` folder.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from ..errors import ScaffoldError

#: dist-info files that describe one installation, not the wheel.
_INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
#: What a scratch copy of a checkout leaves out.
_NOT_SOURCES = (".git", ".venv", "__pycache__", "*.pyc", "build", "dist", "*.egg-info", "instance")
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _tags(wheel_text: str) -> str:
    """The compressed tag triple of a wheel's file name, from the Tag lines of its WHEEL file."""
    lines = wheel_text.splitlines()
    triples = [line.split(":", 1)[1].strip().split("-") for line in lines if line.startswith("Tag:")]
    if not triples:
        return "py3-none-any"
    return "-".join(".".join(sorted({t[i] for t in triples})) for i in range(3))


def repack(name: str, dest: Path) -> Path:
    """A wheel in ``dest`` holding the installed distribution ``name`` as it is installed.

    :raises ScaffoldError: it is not installed, or not from a wheel (no RECORD).
    """
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise ScaffoldError(f"{name} is not installed in {sys.prefix}.") from exc
    files = dist.files
    info = next((f for f in files or [] if f.parent.name.endswith(".dist-info")), None)
    if not files or info is None:
        raise ScaffoldError(f"{name} has no RECORD of its files: reinstall it with pip.")
    info_dir = info.parent.as_posix()
    wheel_text = (Path(str(dist.locate_file(info_dir))) / "WHEEL").read_text()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{_normalise(dist.metadata['Name'])}-{dist.version}-{_tags(wheel_text)}.whl"
    record = io.StringIO()
    rows = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            rel = f.as_posix()
            if rel.startswith("..") or "__pycache__" in f.parts:
                continue
            if f.parent.as_posix() == info_dir and f.name in _INSTALL_ONLY:
                continue
            data = Path(str(dist.locate_file(f))).read_bytes()
            zf.writestr(rel, data)
            sha = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.writerow([rel, f"sha256={sha}", len(data)])
        rows.writerow([f"{info_dir}/RECORD", "", ""])
        zf.writestr(f"{info_dir}/RECORD", record.getvalue())
    return target


def _checkout() -> Path | None:
    """The source checkout the running kit is imported from, if it is one."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "gateway-kit"' in pyproject.read_text():
        return root
    return None


def build_from_source(source: Path, dest: Path) -> Path:
    """Build the wheel of the project in ``source`` into ``dest`` (setuptools, no network)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gk-wheel-") as tmp:
        copy = Path(tmp) / source.name
        shutil.copytree(
            source,
            copy,
            ignore=shutil.ignore_patterns(*_NOT_SOURCES),
        )
        res = subprocess.run(
            [*PIP_WHEEL, "-w", str(dest), str(copy)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if res.returncode != 0:
        raise ScaffoldError(
            f"Could not build the wheel of {source} (pip wheel exited {res.returncode}; it needs "
            f"setuptools and wheel installed): {res.stderr.strip()[-2000:]}"
        )
    built = sorted(dest.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    return built[-1]


def kit_wheel(dest: Path) -> Path:
    """The running gateway-kit as a wheel in ``dest``: built from its checkout when it runs from
    one (an editable install), else repacked from its installed files."""
    source = _checkout()
    if source is not None:
        return build_from_source(source, dest)
    return repack("gateway-kit", dest)
