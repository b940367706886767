"""Tests for Quickstart Gateway: they build the real app through gateway-kit's factory."""

from pathlib import Path

import pytest

from gateway_kit import create_app
from gateway_kit.db import upgrade


@pytest.fixture()
def client(tmp_path):
    app = create_app(
        {
            "ENV": "testing",
            "GATEWAY_NAME": "Quickstart Gateway",
            "PLUGINS": ["quickstart.gateway"],
            "JOBS_APPLICATION_FILES": [str(Path(__file__).parent.parent / "applications")],
        },
        instance_path=str(tmp_path),
    )
    upgrade(app)
    return app.test_client()


def test_home_page_names_the_gateway(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert "Quickstart Gateway" in resp.get_data(as_text=True)


def test_about_page(client):
    resp = client.get("/about")
    assert resp.status_code == 200
    assert "gateway-kit new" in resp.get_data(as_text=True)


def test_settings_file_is_valid():
    import tomllib

    settings = tomllib.loads((Path(__file__).parent.parent / "gateway.toml").read_text())
    assert settings["plugins"] == ["quickstart.gateway"]
