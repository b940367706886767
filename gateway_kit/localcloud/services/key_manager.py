"""Barbican v1 (key manager) for the local cloud, under ``/key-manager``: what Octavia's
``TERMINATED_HTTPS`` listeners and ``openstack secret ...`` need.

* ``GET /key-manager`` (300, version list) and ``GET /key-manager/v1/`` (the microversion
  document openstacksdk probes with ``OpenStack-API-Version: key-manager 1.1``);
* secrets: store (``payload`` with ``payload_content_type`` and, for binary content,
  ``payload_content_encoding: base64``), list, metadata, ``/payload``, delete;
* containers: ``generic``, ``rsa`` and ``certificate`` (secret refs named ``certificate``,
  ``private_key``, ``intermediates``, ``private_key_passphrase``), create, list, show, delete;
* orders: ``key`` (a symmetric key: AES, HMAC) and ``asymmetric`` (an RSA key pair as an ``rsa``
  container); ``PENDING`` until the cloud's clock turns them ``ACTIVE``, when the key is made
  (fault injection can make them ``ERROR``); ``certificate`` orders (deprecated) are refused;
* the collections also answer with a trailing slash, as python-barbicanclient sends them.

Secrets and containers belong to the caller's project; another project's answer 404 like
Barbican without ACLs. Payloads are stored base64-encoded in the store. Errors use Barbican's
``{"code", "title", "description"}`` body.

:func:`lookup_ref` resolves a ``secret_ref``/``container_ref`` URL for other services (Octavia).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import flask
from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    MicroversionSpec,
    current_cloud,
    http_title,
    json_response,
    new_id,
    require_token,
)
from gateway_kit.localcloud.rest import Routes

__all__ = ["lookup_ref", "register", "render_barbican_error"]

Doc = dict[str, Any]

SECRET = "keymanager.secret"
CONTAINER = "keymanager.container"

SECRET_TYPES = ("symmetric", "public", "private", "passphrase", "certificate", "opaque")
CONTAINER_TYPES = ("generic", "rsa", "certificate")
CERT_REF_NAMES = ("certificate", "private_key", "private_key_passphrase", "intermediates")


def render_barbican_error(err: ApiError) -> Response:
    """Barbican's error body: ``{"code", "title", "description"}``."""
    title = http_title(err.status)
    return json_response({"code": err.status, "title": title, "description": err.message}, err.status)


def _invalid(schema: str, detail: str, prop: str) -> ApiError:
    return ApiError(
        400, f"Provided object does not match schema '{schema}': {detail}. Invalid property: '{prop}'"
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, "Malformed JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Malformed JSON")
    return body


def _url(path: str) -> str:
    return current_cloud().url("/key-manager/v1" + path)


def _new_doc(auth: AuthContext, **fields: Any) -> Doc:
    """A new resource of the caller's project, created and updated now."""
    now = _now()
    return {
        "id": new_id(),
        "project_id": auth.project_id,
        "creator_id": auth.user_id,
        **fields,
        "created": now,
        "updated": now,
    }


def _created(collection: str, doc: Doc, status: int = 201) -> Response:
    """Barbican's answer to a create: the new resource's reference (``secret_ref``...)."""
    ref = _url(f"/{collection}/{doc['id']}")
    return json_response({f"{collection[:-1]}_ref": ref}, status, {"Location": ref})


def _owned(cloud: LocalCloud, kind: str, doc_id: str, project_id: str, noun: str) -> Doc:
    doc = cloud.get(kind, doc_id)
    if doc is None or doc["project_id"] != project_id:
        raise ApiError(404, f"{noun} not found.")
    return doc


# -- discovery -------------------------------------------------------------------------------


def _version_doc() -> dict[str, Any]:
    return {
        "id": "v1",
        "status": "CURRENT",
        "min_version": "1.0",
        "max_version": "1.1",
        "links": [
            {"rel": "self", "href": _url("/")},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}
        ],
    }


def _versions() -> Response:
    return json_response({"versions": {"values": [_version_doc()]}}, 300)


def _v1() -> Response:
    return json_response({"version": _version_doc()})


# -- secrets -------------------------------------------------------------------------------


