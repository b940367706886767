"""The OpenAPI document is generated from the code and covers every /api/v1 endpoint."""

from __future__ import annotations

from flask import Flask

from gateway_kit.api.openapi import add_path

from .conftest import World


def test_document_covers_every_api_v1_rule(world: World) -> None:
    app: Flask = world.app
    doc = world.client.get("/api/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint.startswith("jobs_api."):
            path = (
                rule.rule.replace("<int:job_id>", "{job_id}")
                .replace("<app_id>", "{app_id}")
                .replace("<path:path>", "{path}")
            )
            assert path in doc["paths"], path
    submit = doc["paths"]["/api/v1/jobs"]["post"]
    assert "422" in submit["responses"] and submit["security"][0]["bearerAuth"] == ["jobs:write"]
    show = doc["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert show["parameters"][0] == {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    schemas = doc["components"]["schemas"]
    assert {"Job", "Problem", "JobSubmission", "ApplicationInputs_echo"} <= set(schemas)
    refs = _refs(doc)
    assert refs <= set(schemas), refs - set(schemas)


def _refs(node: object) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.add(v.rsplit("/", 1)[-1])
            else:
                out |= _refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= _refs(v)
    return out


def test_other_features_can_add_paths_and_docs_page_renders_offline(world: World) -> None:
    add_path(
        world.app,
        "/api/v1/things",
        "get",
        {"summary": "List things", "responses": {"200": {"description": "OK"}}},
    )
    doc = world.client.get("/api/openapi.json").json
    assert doc["paths"]["/api/v1/things"]["get"]["summary"] == "List things"
    html = world.client.get("/api/docs").get_data(as_text=True)
    assert "/api/v1/jobs/{job_id}/cancel" in html and "List things" in html
    assert "http://" not in html.replace("http://localhost", "") and '<script src="http' not in html
