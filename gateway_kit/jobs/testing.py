"""Helpers for a gateway's tests of its applications (see also :mod:`gateway_kit.identity.testing`)."""

from __future__ import annotations

from typing import Any

from ..db import db
from ..identity.models import Project, User
from ..identity.testing import make_project, make_user
from . import accounting

__all__ = ["make_member"]


def make_member(app: Any, username: str, project: str = "lab", sus: float = 100.0) -> User:
    """An account that is the only member of a new project ``project`` with ``sus`` service units."""
    user = make_user(app, username)
    project_id = make_project(app, project, {user: "member"})
    with db.session_scope(app) as s:
        group = s.get(Project, project_id)
        assert group is not None
        accounting.set_allocation(s, group, sus, None, top_up=False, note="test")
    return user