def _render_secret(doc: Doc) -> dict[str, Any]:
    return {
        "status": "ACTIVE",
        "secret_type": doc["secret_type"],
        "updated": doc["updated"],
        "name": doc.get("name"),
        "algorithm": doc.get("algorithm"),
        "created": doc["created"],
        "secret_ref": _url(f"/secrets/{doc['id']}"),
        "content_types": {"default": doc["content_type"]} if doc.get("content_type") else {},
        "creator_id": doc["creator_id"],
        "mode": doc.get("mode"),
        "bit_length": doc.get("bit_length"),
        "expiration": doc.get("expiration"),
        "consumers": [],
    }


def _create_secret() -> Response:
    cloud = current_cloud()
    auth = require_token()
    body = _body()
    secret_type = body.get("secret_type") or "opaque"
    if secret_type not in SECRET_TYPES:
        raise _invalid("Secret", f"{secret_type!r} is not one of {list(SECRET_TYPES)}", "secret_type")
    payload = body.get("payload")
    content_type = body.get("payload_content_type")
    encoding = body.get("payload_content_encoding")
    stored: str | None = None
    if payload is not None and payload != "":
        if not isinstance(payload, str):
            raise _invalid("Secret", "payload must be a string", "payload")
        if not content_type:
            raise _invalid(
                "Secret",
                "If 'payload' is supplied, 'payload_content_type' must also be supplied",
                "payload_content_type",
            )
        if encoding not in (None, "base64"):
            raise ApiError(400, f"Invalid payload content encoding: {encoding}")
        if content_type == "application/octet-stream" and encoding != "base64":
            raise _invalid(
                "Secret",
                "payload_content_encoding must be base64 for application/octet-stream",
                "payload_content_encoding",
            )
        if encoding == "base64":
            try:
                base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ApiError(400, "Problem decoding payload") from exc
            stored = payload
        else:
            stored = base64.b64encode(payload.encode("utf-8")).decode("ascii")
    elif payload == "":
        raise _invalid("Secret", "If 'payload' specified, must be non empty", "payload")
    doc = _new_doc(
        auth,
        name=body.get("name"),
        secret_type=secret_type,
        algorithm=body.get("algorithm"),
        bit_length=body.get("bit_length"),
        mode=body.get("mode"),
        expiration=body.get("expiration"),
        content_type=content_type if stored is not None else None,
        payload=stored,
    )
    cloud.put(SECRET, doc)
    return _created("secrets", doc)


def _list_secrets() -> Response:
    docs = _project_docs(SECRET)
    name = request.args.get("name")
    if name:
        docs = [d for d in docs if d.get("name") == name]
    return _listing("secrets", docs, _render_secret)


def _show_secret(secret_id: str) -> Response:
    cloud = current_cloud()
    auth = require_token()
    doc = _owned(cloud, SECRET, secret_id, auth.project_id, "Secret")
    accept = request.headers.get("Accept", "application/json")
    if accept not in ("", "*/*", "application/json") and "json" not in accept:
        return _payload_response(doc, accept)
    return json_response(_render_secret(doc))


def _payload_response(doc: Doc, accept: str | None) -> Response:
    if doc.get("payload") is None:
        raise ApiError(404, "No payload found for this secret.")
    data = base64.b64decode(doc["payload"])
    if accept and accept.split(";")[0].strip() == "text/plain" and _utf8(data):
        # Barbican decodes any stored payload as UTF-8 text when asked for text/plain (what
        # ``openstack secret get --payload`` asks for, whatever the secret was stored as).
        return Response(data, status=200, content_type="text/plain")
    if (
        accept
        and accept not in ("*/*", doc["content_type"])
        and not accept.startswith(doc["content_type"].split(";")[0])
    ):
        raise ApiError(406, f"Wrong payload content-type: {accept}")
    return Response(data, status=200, content_type=doc["content_type"])


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _secret_payload(secret_id: str) -> Response:
    cloud = current_cloud()
    auth = require_token()
    doc = _owned(cloud, SECRET, secret_id, auth.project_id, "Secret")
    return _payload_response(doc, request.headers.get("Accept"))


# -- containers ------------------------------------------------------------------------------


def _render_container(doc: Doc) -> dict[str, Any]:
    return {
        "status": "ACTIVE",
        "updated": doc["updated"],
        "name": doc.get("name"),
        "consumers": [],
        "created": doc["created"],
        "container_ref": _url(f"/containers/{doc['id']}"),
        "creator_id": doc["creator_id"],
        "secret_refs": [
            {"name": r["name"], "secret_ref": _url(f"/secrets/{r['secret_id']}")} for r in doc["secret_refs"]
        ],
        "type": doc["type"],
    }


