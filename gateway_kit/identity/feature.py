"""The identity feature: providers, login pages, sessions, CSRF, API tokens.

``init_app`` builds the configured identity providers (entry points
``gateway_kit.identity_providers``), registers them with a per-app Authlib ``OAuth`` registry
(``app.extensions["gateway_kit.oauth"]``), and attaches the access layer (token authenticator,
CSRF, session lifetime), the pages and the API.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, has_request_context
from sqlalchemy.exc import SQLAlchemyError

from ..errors import GatewayError
from ..web import add_nav, nav_for
from .access import current_user, init_access
from .api import init_api
from .audit_log import init_audit_log
from .inbox_web import init_inbox
from .providers import build_providers
from .views import init_views


def init_app(app: Flask) -> None:
    # Secure cookies everywhere but plain-HTTP loopback development and tests.
    if app.config["ENV"] == "production" or app.config["PUBLIC_URL"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    oauth = OAuth(app)
    providers = build_providers(app.config["IDENTITY_PROVIDERS"])
    for provider in providers.values():
        provider.register(oauth)
    app.extensions["gateway_kit.oauth"] = oauth
    app.extensions["gateway_kit.identity_providers"] = providers
    init_access(app)
    init_views(app)
    init_api(app)
    init_audit_log(app)
    init_inbox(app)
    add_nav(app, "identity.admin_users", "Users", role="admin", order=90)
    app.context_processor(_layout_user)


log = logging.getLogger("gateway_kit.identity")


def _layout_user() -> dict[str, Any]:
    """The base layout's signed-in user and the navigation they may see."""
    if not has_request_context():  # e.g. a notification rendered by the worker
        return {"current_user": None, "nav": nav_for(None)}
    try:
        user = current_user()
    except (GatewayError, SQLAlchemyError) as exc:
        # An error page while the database is down still renders, as signed out.
        log.debug("layout without a user: %s", exc)
        user = None
    return {"current_user": user, "nav": nav_for(user)}
