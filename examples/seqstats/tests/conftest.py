"""Fixtures: the real app, built through gateway-kit's factory with this project's gateway.toml."""

from pathlib import Path
from typing import Any

import pytest

from gateway_kit import create_app
from gateway_kit.db import upgrade
from gateway_kit.identity.testing import make_token
from gateway_kit.jobs.testing import make_member

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "data" / "sample.fasta"


@pytest.fixture()
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # This project's own gateway.toml, read by the kit's settings loader as in production.
    monkeypatch.setenv("GATEWAY_KIT_CONFIG", str(ROOT / "gateway.toml"))
    app = create_app(
        {"ENV": "testing", "JOBS_POLL_INTERVAL": 0.1, "JOBS_LOCAL_GPUS": [], "JOBS_LOCAL_CPUS": 4},
        instance_path=str(tmp_path / "instance"),
    )
    upgrade(app)
    return app


@pytest.fixture()
def alice(app: Any) -> Any:
    return make_member(app, "alice", "genomics", 1000.0)


@pytest.fixture()
def headers(app: Any, alice: Any) -> dict[str, str]:
    scopes = ["jobs:read", "jobs:write", "datasets:read", "datasets:write"]
    return {"Authorization": f"Bearer {make_token(app, alice, scopes)}"}