def _secret_id_from_ref(ref: Any) -> str | None:
    if not isinstance(ref, str) or "/secrets/" not in ref:
        return None
    candidate = ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        uuid.UUID(candidate)
    except ValueError:
        return None
    return candidate


def _create_container() -> Response:
    cloud = current_cloud()
    auth = require_token()
    body = _body()
    ctype = body.get("type")
    if ctype not in CONTAINER_TYPES:
        raise _invalid("Container", f"{ctype!r} is not one of {list(CONTAINER_TYPES)}", "type")
    refs = body.get("secret_refs") or []
    if not isinstance(refs, list):
        raise _invalid("Container", "secret_refs must be a list", "secret_refs")
    stored = []
    for ref in refs:
        if not isinstance(ref, dict) or "secret_ref" not in ref:
            raise _invalid("Container", "secret_ref is required", "secret_refs")
        secret_id = _secret_id_from_ref(ref["secret_ref"])
        if secret_id is None:
            raise ApiError(404, "Secret provided doesn't exist.")
        secret = cloud.get(SECRET, secret_id)
        if secret is None or secret["project_id"] != auth.project_id:
            raise ApiError(404, f"Secret provided for '{ref.get('name')}' doesn't exist.")
        stored.append({"name": ref.get("name"), "secret_id": secret_id})
    if ctype == "certificate":
        names = [r["name"] for r in stored]
        bad = [n for n in names if n not in CERT_REF_NAMES]
        if bad or "certificate" not in names or len(set(names)) != len(names):
            raise _invalid(
                "Container",
                "only 'private_key', 'certificate', 'private_key_passphrase', or 'intermediates' "
                "reference names are allowed for Certificate type, and 'certificate' is required",
                "secret_refs",
            )
    doc = _new_doc(auth, name=body.get("name"), type=ctype, secret_refs=stored)
    cloud.put(CONTAINER, doc)
    return _created("containers", doc)


def _list_containers() -> Response:
    return _listing("containers", _project_docs(CONTAINER), _render_container)


# -- orders ----------------------------------------------------------------------------------

ORDER = "keymanager.order"
ORDER_DONE = "keymanager.order_done"
#: Algorithms and key sizes an order may ask for, per order type.
ORDER_ALGORITHMS: dict[str, dict[str, tuple[int, ...]]] = {
    "key": {
        "aes": (128, 192, 256),
        "hmacsha1": (128, 160, 256),
        "hmacsha256": (256,),
        "hmacsha384": (384,),
        "hmacsha512": (512,),
    },
    "asymmetric": {"rsa": (1024, 2048, 3072, 4096)},
}


def _render_order(doc: Doc) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": doc["type"],
        "meta": doc["meta"],
        "status": doc["status"],
        "sub_status": "Unknown",
        "sub_status_message": "Unknown",
        "order_ref": _url(f"/orders/{doc['id']}"),
        "creator_id": doc["creator_id"],
        "created": doc["created"],
        "updated": doc["updated"],
    }
    if doc.get("secret_id"):
        out["secret_ref"] = _url(f"/secrets/{doc['secret_id']}")
    if doc.get("container_id"):
        out["container_ref"] = _url(f"/containers/{doc['container_id']}")
    if doc["status"] == "ERROR":
        out["error_status_code"] = doc.get("error_status_code", "500")
        out["error_reason"] = doc.get("error_reason", "Process TypeOrder failure seen")
    return out


