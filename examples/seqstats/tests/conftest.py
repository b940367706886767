"""Fixtures: the real app, built through gateway-kit's factory with this project's gateway.toml."""

from pathlib import Path
from typing import Any

import pytest

from gateway_kit import create_app
from gateway_kit.db import db, upgrade

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


def make_user(app: Any, username: str, project: str = "genomics", sus: float = 1000.0) -> Any:
    """An account in ``project``, which has an allocation of ``sus`` service units."""
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
    from gateway_kit.identity.tokens import create_token

    with app.test_request_context():
        _row, text = create_token(db.session, db.session.merge(user), "test", scopes, 30)
        db.session.commit()
    return text


def login(client: Any, user: Any) -> None:
    """Sign ``client`` in as ``user`` (a browser session, as after the identity provider)."""
    from flask import session

    from gateway_kit.identity.access import login_user

    with client.application.test_request_context():
        login_user(user)
        values = dict(session)
    with client.session_transaction() as sess:
        sess.update(values)


@pytest.fixture()
def alice(app: Any) -> Any:
    return make_user(app, "alice")


@pytest.fixture()
def headers(app: Any, alice: Any) -> dict[str, str]:
    scopes = ["jobs:read", "jobs:write", "datasets:read", "datasets:write"]
    return {"Authorization": f"Bearer {make_token(app, alice, scopes)}"}
