"""The identity feature: providers, login pages, sessions, CSRF, API tokens.

``init_app`` builds the configured identity providers (entry points
``gateway_kit.identity_providers``), registers them with a per-app Authlib ``OAuth`` registry
(``app.extensions["gateway_kit.oauth"]``), and attaches the access layer (token authenticator,
CSRF, session lifetime), the pages and the API.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Flask

from ..web import add_nav
from .access import init_access
from .api import init_api
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
    add_nav(app, "identity.admin_users", "Users", role="admin", order=90)
