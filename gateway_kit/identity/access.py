"""Who is asking: the current user, and the decorators that guard pages and API endpoints.

This is the one place every endpoint goes through to learn who the caller is.

Pages
    ``@login_required`` (anonymous visitors are redirected to the login page, with ``next``) and
    ``@role_required("operator")`` (admins hold every role; others get 403). ``current_user()``
    returns the signed-in :class:`~gateway_kit.identity.models.User` or ``None``.

API endpoints
    ``@api_auth("jobs:read")`` authenticates by ``Authorization: Bearer <token>`` (resolved by
    ``app.extensions["gateway_kit.token_auth"]``, a callable ``token -> (User, scopes)`` raising
    Unauthorized: a personal access token, or a provider's JWT access token where the provider
    has ``api_audience``, see :mod:`.provider_tokens`) or by the session cookie, then requires
    every listed scope. Session callers hold :data:`ROLE_SCOPES` of their role; token callers the
    token's scopes narrowed to their role.

Ownership
    Objects owned by someone else must answer 404, never their content:
    ``owned_or_404(job, job.owner_id, "job")`` (operators and admins see everything).

CSRF
    Every state-changing request (POST, PUT, PATCH, DELETE) outside ``/api`` must carry the
    session's CSRF token, as a form field ``csrf_token`` (templates: ``<input type="hidden"
    name="csrf_token" value="{{ csrf_token() }}">``) or an ``X-CSRF-Token`` header (JavaScript).
    Under ``/api`` a request with an ``Authorization`` header is exempt (a browser cannot send one
    cross-site without CORS); a session-authenticated API write needs the ``X-CSRF-Token`` header.
    A view that must accept foreign POSTs (a signed webhook) is decorated ``@csrf_exempt``.

Sessions
    :func:`login_user` rotates the session (clears it, new server-side record id, new CSRF token);
    each request checks the record: revoked (logout, user disabled), idle longer than
    ``IDENTITY_SESSION_IDLE_MINUTES`` or older than ``IDENTITY_SESSION_MAX_HOURS`` means signed out.
    :func:`logout_user` ends it; :func:`revoke_sessions` ends every session of a user.

Tests
    ``tests/conftest.py`` offers ``make_user(app, username, role="user")``, ``login(client, user)``
    (signs the test client in and sets its ``X-CSRF-Token`` header for later requests) and
    ``make_token(app, user, scopes) -> str`` (a Bearer token).
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request, Response
from sqlalchemy import update
from werkzeug.routing import BuildError

from ..db import aware, db
from ..errors import Forbidden, NotFound, Unauthorized
from .models import User, UserSession, utcnow
from .scopes import ROLE_SCOPES

P = ParamSpec("P")
R = TypeVar("R")

SESSION_USER_KEY = "gk_uid"
SESSION_ID_KEY = "gk_sid"
CSRF_SESSION_KEY = "gk_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Refresh a session's last_seen_at at most this often (one write a minute, not one per request).
_TOUCH_EVERY = timedelta(seconds=60)


def _session_record_valid(rec: UserSession | None, uid: Any) -> bool:
    if rec is None or rec.revoked_at is not None or rec.user_id != uid:
        return False
    cfg = current_app.config
    now = utcnow()
    if now - aware(rec.created_at) > timedelta(hours=cfg.get("IDENTITY_SESSION_MAX_HOURS", 24)):
        return False
    if now - aware(rec.last_seen_at) > timedelta(minutes=cfg.get("IDENTITY_SESSION_IDLE_MINUTES", 120)):
        return False
    if now - aware(rec.last_seen_at) > _TOUCH_EVERY:
        rec.last_seen_at = now
        db.session.commit()
    return True


def current_user() -> User | None:
    """The signed-in user of this request, or ``None``. Disabled users count as signed out."""
    if "gk_user" in g:
        cached: User | None = g.gk_user
        return cached
    user: User | None = None
    uid = session.get(SESSION_USER_KEY)
    if uid is not None:
        rec = db.session.get(UserSession, str(session.get(SESSION_ID_KEY, "")))
        if _session_record_valid(rec, uid):
            user = db.session.get(User, uid)
        if user is None or user.disabled:
            user = None
            session.pop(SESSION_USER_KEY, None)
            session.pop(SESSION_ID_KEY, None)
    g.gk_user = user
    g.gk_scopes = ROLE_SCOPES.get(user.role, frozenset()) if user else frozenset()
    return user


def current_scopes() -> frozenset[str]:
    current_user()
    scopes: frozenset[str] = g.get("gk_scopes", frozenset())
    return scopes


def login_user(user: User, provider: str = "", id_token: str = "") -> UserSession:
    """Sign ``user`` in on this browser: rotate the session and record it server-side.

    The whole cookie session is cleared first (session fixation: nothing set before login
    survives it), the browser's previous server-side session, if any, is ended (a copy of the old
    cookie must not stay valid), and a new CSRF token is issued. Commits.
    """
    previous = db.session.get(UserSession, str(session.get(SESSION_ID_KEY, "")))
    if previous is not None and previous.revoked_at is None:
        previous.revoked_at = utcnow()
    session.clear()
    rec = UserSession(id=secrets.token_urlsafe(32), user_id=user.id, provider=provider, id_token=id_token)
    db.session.add(rec)
    db.session.commit()
    session[SESSION_USER_KEY] = user.id
    session[SESSION_ID_KEY] = rec.id
    session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    session.permanent = True
    g.gk_user = user
    g.gk_scopes = ROLE_SCOPES.get(user.role, frozenset())
    return rec


def logout_user() -> UserSession | None:
    """End this browser's session (server-side record revoked, cookie cleared); return the record."""
    rec = db.session.get(UserSession, str(session.get(SESSION_ID_KEY, "")))
    if rec is not None and rec.revoked_at is None:
        rec.revoked_at = utcnow()
        db.session.commit()
    session.clear()
    g.gk_user = None
    g.gk_scopes = frozenset()
    return rec


