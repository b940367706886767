"""Resumable uploads: our own small chunk protocol, with a SHA-256 per chunk and per file.

We chose a protocol of our own over tus: the maintained tus servers are not Flask/WSGI libraries,
tus's checksum extension is optional and per-request only, and what we need fits in four calls.
The client (see ``bench/datasets_throughput.py`` and the tests for a complete one) does::

    POST   /api/v1/datasets/<id>/uploads            {"path", "size", "sha256"[, "chunk_size"]}
           -> 201 {"id", "chunk_size", "chunk_count", "received": [], "links": {...}}
    PUT    /api/v1/datasets/<id>/uploads/<upload>/chunks/<n>
           body: the bytes of chunk n (n * chunk_size ..), header X-Chunk-SHA256: <hex>
           -> 200 {"index", "received"}; 422 checksum_mismatch if the bytes do not match
    GET    /api/v1/datasets/<id>/uploads/<upload>   -> {"received": [...], "missing": [...]}
    POST   /api/v1/datasets/<id>/uploads/<upload>/complete
           -> 201 {"path", "size", "sha256"}: the whole file's SHA-256 is verified first

Resuming after an interruption: ``POST .../uploads`` again with the same path, size and SHA-256
answers the upload already open (200) with the chunks received so far; the client sends only the
missing ones. Chunks are idempotent and may be sent in parallel and in any order. The declared
size is reserved against the project's quota when the upload starts, so that a quota cannot be
overrun by many uploads at once. Unfinished uploads expire after ``DATA_UPLOAD_EXPIRE_HOURS``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import IO, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import utc_iso
from ..errors import Conflict, GatewayError, NotFound, ValidationError
from ..identity.models import User
from . import catalog, storage
from .models import Dataset, DatasetFile, Upload, UploadChunk, utcnow

log = logging.getLogger("gateway_kit.data.uploads")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MIN_CHUNK = 64 * 1024
CHUNK_HEADER = "X-Chunk-SHA256"


class ChecksumMismatch(ValidationError):
    reason = "checksum_mismatch"
    title = "Checksum mismatch"

    def __init__(self, what: str, expected: str, got: str) -> None:
        super().__init__(
            [{"field": what, "message": f"SHA-256 is {got}, expected {expected}"}],
            f"The {what} did not arrive intact: its SHA-256 is {got}, expected {expected}. Send it again.",
        )
        self.extra.update(expected=expected, received=got)


def max_chunk(settings: Mapping[str, Any]) -> int:
    return int(float(settings["DATA_CHUNK_MB"]) * 1024 * 1024)


def path_clash(session: Session, ds: Dataset, path: str) -> str | None:
    """The file of ``ds`` that ``path`` cannot coexist with, or None.

    Why: a dataset is a directory tree, so ``a`` and ``a/b`` cannot both be files; installing the
    second one failed half-way (a server error, the upload left behind). Checked when an upload
    starts and again just before it is installed (another upload may have finished meanwhile).
    """
    parts = path.split("/")
    folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
    clash = session.scalars(
        select(DatasetFile.path)
        .where(
            DatasetFile.dataset_id == ds.id,
            DatasetFile.path.in_(folders) | DatasetFile.path.startswith(path + "/", autoescape=True),
        )
        .limit(1)
    ).first()
    return clash


def _clash_error(path: str, clash: str) -> Conflict:
    if clash.startswith(path + "/"):
        why = f"{path!r} is a folder of this dataset (it holds {clash!r})"
    else:
        why = f"{clash!r} is a file of this dataset, so it cannot also be a folder"
    return Conflict(
        f"Cannot upload {path!r}: {why}. Choose another path, or delete {clash!r} first.",
        extra={"errors": [{"field": "path", "message": f"clashes with the existing file {clash!r}"}]},
    )


def start(
    session: Session, settings: Mapping[str, Any], user: User, ds: Dataset, body: Any
) -> tuple[Upload, bool]:
    """Open an upload (or answer the one already open for the same file); ``(upload, created)``."""
    if not isinstance(body, dict):
        raise ValidationError([{"field": "", "message": "the body must be a JSON object"}])
    errors: list[dict[str, str]] = []
    for key in body:
        if key not in ("path", "size", "sha256", "chunk_size"):
            errors.append(
                {"field": key, "message": "is not a known field (expected path, size, sha256, chunk_size)"}
            )
    path = body.get("path")
    problem = storage.check_path(path) if isinstance(path, str) else "must be a string"
    if problem:
        errors.append({"field": "path", "message": problem})
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        errors.append({"field": "size", "message": "must be an integer >= 0 (bytes)"})
    digest = body.get("sha256")
    if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
        errors.append({"field": "sha256", "message": "must be 64 hexadecimal digits"})
    most = max_chunk(settings)
    chunk = body.get("chunk_size", most)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not MIN_CHUNK <= chunk <= most:
        errors.append(
            {"field": "chunk_size", "message": f"must be an integer between {MIN_CHUNK} and {most}"}
        )
    if errors:
        raise ValidationError(errors)
    assert isinstance(path, str) and isinstance(size, int) and isinstance(digest, str)
    digest = digest.lower()
    existing = session.scalars(select(Upload).where(Upload.dataset_id == ds.id, Upload.path == path)).first()
    if existing is not None:
        if existing.size == size and existing.sha256 == digest:
            return existing, False
        raise Conflict(
            f"An upload of {path!r} with another size or checksum is in progress "
            f"(upload {existing.id}); finish or cancel it first."
        )
    clash = path_clash(session, ds, path)
    if clash is not None:
        raise _clash_error(path, clash)
    old = session.scalars(
        select(DatasetFile).where(DatasetFile.dataset_id == ds.id, DatasetFile.path == path)
    ).first()
    catalog.check_quota(session, settings, ds, size, replacing=old.size if old else 0)
    up = Upload(
        id=secrets.token_urlsafe(24),
        dataset_id=ds.id,
        user_id=user.id,
        path=path,
        size=size,
        sha256=digest,
        chunk_size=int(chunk),
    )
    session.add(up)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("The upload could not be opened; try again.") from exc
    storage.uploads_dir(settings).mkdir(parents=True, exist_ok=True)
    with open(storage.part_path(settings, up.id), "wb") as f:
        f.truncate(size)
    return up, True


def add_file(
    session: Session,
    settings: Mapping[str, Any],
    user: User,
    ds: Dataset,
    path: str,
    opener: Callable[[], IO[bytes]],
) -> DatasetFile:
    """Add a file read from ``opener()`` (the page's form, a job's output) to ``ds`` as ``path``,
    through an upload: the same path, quota and checksum checks as the API's. The source is read
    twice (for its SHA-256, then chunk by chunk); nothing is left behind if a check fails."""
    digest, size = hashlib.sha256(), 0
    with opener() as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    chunk = max(MIN_CHUNK, min(max_chunk(settings), size))
    up, _ = start(
        session,
        settings,
        user,
        ds,
        {"path": path, "size": size, "sha256": digest.hexdigest(), "chunk_size": chunk},
    )
    try:
        with opener() as f:
            for index in range(up.chunk_count if size else 0):
                data = f.read(up.chunk_size)
                put_chunk(session, settings, up, index, io.BytesIO(data), hashlib.sha256(data).hexdigest())
        return complete(session, settings, ds, up)
    except GatewayError:
        if session.get(Upload, up.id) is not None:
            abort(session, settings, up)
        raise


def get(session: Session, ds: Dataset, upload_id: str) -> Upload:
    up = session.get(Upload, upload_id)
    if up is None or up.dataset_id != ds.id:
        raise NotFound("No such upload (it may have been completed, canceled or expired).")
    return up


def received(session: Session, up: Upload) -> list[int]:
    return list(
        session.scalars(
            select(UploadChunk.index).where(UploadChunk.upload_id == up.id).order_by(UploadChunk.index)
        )
    )


def unfinished(session: Session, ds: Dataset) -> list[dict[str, Any]]:
    """The uploads open on ``ds``, oldest first, with how many chunks have arrived."""
    counts = dict(
        session.execute(
            select(UploadChunk.upload_id, func.count())
            .join(Upload, Upload.id == UploadChunk.upload_id)
            .where(Upload.dataset_id == ds.id)
            .group_by(UploadChunk.upload_id)
        ).all()
    )
    rows = session.scalars(select(Upload).where(Upload.dataset_id == ds.id).order_by(Upload.created_at))
    return [
        {
            "path": up.path,
            "size": up.size,
            "chunk_count": up.chunk_count,
            "received": counts.get(up.id, 0),
            "created_at": up.created_at,
        }
        for up in rows
    ]


def status(session: Session, up: Upload) -> dict[str, Any]:
    got = received(session, up)
    have = set(got)
    return {
        "id": up.id,
        "path": up.path,
        "size": up.size,
        "sha256": up.sha256,
        "chunk_size": up.chunk_size,
        "chunk_count": up.chunk_count,
        "received": got,
        "missing": [i for i in range(up.chunk_count) if i not in have],
        "created_at": utc_iso(up.created_at),
    }


def put_chunk(
    session: Session,
    settings: Mapping[str, Any],
    up: Upload,
    index: int,
    stream: IO[bytes],
    digest: str | None,
) -> None:
    """Write chunk ``index``; refuse it (nothing recorded) if its length or SHA-256 is wrong."""
    if not 0 <= index < up.chunk_count:
        raise ValidationError([{"field": "index", "message": f"must be between 0 and {up.chunk_count - 1}"}])
    if not digest or not _HEX64.match(digest.lower()):
        raise ValidationError(
            [
                {
                    "field": CHUNK_HEADER,
                    "message": "send the chunk's SHA-256 as 64 hexadecimal digits in this header",
                }
            ]
        )
    offset = index * up.chunk_size
    expected_len = min(up.chunk_size, up.size - offset)
    length, got = storage.write_at(storage.part_path(settings, up.id), offset, stream, expected_len)
    if length != expected_len:
        raise ValidationError(
            [{"field": "body", "message": f"chunk {index} must be {expected_len} bytes; {length} arrived"}]
        )
    if got != digest.lower():
        raise ChecksumMismatch(f"chunk {index}", digest.lower(), got)
    row = session.get(UploadChunk, (up.id, index))
    if row is None:
        session.add(UploadChunk(upload_id=up.id, index=index, sha256=got))
    else:
        row.sha256 = got
    try:
        session.commit()
    except IntegrityError:  # the same chunk arrived twice at once: both wrote the same bytes
        session.rollback()


def complete(session: Session, settings: Mapping[str, Any], ds: Dataset, up: Upload) -> DatasetFile:
    """Verify the whole file's SHA-256 and install it in the dataset (read-only)."""
    have = set(received(session, up))
    missing = [i for i in range(up.chunk_count) if i not in have]
    if missing and up.size > 0:
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise Conflict(f"{len(missing)} chunk(s) have not arrived yet: {shown}.", extra={"missing": missing})
    part = storage.part_path(settings, up.id)
    got = storage.sha256_file(part)
    if got != up.sha256:
        # The chunks matched their own digests, so the client declared the wrong file or sent
        # chunks of two different files: nothing can be salvaged.
        abort(session, settings, up)
        raise ChecksumMismatch("file", up.sha256, got)
    clash = path_clash(session, ds, up.path)
    if clash is not None:
        # The upload stays open (nothing was installed): the caller may delete the clashing
        # file and complete again, or cancel the upload.
        raise _clash_error(up.path, clash)
    target = storage.file_path(settings, ds.uid, up.path)
    storage.install(part, target)
    row = session.scalars(
        select(DatasetFile).where(DatasetFile.dataset_id == ds.id, DatasetFile.path == up.path)
    ).first()
    if row is None:
        row = DatasetFile(dataset_id=ds.id, path=up.path, size=up.size, sha256=got)
        session.add(row)
    else:
        row.size, row.sha256, row.created_at = up.size, got, utcnow()
    ds.updated_at = utcnow()
    session.delete(up)
    session.commit()
    return row


def abort(session: Session, settings: Mapping[str, Any], up: Upload) -> None:
    storage.part_path(settings, up.id).unlink(missing_ok=True)
    session.execute(delete(UploadChunk).where(UploadChunk.upload_id == up.id))
    session.delete(up)
    session.commit()


def expire(session: Session, settings: Mapping[str, Any]) -> int:
    """Remove uploads older than DATA_UPLOAD_EXPIRE_HOURS; returns how many."""
    cutoff = utcnow() - timedelta(hours=float(settings["DATA_UPLOAD_EXPIRE_HOURS"]))
    old = list(session.scalars(select(Upload).where(Upload.created_at < cutoff)))
    for up in old:
        log.info("upload %s of %s expired", up.id, up.path)
        abort(session, settings, up)
    return len(old)
