"""The OpenAPI 3.1 document of the API, generated from the code, and its docs page.

Features describe their endpoints where they are written, with :func:`document`::

    @bp.get("/jobs/<int:job_id>")
    @document(summary="Show a job", tags=["jobs"], scopes=["jobs:read"],
              responses={"200": ref("Job")})
    @api_auth("jobs:read")
    def show_job(job_id: int): ...

:func:`build` walks the app's URL map: every rule under ``/api/`` whose view is documented becomes an
operation (path parameters come from the rule's converters). Schemas shared between operations are
added with :func:`add_schema` (in ``init_app``); operations that are not Flask views (or that want
to be written by hand) are added with :func:`add_path`. ``/api/openapi.json`` serves the document;
``/api/docs`` renders it as a page, server-side, with nothing loaded from elsewhere: operations
grouped by tag (internal tags such as the burst agents' apart, at the end), each with a
try-it-out form (``static/api-docs.js``) that sends the request with a personal access token typed
on the page, or with the signed-in session.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from .. import __version__

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION_KEY = "gateway_kit.openapi"
_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_PARAM_TYPES = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "path": {"type": "string"},
    "string": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
}

bp = Blueprint(
    "openapi", __name__, template_folder="templates", static_folder="static", static_url_path="/static/api"
)

#: Tags of endpoints for the kit's own machinery, not for gateway users: shown apart.
INTERNAL_TAGS = frozenset({"agent"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document; validation errors list every field.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}


def ref(name: str) -> dict[str, Any]:
    """``{"$ref": "#/components/schemas/NAME"}``."""
    return {"$ref": f"#/components/schemas/{name}"}


def document(
    *,
    summary: str,
    description: str = "",
    tags: Iterable[str] = (),
    scopes: Iterable[str] = (),
    parameters: Iterable[Mapping[str, Any]] = (),
    request: Mapping[str, Any] | None = None,
    responses: Mapping[str, Any] | None = None,
    anonymous: bool = False,
) -> Callable[[F], F]:
    """Describe an API view for the OpenAPI document.

    :param request: ``{media type: schema}`` of the request body, or the schema of a JSON body.
    :param responses: ``{status: schema or a full response object}``; a value with a
        ``description`` key is taken as a response object, anything else as a JSON schema.
    :param scopes: the token scopes the endpoint needs (listed in its security requirement).
    :param anonymous: credentials are optional (public data answers without them); a request
        that does present credentials must still hold ``scopes``.
    """

    body = dict(request) if request else None
    if body is not None and not all("/" in key for key in body):
        body = {"application/json": body}  # a bare JSON schema: the usual media type

    def deco(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary,
            "description": description,
            "tags": list(tags),
            "scopes": list(scopes),
            "parameters": [dict(p) for p in parameters],
            "request": body,
            "responses": dict(responses or {}),
            "anonymous": anonymous,
        }
        return view

    return deco


def _registry(app: Flask) -> dict[str, Any]:
    reg: dict[str, Any] = app.extensions.setdefault(
        EXTENSION_KEY, {"schemas": {"Problem": PROBLEM_SCHEMA}, "paths": {}, "tags": {}, "hooks": []}
    )
    return reg


def add_schema(app: Flask, name: str, schema: Mapping[str, Any]) -> None:
    _registry(app)["schemas"][name] = dict(schema)


def add_tag(app: Flask, name: str, description: str) -> None:
    _registry(app)["tags"][name] = description


def add_hook(app: Flask, hook: Callable[[Flask], None]) -> None:
    """Run ``hook(app)`` before each build (to add schemas known only once plugins loaded)."""
    _registry(app)["hooks"].append(hook)


def add_path(app: Flask, path: str, method: str, operation: Mapping[str, Any]) -> None:
    """Add a hand-written operation (``path`` in OpenAPI form, ``/api/v1/x/{id}``)."""
    _registry(app)["paths"].setdefault(path, {})[method.lower()] = dict(operation)


def _response(status: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping) and "description" in value:
        return dict(value)
    desc = {"200": "OK", "201": "Created", "202": "Accepted", "204": "No content"}.get(status, "Response")
    if value is None:
        return {"description": desc}
    return {"description": desc, "content": {"application/json": {"schema": value}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": ref("Problem")}}}


def operation_for(endpoint: str, rule: str, method: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    for conv, name in _CONVERTER.findall(rule):
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(_PARAM_TYPES.get(conv or "string", {"type": "string"})),
            }
        )
    params.extend(copy.deepcopy(meta["parameters"]))
    op: dict[str, Any] = {"operationId": endpoint.replace(".", "_"), "summary": meta["summary"]}
    if meta["description"]:
        op["description"] = meta["description"]
    if meta["tags"]:
        op["tags"] = meta["tags"]
    if params:
        op["parameters"] = params
    if meta["request"]:
        op["requestBody"] = {
            "required": True,
            "content": {mt: {"schema": schema} for mt, schema in meta["request"].items()},
        }
    responses = {str(k): _response(str(k), v) for k, v in meta["responses"].items()}
    if not responses:
        responses["200"] = {"description": "OK"}
    if meta["scopes"]:
        responses.setdefault("401", _problem("Not authenticated"))
        responses.setdefault("403", _problem("Missing scope or permission"))
        op["security"] = [{"bearerAuth": meta["scopes"]}, {"sessionCookie": []}]
        if meta.get("anonymous"):
            op["security"].append({})
    if params and any(p["in"] == "path" for p in params):
        responses.setdefault("404", _problem("Not found (or not yours)"))
    if params or meta["request"]:
        # web.request refuses, for every route, what no view could store (before the view runs).
        responses.setdefault(
            "400", _problem("Bad request: a NUL character, or a body that is not strict JSON")
        )
    if meta["request"] or any(p["in"] == "query" for p in params):
        responses.setdefault("422", _problem("Validation failed; every field's error is listed"))
    if meta["request"]:
        responses.setdefault("413", _problem("The body is larger than this endpoint accepts"))
    op["responses"] = responses
    return op


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``."""
    reg = _registry(app)
    for hook in reg["hooks"]:
        hook(app)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/"):
            continue
        meta = getattr(app.view_functions.get(rule.endpoint), "openapi", None)
        if meta is None:
            continue
        path = _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = operation_for(rule.endpoint, rule.rule, method, meta)
    for path, ops in reg["paths"].items():
        paths.setdefault(path, {}).update(copy.deepcopy(ops))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{app.config['GATEWAY_NAME']} API",
            "version": __version__,
            "description": "The gateway's REST API. Authenticate with a personal access "
            "token (Authorization: Bearer ...) or a browser session.",
        },
        "servers": [{"url": app.config["PUBLIC_URL"].rstrip("/") or "/"}],
        "tags": [{"name": n, "description": d} for n, d in sorted(reg["tags"].items())],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(reg["schemas"]),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal access token with the scopes listed.",
                },
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


