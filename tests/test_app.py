from pathlib import Path

from gateway_kit import create_app
from gateway_kit.errors import NotFound


def test_home_page(client) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert "Science Gateway" in resp.get_data(as_text=True)
    assert resp.headers["X-Request-ID"]


def test_no_cdn_assets(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "//cdn" not in html and "https://" not in html.split("<footer")[0]
    css = client.get("/static/gk/gateway-kit.css")
    assert css.status_code == 200


def test_request_id_is_echoed_when_well_formed(client) -> None:
    assert client.get("/", headers={"X-Request-ID": "abcdef123456"}).headers["X-Request-ID"] == "abcdef123456"
    injected = client.get("/", headers={"X-Request-ID": "bad id;x"}).headers["X-Request-ID"]
    assert injected != "bad id;x" and len(injected) == 32


def test_healthz_ok(client) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_503_when_database_is_down(tmp_path: Path) -> None:
    app = create_app(
        {"ENV": "testing", "DATABASE_URL": "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"},
        instance_path=str(tmp_path),
    )
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "unreachable"
    assert "pw" not in resp.get_data(as_text=True)


def test_metrics_prometheus_format(client) -> None:
    client.get("/")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    body = resp.get_data(as_text=True)
    assert 'gateway_kit_http_requests_total{endpoint="web.home",method="GET",status="200"} 1.0' in body


def test_api_errors_are_problem_json(client) -> None:
    resp = client.get("/api/does-not-exist")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    doc = resp.get_json()
    assert doc["status"] == 404 and doc["title"] == "Not Found" and doc["request_id"]


def test_page_errors_are_html(client) -> None:
    resp = client.get("/does-not-exist")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "404 Not Found" in resp.get_data(as_text=True)


def _app_with_failing_routes(tmp_path: Path):
    app = create_app({"ENV": "testing"}, instance_path=str(tmp_path))

    @app.route("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    @app.route("/api/v1/missing")
    def missing():
        raise NotFound("No such job.", log_message="job 7 owned by user 3")

    @app.route("/boom")
    def page_boom():
        raise RuntimeError("secret internals /etc/passwd")

    return app


def test_unexpected_errors_never_leak_a_traceback(tmp_path: Path) -> None:
    c = _app_with_failing_routes(tmp_path).test_client()
    for path in ("/api/v1/boom", "/boom"):
        resp = c.get(path)
        body = resp.get_data(as_text=True)
        assert resp.status_code == 500
        assert "Traceback" not in body and "secret internals" not in body
        assert "request id" in body.lower() or "request_id" in body


def test_gateway_error_shows_user_message_not_log_message(tmp_path: Path) -> None:
    c = _app_with_failing_routes(tmp_path).test_client()
    resp = c.get("/api/v1/missing")
    assert resp.status_code == 404
    doc = resp.get_json()
    assert doc["detail"] == "No such job."
    assert "user 3" not in resp.get_data(as_text=True)
    assert doc["type"].endswith("/not_found")
