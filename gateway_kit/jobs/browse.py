"""Browsing a job's outputs as folders: the entries under a folder, and a folder as a zip archive.

Only the job's outputs (:func:`.service.outputs`) are listed, and every file is opened through
:func:`.service.open_output` (no link followed, nothing outside the job's directory).
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from typing import IO, Any

from ..errors import NotFound
from . import service
from .models import Job

#: A folder's archive is built in memory up to this size, then on disk.
SPOOL_BYTES = 16 * 1024 * 1024


@dataclass
class Entry:
    """A file or a folder directly under the folder being listed."""

    name: str
    path: str
    is_folder: bool
    size: int
    files: int = 1


def split(outputs: list[dict[str, Any]], folder: str) -> list[Entry]:
    """The entries directly under ``folder`` ('' for the top), folders first, then by name."""
    prefix = folder + "/" if folder else ""
    folders: dict[str, Entry] = {}
    files: list[Entry] = []
    for out in outputs:
        path = out["path"]
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        name, sep, _ = rest.partition("/")
        if sep:
            entry = folders.setdefault(name, Entry(name, prefix + name, True, 0, 0))
            entry.size += out["size"]
            entry.files += 1
        else:
            files.append(Entry(name, path, False, out["size"]))
    return sorted(folders.values(), key=lambda e: e.name) + sorted(files, key=lambda e: e.name)


def find(job: Job, rel: str) -> tuple[str, list[dict[str, Any]]]:
    """``("file" | "folder", outputs)`` for ``rel`` of ``job``; NotFound if it is neither."""
    outputs = service.outputs(job)
    rel = rel.strip("/")
    if any(o["path"] == rel for o in outputs):
        return "file", outputs
    if not rel or any(o["path"].startswith(rel + "/") for o in outputs):
        return "folder", outputs
    raise NotFound("No such output file or folder.")


def archive(job: Job, folder: str) -> IO[bytes]:
    """A zip of the outputs under ``folder`` (paths relative to it), rewound for reading."""
    kind, outputs = find(job, folder)
    if kind != "folder":
        raise NotFound("No such output folder.")
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - send_file closes it
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as zf:
        for out in outputs:
            if not out["path"].startswith(prefix):
                continue
            name = out["path"][len(prefix) :]
            big = out["size"] >= 2**31
            with service.open_output(job, out["path"]) as src, zf.open(name, "w", force_zip64=big) as dst:
                while block := src.read(1024 * 1024):
                    dst.write(block)
    spool.seek(0)
    return spool  # type: ignore[return-value]
