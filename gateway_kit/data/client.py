"""A client of the datasets API for the command line: resumable uploads of files and folders
through the chunk protocol of :mod:`.uploads`, and downloads checked against their SHA-256.

Nothing here touches the database: it speaks HTTP to a running gateway with a personal access
token (scopes ``datasets:read`` / ``datasets:write``), like any other API client.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import requests

from .storage import sha256_file

RETRIES = 3
READ_BLOCK = 1024 * 1024


class ClientError(Exception):
    """The gateway refused a request, or could not be reached; the message says which and why."""


@dataclass
class Sent:
    """What :meth:`DatasetsClient.upload_file` did: the file's remote path and how many of its
    chunks it sent (fewer than ``chunks`` when an earlier upload was resumed)."""

    path: str
    size: int
    chunks: int
    sent: int


def _problem(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    detail = body.get("detail") or body.get("title") or ""
    errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [])
    return f"HTTP {resp.status_code}: {detail}" + (f" ({errors})" if errors else "")


def files_under(local: Path, into: str = "") -> Iterator[tuple[Path, str]]:
    """``(file, remote path)`` for ``local`` (a file) or every regular file under it (a folder,
    whose name starts the remote paths), in name order; links are not followed."""
    prefix = into.strip("/")
    if local.is_file():
        yield local, f"{prefix}/{local.name}".lstrip("/")
        return
    base = f"{prefix}/{local.resolve().name}".lstrip("/")
    for folder, dirs, names in os.walk(local):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path, f"{base}/{path.relative_to(local).as_posix()}"


def safe_local(root: Path, remote: str) -> Path:
    """Where ``remote`` (a dataset's file path) goes under ``root``; refuses paths that leave it."""
    parts = PurePosixPath(remote).parts
    if not parts or PurePosixPath(remote).is_absolute() or any(p in ("..", ".", "") for p in parts):
        raise ClientError(f"The gateway listed an unsafe file path {remote!r}; refusing to write it.")
    return root.joinpath(*parts)


class DatasetsClient:
    """The datasets API at ``url`` with ``token``."""

    def __init__(self, url: str, token: str, timeout: float = 120) -> None:
        self.base = url.rstrip("/") + "/api/v1/datasets"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.headers["Accept"] = "application/json"
        self.timeout = timeout

    def _call(self, method: str, url: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> requests.Response:
        """One request, retried on connection failures, 5xx and 429; ClientError otherwise."""
        for attempt in range(RETRIES + 1):
            try:
                resp = self.http.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                if attempt == RETRIES:
                    raise ClientError(f"{method} {url} failed: {exc.__class__.__name__}: {exc}") from exc
            else:
                if resp.status_code in ok:
                    return resp
                if attempt == RETRIES or not (resp.status_code >= 500 or resp.status_code == 429):
                    raise ClientError(f"{method} {url}: {_problem(resp)}")
            time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def dataset(self, uid: str) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", f"{self.base}/{quote(uid)}").json()
        return data

    def upload_file(
        self, uid: str, local: Path, remote: str, progress: Callable[[int], None] | None = None
    ) -> Sent:
        """Upload ``local`` as ``remote`` in dataset ``uid``, resuming an upload of the same file
        left unfinished; ``progress`` is called with the bytes of each chunk sent."""
        size = local.stat().st_size
        start = self._call(
            "POST",
            f"{self.base}/{quote(uid)}/uploads",
            ok=(200, 201),
            json={"path": remote, "size": size, "sha256": sha256_file(local)},
        ).json()
        chunk, missing = int(start["chunk_size"]), list(start["missing"])
        root = self.base.rsplit("/api/v1/datasets", 1)[0]
        chunks_url = root + start["links"]["chunks"]
        with open(local, "rb") as f:
            for index in missing:
                f.seek(index * chunk)
                data = f.read(chunk)
                self._call(
                    "PUT",
                    chunks_url.replace("{index}", str(index)),
                    data=data,
                    headers={
                        "X-Chunk-SHA256": hashlib.sha256(data).hexdigest(),
                        "Content-Type": "application/octet-stream",
                    },
                )
                if progress:
                    progress(len(data))
        self._call("POST", root + start["links"]["complete"], ok=(201,))
        return Sent(remote, size, int(start["chunk_count"]), len(missing))

    def download_file(self, uid: str, remote: str, sha256: str, target: Path) -> bool:
        """Fetch ``remote`` into ``target`` (through a temporary file), checking its SHA-256;
        False when ``target`` already holds those bytes (nothing fetched)."""
        if target.is_file() and sha256_file(target) == sha256:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        url = f"{self.base}/{quote(uid)}/files/{quote(remote)}"
        digest = hashlib.sha256()
        with self._call("GET", url, stream=True) as resp, open(partial, "wb") as out:
            for block in resp.iter_content(READ_BLOCK):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise ClientError(f"{remote} arrived damaged (SHA-256 {digest.hexdigest()}, expected {sha256}).")
        partial.replace(target)
        return True