@bp.get("/api/openapi.json")
@document(
    summary="This document (OpenAPI 3.1)",
    tags=["meta"],
    responses={"200": {"type": "object", "required": ["openapi", "info", "paths"]}},
)
def openapi_json() -> ResponseReturnValue:
    return jsonify(build(current_app._get_current_object()))  # type: ignore[attr-defined]


@bp.get("/api/docs")
@document(
    summary="This document as a page",
    tags=["meta"],
    responses={
        "200": {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    },
)
def docs_page() -> ResponseReturnValue:
    doc = build(current_app._get_current_object())  # type: ignore[attr-defined]
    public, internal = grouped(doc)
    return render_template(
        "api_docs.html", doc=doc, groups=public, internal=internal, schema_name=_schema_name
    )


def grouped(doc: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The document's operations by tag, in the document's tag order (untagged last): the
    public groups and the internal ones (:data:`INTERNAL_TAGS`)."""
    described = {t["name"]: t.get("description", "") for t in doc.get("tags", [])}
    groups: dict[str, dict[str, Any]] = {
        name: {"name": name, "description": text, "operations": []} for name, text in described.items()
    }
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            tag = (op.get("tags") or ["other"])[0]
            group = groups.setdefault(tag, {"name": tag, "description": "", "operations": []})
            group["operations"].append({"path": path, "method": method, "op": op})
    found = [g for g in groups.values() if g["operations"]]
    return [g for g in found if g["name"] not in INTERNAL_TAGS], [
        g for g in found if g["name"] in INTERNAL_TAGS
    ]


def _schema_name(schema: Any) -> str:
    """A short type label for the docs page."""
    if not isinstance(schema, Mapping):
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    typ = schema.get("type", "")
    return "/".join(typ) if isinstance(typ, list) else str(typ)


def init_app(app: Flask) -> None:
    _registry(app)
    add_tag(app, "meta", "The API itself: its version and this document.")
    app.register_blueprint(bp)