def _create_order() -> Response:
    cloud = current_cloud()
    auth = require_token()
    body = _body()
    otype = body.get("type")
    if otype not in ORDER_ALGORITHMS:
        raise _invalid("Order", f"{otype!r} is not one of {list(ORDER_ALGORITHMS)}", "type")
    meta = body.get("meta")
    if not isinstance(meta, dict):
        raise _invalid("Order", "'meta' is a required property", "meta")
    algorithm = str(meta.get("algorithm") or "").lower()
    sizes = ORDER_ALGORITHMS[otype].get(algorithm)
    if sizes is None:
        raise _invalid(
            "Order", f"algorithm {algorithm!r} is not one of {list(ORDER_ALGORITHMS[otype])}", "algorithm"
        )
    bit_length = meta.get("bit_length")
    if not isinstance(bit_length, int) or isinstance(bit_length, bool) or bit_length not in sizes:
        raise _invalid("Order", f"bit_length must be one of {list(sizes)} for {algorithm}", "bit_length")
    content_type = meta.get("payload_content_type") or "application/octet-stream"
    if content_type != "application/octet-stream":
        raise _invalid(
            "Order", "payload_content_type must be application/octet-stream", "payload_content_type"
        )
    doc = _new_doc(
        auth,
        type=otype,
        meta={
            "name": meta.get("name"),
            "algorithm": algorithm,
            "bit_length": bit_length,
            "mode": meta.get("mode"),
            "expiration": meta.get("expiration"),
            "payload_content_type": content_type,
        },
        status="PENDING",
        secret_id=None,
        container_id=None,
    )
    cloud.transition(
        ORDER,
        doc,
        {"status": "ACTIVE", "_hook": ORDER_DONE},
        create=True,
        error={"status": "ERROR", "error_status_code": "500", "error_reason": "Injected failure"},
    )
    cloud.put(ORDER, doc)
    return _created("orders", doc, 202)


def _new_secret(order: Doc, secret_type: str, data: bytes, name: str | None) -> Doc:
    meta = order["meta"]
    return {
        "id": new_id(),
        "project_id": order["project_id"],
        "creator_id": order["creator_id"],
        "name": name,
        "secret_type": secret_type,
        "algorithm": meta["algorithm"],
        "bit_length": meta["bit_length"],
        "mode": meta.get("mode"),
        "expiration": meta.get("expiration"),
        "content_type": "application/octet-stream",
        "payload": base64.b64encode(data).decode("ascii"),
        "created": _now(),
        "updated": _now(),
    }


