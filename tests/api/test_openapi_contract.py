"""Defect 6: /api/openapi.json is complete (every /api route with its methods) and true."""

from __future__ import annotations

import re
from typing import Any

from gateway_kit.identity.tokens import SCOPES
from tests.conftest import login, make_token, make_user


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_every_api_route_is_documented_with_its_methods(app: Any) -> None:
    doc = app.test_client().get("/api/openapi.json").get_json()
    missing = []
    for rule in app.url_map.iter_rules():
        if not (rule.rule == "/api" or rule.rule.startswith("/api/")):
            continue
        path = _openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, missing
    # The identity endpoints the audit found missing, with their schemas.
    assert doc["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Me"
    }
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/tokens"])
    assert "delete" in doc["paths"]["/api/v1/tokens/{token_id}"]


def test_token_scopes_are_an_enum_and_timestamps_date_times(app: Any) -> None:
    schemas = app.test_client().get("/api/openapi.json").get_json()["components"]["schemas"]
    assert schemas["TokenRequest"]["properties"]["scopes"]["items"]["enum"] == list(SCOPES)
    assert schemas["Token"]["properties"]["created_at"]["format"] == "date-time"
    for name in ("Dataset", "Job", "Token"):
        for field, spec in schemas[name]["properties"].items():
            if field.endswith("_at"):
                assert spec.get("format") == "date-time", (name, field)


def test_request_bodies_document_400_413_422(app: Any) -> None:
    doc = app.test_client().get("/api/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if "requestBody" in op:
                assert {"400", "413", "422"} <= set(op["responses"]), (method, path)


def test_projects_are_named_and_their_ids_deprecated(app: Any) -> None:
    schemas = app.test_client().get("/api/openapi.json").get_json()["components"]["schemas"]
    for name in ("Job", "Session", "Dataset"):
        fields = schemas[name]["properties"]
        assert fields["project"]["type"] == ["string", "null"], name
        assert fields["project_id"]["deprecated"] is True, name


def test_timestamps_are_rfc3339_with_an_offset(app: Any) -> None:
    user = make_user(app, "ann")
    auth = {"Authorization": "Bearer " + make_token(app, user, ["profile", "datasets:read"])}
    c = app.test_client()
    tokens = c.get("/api/v1/tokens", headers=auth).get_json()["tokens"]
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    assert tokens and all(stamp.match(t["created_at"]) and stamp.match(t["expires_at"]) for t in tokens)


def test_token_create_names_what_is_wrong(app: Any) -> None:
    user = make_user(app, "ann")
    auth = {"Authorization": "Bearer " + make_token(app, user, ["profile"])}
    c = app.test_client()
    resp = c.post("/api/v1/tokens", json={"name": ["a", "list"], "scopes": ["profile"]}, headers=auth)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert [e["field"] for e in resp.get_json()["errors"]] == ["name"]
    resp = c.post("/api/v1/tokens", json={"name": "t", "scopes": "profile", "colour": 1}, headers=auth)
    assert sorted(e["field"] for e in resp.get_json()["errors"]) == ["colour", "scopes"]
    assert "jobs:read" in resp.get_json()["detail"]  # what would be valid


def test_the_token_form_offers_only_what_the_role_can_grant(app: Any) -> None:
    c = app.test_client()
    login(c, make_user(app, "ann"))
    page = c.get("/profile").get_data(as_text=True)
    assert 'value="jobs:read"' in page and 'value="admin"' not in page and 'value="operator"' not in page
    # A forged form asking for admin: the profile page again, saying why, not a bare error.
    resp = c.post("/profile/tokens", data={"name": "t", "scopes": ["admin"], "days": "7"})
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "your role cannot grant" in text and "Create token" in text
    admin = app.test_client()
    login(admin, make_user(app, "root", role="admin"))
    assert 'value="admin"' in admin.get("/profile").get_data(as_text=True)
