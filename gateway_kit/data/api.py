"""The datasets REST API under ``/api/v1/datasets``.

Reading public datasets needs no credentials; everything else authenticates like the rest of the
API (a Bearer token with ``datasets:read`` / ``datasets:write``, or the browser session). A dataset
the caller may not see answers 404. File downloads honour ``Range`` and ``If-None-Match`` (the
ETag is the file's SHA-256) and name the file in ``Content-Disposition``.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue

from ..api.openapi import add_schema, add_tag, document, ref
from ..db import db
from ..errors import Forbidden, NotFound, Unauthorized, ValidationError
from ..identity.access import authenticate_api_request, current_scopes, current_user
from ..identity.models import PROJECT_JSON_SCHEMA, User
from ..web.bodylimits import body_limit
from ..web.request import int_arg
from . import catalog, storage, uploads
from .jobinputs import check_job_token
from .models import Dataset, DatasetFile

bp = Blueprint("data_api", __name__, url_prefix="/api/v1/datasets")


def caller(scope: str, *, required: bool) -> User | None:
    """The authenticated caller holding ``scope``, or None for an anonymous reader.

    A request that presents credentials must hold the scope even for public data: a token
    without ``datasets:read`` was not meant for datasets.
    """
    if request.headers.get("Authorization") or required:
        user = authenticate_api_request()
        if scope not in current_scopes():
            raise Forbidden(f"This request needs the scope(s): {scope}.")
        return user
    return current_user()


def _writer() -> User:
    user = caller("datasets:write", required=True)
    if user is None:  # pragma: no cover - authenticate_api_request raised already
        raise Unauthorized()
    return user


def dataset_json(ds: Dataset) -> dict[str, Any]:
    data = ds.to_json()
    for f in data["files"]:
        f["url"] = url_for("data_api.download", uid=ds.uid, rel=f["path"])
    data["links"] = {
        "self": url_for("data_api.show", uid=ds.uid),
        "page": url_for("data.dataset_page", uid=ds.uid),
        "uploads": url_for("data_api.start_upload", uid=ds.uid),
    }
    return data


def send_dataset_file(ds: Dataset, rel: str) -> Response:
    """The file with Range, ETag (its SHA-256) and Content-Disposition."""
    row = next((f for f in ds.files if f.path == rel), None)
    if row is None:
        raise NotFound("No such file.")
    path = storage.file_path(current_app.config, ds.uid, rel)
    if not path.is_file():
        raise NotFound(
            "No such file.", log_message=f"dataset {ds.uid}: {rel} is in the catalog but missing from {path}"
        )
    mimetype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    resp = send_file(
        path,
        mimetype=mimetype,
        as_attachment=True,
        download_name=rel.rsplit("/", 1)[-1],
        conditional=True,
        etag=row.sha256,
        max_age=0,
    )
    resp.headers["Accept-Ranges"] = "bytes"
    resp.headers["Digest"] = f"sha-256={_b64(row.sha256)}"
    # Private data must not sit in shared caches.
    if ds.visibility == "public":
        resp.cache_control.public = True
    else:
        resp.cache_control.private = True
    return resp


def _b64(hexdigest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hexdigest)).decode()


def _readable(uid: str) -> Dataset:
    return catalog.get_readable(db.session, caller("datasets:read", required=False), uid)


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationError([{"field": "body", "message": "must be a JSON object"}])
    return body


# -- datasets ------------------------------------------------------------------------------------


@bp.get("")
@document(
    summary="Search datasets",
    anonymous=True,
    tags=["datasets"],
    scopes=["datasets:read"],
    description="Without credentials: public datasets only.",
    parameters=[
        {"name": "q", "in": "query", "schema": {"type": "string"}},
        {"name": "project", "in": "query", "schema": {"type": "string"}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    ],
    responses={
        "200": {
            "type": "object",
            "properties": {
                "datasets": {"type": "array", "items": ref("Dataset")},
                "total": {"type": "integer"},
            },
        }
    },
)
def search() -> ResponseReturnValue:
    user = caller("datasets:read", required=False)
    rows, total = catalog.search(
        db.session,
        user,
        request.args.get("q", "").strip(),
        project=request.args.get("project") or None,
        offset=int_arg("offset", 0, 0, 10**9),
        limit=int_arg("limit", 50, 1, 100),
    )
    return jsonify({"datasets": [dataset_json(d) for d in rows], "total": total})


@bp.post("")
@document(
    summary="Create a dataset",
    tags=["datasets"],
    scopes=["datasets:write"],
    request={"application/json": ref("DatasetInput")},
    responses={"201": ref("Dataset")},
)
def create() -> ResponseReturnValue:
    user = _writer()
    ds = catalog.create(db.session, user, _json_object())
    resp = jsonify(dataset_json(ds))
    resp.status_code = 201
    resp.headers["Location"] = url_for("data_api.show", uid=ds.uid)
    return resp


@bp.get("/<uid>")
@document(
    summary="Show a dataset and its files",
    anonymous=True,
    tags=["datasets"],
    scopes=["datasets:read"],
    responses={"200": ref("Dataset")},
)
def show(uid: str) -> ResponseReturnValue:
    return jsonify(dataset_json(_readable(uid)))


@bp.patch("/<uid>")
@document(
    summary="Change a dataset's description, license, DOI or visibility",
    tags=["datasets"],
    scopes=["datasets:write"],
    request={"application/json": ref("DatasetInput")},
    responses={"200": ref("Dataset")},
)
def change(uid: str) -> ResponseReturnValue:
    ds = catalog.get_writable(db.session, _writer(), uid)
    return jsonify(dataset_json(catalog.update(db.session, ds, _json_object())))


@bp.delete("/<uid>")
@document(
    summary="Delete a dataset and its files",
    tags=["datasets"],
    scopes=["datasets:write"],
    responses={"204": None},
)
def remove(uid: str) -> ResponseReturnValue:
    catalog.delete(db.session, catalog.get_writable(db.session, _writer(), uid))
    return "", 204


@bp.get("/<uid>/files/<path:rel>")
@document(
    summary="Download a file (Range and ETag supported)",
    anonymous=True,
    tags=["datasets"],
    scopes=["datasets:read"],
    parameters=[
        {"name": "Range", "in": "header", "schema": {"type": "string"}},
        {
            "name": "token",
            "in": "query",
            "schema": {"type": "string"},
            "description": "a job's dataset token (burst jobs)",
        },
    ],
    responses={
        "200": {
            "description": "The file",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        "206": {"description": "The requested range"},
        "304": {"description": "Not modified (If-None-Match)"},
    },
)
def download(uid: str, rel: str) -> ResponseReturnValue:
    ds = _token_dataset(uid) or _readable(uid)
    return send_dataset_file(ds, rel)


@bp.delete("/<uid>/files/<path:rel>")
@document(
    summary="Delete a file of a dataset",
    tags=["datasets"],
    scopes=["datasets:write"],
    responses={"204": None},
)
def delete_file(uid: str, rel: str) -> ResponseReturnValue:
    catalog.delete_file(db.session, catalog.get_writable(db.session, _writer(), uid), rel)
    return "", 204


def _token_dataset(uid: str) -> Dataset | None:
    token = request.args.get("token")
    if not token:
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if check_job_token(app, token, uid) is None:
        raise NotFound("No such dataset.")
    ds = db.session.query(Dataset).filter_by(uid=uid).first()
    if ds is None:
        raise NotFound("No such dataset.")
    return ds


@bp.get("/<uid>/manifest")
@document(
    summary="A dataset's files with download URLs (for job agents)",
    anonymous=True,
    tags=["datasets"],
    scopes=["datasets:read"],
    parameters=[{"name": "token", "in": "query", "schema": {"type": "string"}}],
    responses={"200": ref("Dataset")},
)
def manifest(uid: str) -> ResponseReturnValue:
    token = request.args.get("token")
    ds = _token_dataset(uid) or _readable(uid)
    data = dataset_json(ds)
    for f in data["files"]:
        f["url"] = (
            url_for("data_api.download", uid=ds.uid, rel=f["path"], token=token, _external=True)
            if token
            else f["url"]
        )
    return jsonify(data)


# -- uploads -------------------------------------------------------------------------------------


def _upload_json(up: Any) -> dict[str, Any]:
    data = uploads.status(db.session, up)
    data["links"] = {
        "self": url_for("data_api.upload_status", uid=up.dataset.uid, upload_id=up.id),
        "chunks": url_for("data_api.upload_status", uid=up.dataset.uid, upload_id=up.id) + "/chunks/{index}",
        "complete": url_for("data_api.complete_upload", uid=up.dataset.uid, upload_id=up.id),
    }
    return data


@bp.post("/<uid>/uploads")
@document(
    summary="Start (or resume) a chunked upload of one file",
    tags=["datasets"],
    scopes=["datasets:write"],
    description="Repeating the request with the same path, size and sha256 answers the "
    "upload already open (200) with the chunks received so far. The size is reserved "
    "against the project's quota (403 quota_exceeded, with the numbers).",
    request={"application/json": ref("UploadStart")},
    responses={"201": ref("Upload"), "200": ref("Upload")},
)
def start_upload(uid: str) -> ResponseReturnValue:
    user = _writer()
    ds = catalog.get_writable(db.session, user, uid)
    up, created = uploads.start(db.session, current_app.config, user, ds, request.get_json(silent=True))
    return jsonify(_upload_json(up)), 201 if created else 200


@bp.get("/<uid>/uploads/<upload_id>")
@document(
    summary="An upload's received and missing chunks",
    tags=["datasets"],
    scopes=["datasets:write"],
    responses={"200": ref("Upload")},
)
def upload_status(uid: str, upload_id: str) -> ResponseReturnValue:
    ds = catalog.get_writable(db.session, _writer(), uid)
    return jsonify(_upload_json(uploads.get(db.session, ds, upload_id)))


@bp.put("/<uid>/uploads/<upload_id>/chunks/<int:index>")
@document(
    summary="Send one chunk",
    tags=["datasets"],
    scopes=["datasets:write"],
    parameters=[
        {
            "name": uploads.CHUNK_HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        }
    ],
    request={"application/octet-stream": {"type": "string", "format": "binary"}},
    responses={
        "200": {
            "type": "object",
            "properties": {"index": {"type": "integer"}, "received": {"type": "integer"}},
        }
    },
)
@body_limit("DATA_CHUNK_MB", slack=0)
def put_chunk(uid: str, upload_id: str, index: int) -> ResponseReturnValue:
    ds = catalog.get_writable(db.session, _writer(), uid)
    up = uploads.get(db.session, ds, upload_id)
    uploads.put_chunk(
        db.session, current_app.config, up, index, request.stream, request.headers.get(uploads.CHUNK_HEADER)
    )
    return jsonify({"index": index, "received": len(uploads.received(db.session, up))})


@bp.post("/<uid>/uploads/<upload_id>/complete")
@document(
    summary="Finish an upload: verify the file's SHA-256 and add it to the dataset",
    tags=["datasets"],
    scopes=["datasets:write"],
    responses={"201": ref("DatasetFile")},
)
def complete_upload(uid: str, upload_id: str) -> ResponseReturnValue:
    ds = catalog.get_writable(db.session, _writer(), uid)
    row: DatasetFile = uploads.complete(
        db.session, current_app.config, ds, uploads.get(db.session, ds, upload_id)
    )
    return jsonify({**row.to_json(), "url": url_for("data_api.download", uid=ds.uid, rel=row.path)}), 201


@bp.delete("/<uid>/uploads/<upload_id>")
@document(summary="Cancel an upload", tags=["datasets"], scopes=["datasets:write"], responses={"204": None})
def cancel_upload(uid: str, upload_id: str) -> ResponseReturnValue:
    ds = catalog.get_writable(db.session, _writer(), uid)
    uploads.abort(db.session, current_app.config, uploads.get(db.session, ds, upload_id))
    return "", 204


_FILE = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
        "url": {"type": "string"},
    },
}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_tag(app, "datasets", "Datasets: catalog, chunked uploads with checksums, downloads.")
    add_schema(app, "DatasetFile", _FILE)
    add_schema(
        app,
        "Dataset",
        {
            "type": "object",
            "properties": {
                "id": {"type": "string", "pattern": "^ds-[0-9a-f]{12}$"},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "license": {"type": "string"},
                "doi": {"type": ["string", "null"]},
                "visibility": {"enum": ["public", "project", "private"]},
                **PROJECT_JSON_SCHEMA,
                "dns_name": {"type": ["string", "null"]},
                "size": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "files": {"type": "array", "items": ref("DatasetFile")},
                "links": {"type": "object"},
            },
        },
    )
    add_schema(
        app,
        "DatasetInput",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "maxLength": 200},
                "description": {"type": "string"},
                "license": {"type": "string", "maxLength": 100},
                "doi": {"type": "string", "maxLength": 200},
                "visibility": {"enum": ["public", "project", "private"]},
                "project": {"type": "string"},
            },
        },
    )
    add_schema(
        app,
        "UploadStart",
        {
            "type": "object",
            "required": ["path", "size", "sha256"],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string", "maxLength": 1024},
                "size": {"type": "integer", "minimum": 0},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "chunk_size": {"type": "integer"},
            },
        },
    )
    add_schema(
        app,
        "Upload",
        {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "path": {"type": "string"},
                "size": {"type": "integer"},
                "sha256": {"type": "string"},
                "chunk_size": {"type": "integer"},
                "chunk_count": {"type": "integer"},
                "received": {"type": "array", "items": {"type": "integer"}},
                "missing": {"type": "array", "items": {"type": "integer"}},
                "links": {"type": "object"},
            },
        },
    )