def revoke_sessions(user_id: int) -> None:
    """End every browser session of a user at once (the caller commits)."""
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def csrf_token() -> str:
    """This session's CSRF token (created on first use); the Jinja global ``csrf_token()``."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return str(token)


def csrf_exempt(view: Callable[P, R]) -> Callable[P, R]:
    """Exempt a view from CSRF checks (only for requests authenticated otherwise, e.g. signed)."""
    view._gk_csrf_exempt = True  # type: ignore[attr-defined]
    return view


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    is_api = request.path == "/api" or request.path.startswith("/api/")
    if is_api and request.headers.get("Authorization"):
        return  # not an ambient credential: a cross-site page cannot set this header
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "_gk_csrf_exempt", False):
        return
    sent = request.headers.get(CSRF_HEADER, "")
    expected = session.get(CSRF_SESSION_KEY, "")
    # The form is parsed only for a routed request from a signed-in session: a body is never
    # read before the route and the caller are known (web.bodylimits bounds it in any case).
    # A page restricted to roles the caller lacks is refused here, before its form is read.
    routed = request.routing_exception is None
    if not sent and not is_api and expected and routed and (user := current_user()) is not None:
        _require_role(user, getattr(view, "_gk_roles", ()))
        sent = request.form.get(CSRF_FIELD, "")
    if not (sent and expected and hmac.compare_digest(str(sent), str(expected))):
        raise Forbidden(
            "The form was missing its security token or it has expired. Reload the page and try again.",
            reason="csrf_failed",
            log_message=f"CSRF check failed on {request.method} {request.path}",
        )


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


def _require_role(user: User, roles: tuple[str, ...]) -> None:
    """Raise Forbidden unless ``user`` holds one of ``roles`` (none: anyone; admins hold every role)."""
    if roles and user.role not in roles and not user.is_admin:
        raise Forbidden("You do not have permission to see this page.")


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, Any]]:
    """Page decorator: the user must hold one of ``roles`` (admins hold every role).

    The roles are also left on the view (``_gk_roles``) so that the CSRF check refuses a caller
    without them before it reads the form.
    """

    def deco(view: Callable[P, R]) -> Callable[P, Any]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
            user = current_user()
            if user is None:
                return redirect(_login_url())
            _require_role(user, roles)
            return view(*args, **kwargs)

        wrapped._gk_roles = roles  # type: ignore[attr-defined]
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


class _TokenRequestSession(SecureCookieSession):
    """The cookie session of an API request that carries an ``Authorization`` header: empty, and
    never saved (the token is the credential; the cookie, if the caller sent one, is left as it is)."""


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that API requests with a token skip them: no
    signature check of a cookie they do not use, no cookie in the answer."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        path = request.path
        if (path == "/api" or path.startswith("/api/")) and "Authorization" in request.headers:
            return _TokenRequestSession()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if not isinstance(session, _TokenRequestSession):
            super().save_session(app, session, response)


def init_access(app: Flask) -> None:
    """Attach the token authenticator, CSRF enforcement, the session interface and the session
    lifetime to ``app``."""
    from .provider_tokens import authenticate_bearer

    app.session_interface = SessionInterface()

    app.extensions.setdefault("gateway_kit.token_auth", authenticate_bearer)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.before_request(_check_csrf)
    app.permanent_session_lifetime = timedelta(hours=app.config["IDENTITY_SESSION_MAX_HOURS"])
