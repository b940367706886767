"""Defect 2: every answer carries the browser security headers; private answers are not cached."""

from __future__ import annotations

from typing import Any

from tests.conftest import login, make_app, make_token, make_user

from .test_body_limits import BODY_METHODS, _sample_url

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _check(resp: Any, where: str) -> None:
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, where
    assert "object-src 'none'" in csp, where
    for key, value in EXPECTED.items():
        assert resp.headers.get(key) == value, (where, key)
    if "/static/" not in where:
        assert resp.headers.get("Cache-Control") == "no-store", where


def test_every_route_answers_with_the_security_headers(app: Any) -> None:
    admin = make_user(app, "root", role="admin")
    signed_in = app.test_client()
    login(signed_in, admin)
    anonymous = app.test_client()
    bearer = {"Authorization": f"Bearer {make_token(app, admin, ['jobs:read', 'datasets:read', 'profile'])}"}
    checked = 0
    for rule in app.url_map.iter_rules():
        url = _sample_url(rule)
        for method in sorted(set(rule.methods or ()) - {"OPTIONS"}):
            for client, headers in ((anonymous, {}), (signed_in, {}), (anonymous, bearer)):
                resp = client.open(url, method=method, headers=headers)
                _check(resp, f"{method} {url} -> {resp.status_code}")
                checked += 1
        if rule.endpoint == "web.static":
            resp = anonymous.get("/static/gk/gateway-kit.css")
            assert resp.status_code == 200
            _check(resp, "/static/gk/gateway-kit.css")
    for method in ("GET", *BODY_METHODS):
        _check(anonymous.open("/no/such/page", method=method), f"{method} 404")
    assert checked > 100


def test_hsts_only_when_the_public_url_is_https(tmp_path: Any) -> None:
    plain = make_app(tmp_path / "a", PUBLIC_URL="http://127.0.0.1:5000").test_client()
    assert "Strict-Transport-Security" not in plain.get("/").headers
    secure = make_app(tmp_path / "b", PUBLIC_URL="https://portal.example.org").test_client()
    for path in ("/", "/api/v1/jobs", "/no/such/page"):
        assert secure.get(path).headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_templates_carry_no_inline_script_or_style() -> None:
    import re
    from pathlib import Path

    import gateway_kit

    package = Path(gateway_kit.__file__).parent
    bad = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=\"|javascript:", re.I)
    templates = [*package.rglob("*.html"), *(package.parent / "examples").rglob("*.html")]
    offenders = [
        f"{p}: {m.group(0)}"
        for p in templates
        if "devprovider" not in p.parts and "localcloud" not in p.parts
        for m in [bad.search(p.read_text())]
        if m
    ]
    assert offenders == []
