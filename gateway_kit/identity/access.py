"""Who is asking: the current user, and the decorators that guard pages and API endpoints.

This is the one place every endpoint goes through to learn who the caller is:

* pages use :func:`login_required` / :func:`role_required` (session cookie);
* API endpoints use :func:`api_auth` with the scopes they need; the caller is authenticated by a
  ``Bearer`` personal access token (resolved by the token authenticator registered in
  ``app.extensions["gateway_kit.token_auth"]``) or by the session cookie.

Objects owned by someone else must answer 404 (never their content): use :func:`owned_or_404`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.routing import BuildError

from ..db import db
from ..errors import Forbidden, NotFound, Unauthorized
from .models import User

P = ParamSpec("P")
R = TypeVar("R")

SESSION_USER_KEY = "gk_uid"
#: Scopes a session-authenticated caller holds, by role.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "user": frozenset({"jobs:read", "jobs:write", "datasets:read", "datasets:write", "profile"}),
    "operator": frozenset({"jobs:read", "jobs:write", "datasets:read", "datasets:write",
                           "profile", "operator"}),
    "admin": frozenset({"jobs:read", "jobs:write", "datasets:read", "datasets:write",
                        "profile", "operator", "admin"}),
}


def current_user() -> User | None:
    """The signed-in user of this request, or ``None``. Disabled users count as signed out."""
    if "gk_user" in g:
        cached: User | None = g.gk_user
        return cached
    user: User | None = None
    uid = session.get(SESSION_USER_KEY)
    if uid is not None:
        user = db.session.get(User, uid)
        if user is not None and user.disabled:
            user = None
    g.gk_user = user
    g.gk_scopes = ROLE_SCOPES.get(user.role, frozenset()) if user else frozenset()
    return user


def current_scopes() -> frozenset[str]:
    current_user()
    scopes: frozenset[str] = g.get("gk_scopes", frozenset())
    return scopes


def _login_url() -> str:
    try:
        return url_for("identity.login", next=request.full_path.rstrip("?"))
    except BuildError:
        return url_for("web.home")


def login_required(view: Callable[P, R]) -> Callable[P, Any]:
    """Page decorator: redirect anonymous visitors to the login page."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
        if current_user() is None:
            return redirect(_login_url())
        return view(*args, **kwargs)

    return wrapped


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, Any]]:
    """Page decorator: the user must hold one of ``roles`` (admins hold every role)."""

    def deco(view: Callable[P, R]) -> Callable[P, Any]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
            user = current_user()
            if user is None:
                return redirect(_login_url())
            if user.role not in roles and not user.is_admin:
                raise Forbidden("You do not have permission to see this page.")
            return view(*args, **kwargs)

        return wrapped

    return deco


def authenticate_api_request() -> User:
    """Authenticate an API request by Bearer token or session; raise Unauthorized otherwise."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send 'Authorization: Bearer <token>' with a personal access token.")
        auth = current_app.extensions.get("gateway_kit.token_auth")
        if auth is None:
            raise Unauthorized("Token authentication is not enabled on this gateway.")
        token_user: User
        token_user, scopes = auth(token.strip())
        g.gk_user = token_user
        g.gk_scopes = frozenset(scopes)
        g.gk_auth = "token"
        return token_user
    user = current_user()
    if user is None:
        raise Unauthorized("Sign in or send a personal access token as a Bearer token.")
    g.gk_auth = "session"
    return user


def api_auth(*scopes: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """API decorator: authenticate, then require every scope in ``scopes``."""

    def deco(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            authenticate_api_request()
            missing = set(scopes) - current_scopes()
            if missing:
                raise Forbidden(f"This request needs the scope(s): {', '.join(sorted(missing))}.")
            return view(*args, **kwargs)

        return wrapped

    return deco


def owned_or_404(obj: Any, owner_id: int | None, what: str = "object") -> Any:
    """Return ``obj`` if the current user owns it (or is an operator/admin); else 404."""
    user = current_user()
    if obj is None or user is None or (owner_id != user.id and not user.is_operator):
        raise NotFound(f"No such {what}.")
    return obj
