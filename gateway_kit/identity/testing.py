"""Helpers for a gateway's tests: accounts, projects and tokens written straight to the database of
an app built by ``create_app`` (no identity provider involved), and a test client signed in.

::

    from gateway_kit.identity.testing import login, make_token, make_user

    def test_my_page(app):
        client = app.test_client()
        login(client, make_user(app, "alice"))
        assert client.get("/my-page").status_code == 200

    def test_my_api(app):
        token = make_token(app, make_user(app, "bob"), ["jobs:read"])
        ...  # send it as ``Authorization: Bearer <token>``
"""

from __future__ import annotations

from typing import Any

from flask import session

from ..db import db
from .access import CSRF_HEADER, login_user
from .models import Project, ProjectMember, User
from .tokens import create_token

__all__ = ["login", "make_project", "make_token", "make_user"]


def make_user(app: Any, username: str, role: str = "user", **fields: Any) -> User:
    """An account called ``username`` with the gateway role ``role`` (other columns in ``fields``)."""
    with db.session_scope(app) as s:
        user = User(
            username=username,
            display_name=fields.pop("display_name", username.title()),
            email=fields.pop("email", f"{username}@example.org"),
            role=role,
            **fields,
        )
        s.add(user)
    return user


def make_project(app: Any, name: str, members: dict[Any, str], title: str = "") -> int:
    """A project with ``members`` (user -> role in the project); returns its id."""
    with db.session_scope(app) as s:
        project = Project(name=name, title=title or name.title())
        s.add(project)
        s.flush()
        for user, role in members.items():
            s.add(ProjectMember(project_id=project.id, user_id=user.id, role=role))
        return int(project.id)


def login(client: Any, user: Any) -> str:
    """Sign ``client`` in as ``user``, as after the identity provider; later requests carry the
    CSRF header. Returns the CSRF token."""
    with client.application.test_request_context():
        login_user(user)
        values = dict(session)
    with client.session_transaction() as sess:
        sess.clear()
        sess.update(values)
    client.environ_base["HTTP_" + CSRF_HEADER.upper().replace("-", "_")] = values["gk_csrf"]
    return str(values["gk_csrf"])


def make_token(app: Any, user: Any, scopes: list[str], days: int = 30) -> str:
    """A personal access token for ``user`` (send it as ``Authorization: Bearer <token>``)."""
    with app.test_request_context():
        owner = db.session.merge(user)
        _row, text = create_token(db.session, owner, "test token", scopes, days)
        db.session.commit()
    return text
