"""Keep it true: /metrics can be restricted to a token or to networks."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_app


def test_metrics_public_by_default(tmp_path: Path) -> None:
    assert make_app(tmp_path).test_client().get("/metrics").status_code == 200


def test_metrics_token(tmp_path: Path) -> None:
    client = make_app(tmp_path, METRICS_TOKEN="s3cret-scrape-token").test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "METRICS_TOKEN" in refused.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert ok.status_code == 200 and b"gateway_kit_http_requests" in ok.data


def test_metrics_networks(tmp_path: Path) -> None:
    client = make_app(tmp_path, METRICS_ALLOW_NETWORKS=["127.0.0.0/8"]).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.9"}).status_code == 200
    # A client outside the networks (the address is only a WSGI value; nothing is sent to it).
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 403


def test_bad_network_setting_is_named(tmp_path: Path) -> None:
    import pytest

    from gateway_kit.errors import ConfigError

    with pytest.raises(ConfigError, match="METRICS_ALLOW_NETWORKS"):
        make_app(tmp_path, METRICS_ALLOW_NETWORKS=["not-a-network"])