def _order_done(cloud: LocalCloud, kind: str, order: Doc) -> Doc:
    """The order's generation step (when it turns ACTIVE): make its key or key pair."""
    meta = order["meta"]
    if order["type"] == "key":
        secret = _new_secret(order, "symmetric", os.urandom(meta["bit_length"] // 8), meta.get("name"))
        cloud.put(SECRET, secret)
        order["secret_id"] = secret["id"]
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=meta["bit_length"])
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        refs = []
        for ref_name, secret_type, data in (
            ("private_key", "private", private),
            ("public_key", "public", public),
        ):
            secret = _new_secret(order, secret_type, data, meta.get("name"))
            cloud.put(SECRET, secret)
            refs.append({"name": ref_name, "secret_id": secret["id"]})
        container: Doc = {
            "id": new_id(),
            "project_id": order["project_id"],
            "creator_id": order["creator_id"],
            "name": meta.get("name"),
            "type": "rsa",
            "secret_refs": refs,
            "created": _now(),
            "updated": _now(),
        }
        cloud.put(CONTAINER, container)
        order["container_id"] = container["id"]
    order["updated"] = _now()
    return order


def _list_orders() -> Response:
    return _listing("orders", _project_docs(ORDER), _render_order)


# -- what secrets, containers and orders share ---------------------------------------------------


def _project_docs(kind: str) -> list[Doc]:
    """The caller's project's documents of ``kind``."""
    auth = require_token()
    return current_cloud().list(kind, lambda d: d["project_id"] == auth.project_id)


def _listing(collection: str, docs: list[Doc], render: Callable[[Doc], dict[str, Any]]) -> Response:
    """A page of ``docs`` (see :func:`_offset_page`) and their total."""
    page = _offset_page(docs)
    return json_response({collection: [render(d) for d in page], "total": len(docs)})


def _show_owned(kind: str, noun: str, render: Callable[[Doc], dict[str, Any]], doc_id: str) -> Response:
    auth = require_token()
    return json_response(render(_owned(current_cloud(), kind, doc_id, auth.project_id, noun)))


def _delete_owned(kind: str, noun: str, doc_id: str) -> Response:
    cloud = current_cloud()
    auth = require_token()
    doc = _owned(cloud, kind, doc_id, auth.project_id, noun)
    cloud.delete(kind, doc["id"])
    return Response(status=204)


def _offset_page(docs: list[Doc]) -> list[Doc]:
    """Barbican's ``offset``/``limit`` paging (limit 10 by default); bad numbers are a 400."""
    try:
        offset = int(request.args.get("offset", 0))
        limit = int(request.args.get("limit", 10))
    except ValueError as exc:
        raise ApiError(400, "offset and limit must be non-negative integers") from exc
    if offset < 0 or limit < 0:
        raise ApiError(400, "offset and limit must be non-negative integers")
    return docs[offset : offset + limit]


# -- for other services ----------------------------------------------------------------------


def lookup_ref(cloud: LocalCloud, ref: str, project_id: str) -> tuple[str, Doc] | None:
    """Resolve a Barbican ``secret_ref`` or ``container_ref`` URL of ``project_id``.

    :returns: ``("secret", doc)`` or ``("container", doc)`` (a container's ``secret_refs`` hold
        ``secret_id``), or ``None`` when the ref names nothing this project may read.
    """
    if not isinstance(ref, str):
        return None
    path = ref.split("?", 1)[0].rstrip("/")
    parts = path.rsplit("/", 2)
    if len(parts) != 3 or parts[1] not in ("secrets", "containers"):
        return None
    kind = SECRET if parts[1] == "secrets" else CONTAINER
    try:
        uuid.UUID(parts[2])
    except ValueError:
        return None
    doc = cloud.get(kind, parts[2])
    if doc is None or doc["project_id"] != project_id:
        return None
    return ("secret" if kind == SECRET else "container"), doc


def secret_payload(doc: Doc) -> bytes | None:
    """The decoded payload of a secret document (``None`` when it has none)."""
    payload = doc.get("payload")
    return None if payload is None else base64.b64decode(payload)


def register(cloud: LocalCloud) -> None:
    """Register Barbican under ``/key-manager`` (see :mod:`gateway_kit.localcloud.core`)."""
    bp = flask.Blueprint("key_manager", __name__, url_prefix="/key-manager")
    routes = Routes(bp)
    routes.add("", _versions, "GET", name="versions")
    routes.add("/", _versions, "GET", name="versions_slash")
    routes.add("/v1", _v1, "GET", name="v1")
    routes.add("/v1/", _v1, "GET", name="v1_slash")
    routes.add("/v1/secrets", _list_secrets, "GET", name="list_secrets")
    routes.add("/v1/secrets", _create_secret, "POST", name="create_secret")
    routes.add("/v1/secrets/<secret_id>", _show_secret, "GET", name="show_secret")
    routes.add(
        "/v1/secrets/<secret_id>", _delete_owned, "DELETE", args=(SECRET, "Secret"), name="delete_secret"
    )
    routes.add("/v1/secrets/<secret_id>/payload", _secret_payload, "GET", name="secret_payload")
    routes.add("/v1/containers", _list_containers, "GET", name="list_containers")
    routes.add("/v1/containers", _create_container, "POST", name="create_container")
    for collection, kind, noun, render in (
        ("containers", CONTAINER, "Container", _render_container),
        ("orders", ORDER, "Order", _render_order),
    ):
        item = f"/v1/{collection}/<doc_id>"
        routes.add(item, _show_owned, "GET", args=(kind, noun, render), name=f"show_{noun.lower()}")
        routes.add(item, _delete_owned, "DELETE", args=(kind, noun), name=f"delete_{noun.lower()}")
    routes.add("/v1/orders", _list_orders, "GET", name="list_orders")
    routes.add("/v1/orders", _create_order, "POST", name="create_order")
    # python-barbicanclient posts to (and lists) the collections with a trailing slash.
    routes.add("/v1/secrets/", _list_secrets, "GET", name="list_secrets_slash")
    routes.add("/v1/secrets/", _create_secret, "POST", name="create_secret_slash")
    routes.add("/v1/containers/", _list_containers, "GET", name="list_containers_slash")
    routes.add("/v1/containers/", _create_container, "POST", name="create_container_slash")
    routes.add("/v1/orders/", _list_orders, "GET", name="list_orders_slash")
    routes.add("/v1/orders/", _create_order, "POST", name="create_order_slash")
    cloud.add_hook(ORDER_DONE, _order_done)
    cloud.serve(
        bp,
        render_barbican_error,
        ("key-manager", "barbican"),
        microversion=MicroversionSpec("key-manager", "1.0", "1.1"),
    )
