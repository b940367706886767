"""Fixtures: the real app built through gateway-kit's factory, a user with an allocation, a token."""

from pathlib import Path
from typing import Any

import pytest

from gateway_kit import create_app
from gateway_kit.db import upgrade
from gateway_kit.identity.testing import make_token
from gateway_kit.jobs.testing import make_member

HERE = Path(__file__).resolve().parent.parent


@pytest.fixture()
def app(tmp_path: Path) -> Any:
    app = create_app(
        {
            "ENV": "testing",
            "GATEWAY_NAME": "Quickstart Gateway",
            "PLUGINS": ["quickstart.gateway"],
            "JOBS_APPLICATION_FILES": [str(HERE / "applications")],
            "JOBS_POLL_INTERVAL": 0.1,
            "JOBS_LOCAL_GPUS": [],
        },
        instance_path=str(tmp_path / "instance"),
    )
    upgrade(app)
    return app


@pytest.fixture()
def headers(app: Any) -> dict[str, str]:
    """Request headers of alice (member of project 'lab', 100 SUs) with a jobs token."""
    alice = make_member(app, "alice")
    return {"Authorization": f"Bearer {make_token(app, alice, ['jobs:read', 'jobs:write'])}"}
