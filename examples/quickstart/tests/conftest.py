"""Fixtures: the real app built through gateway-kit's factory, a user with an allocation, a token."""

from pathlib import Path
from typing import Any

import pytest

from gateway_kit import create_app
from gateway_kit.db import db, upgrade

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


def make_user(app: Any, username: str, project: str = "lab", sus: float = 100.0) -> Any:
    """An account in project ``project``, which has an allocation of ``sus`` service units."""
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.jobs import accounting

    with db.session_scope(app) as s:
        user = User(
            username=username, display_name=username.title(), email=f"{username}@example.org", role="user"
        )
        group = Project(name=project, title=project.title())
        s.add_all([user, group])
        s.flush()
        s.add(ProjectMember(project_id=group.id, user_id=user.id))
        accounting.set_allocation(s, group, sus, None, top_up=False, note="test")
    return user


def make_token(app: Any, user: Any, scopes: list[str]) -> str:
    """A personal access token (send it as ``Authorization: Bearer <token>``)."""
    from gateway_kit.identity.tokens import create_token

    with app.test_request_context():
        _row, text = create_token(db.session, db.session.merge(user), "test", scopes, 30)
        db.session.commit()
    return text


@pytest.fixture()
def headers(app: Any) -> dict[str, str]:
    """Request headers of alice (member of project 'lab', 100 SUs) with a jobs token."""
    alice = make_user(app, "alice")
    return {"Authorization": f"Bearer {make_token(app, alice, ['jobs:read', 'jobs:write'])}"}
