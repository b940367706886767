"""The app factory's body: settings, extensions, features, error rendering."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .db import db
from .errors import ConfigError
from .features import installed
from .settings import alias_values, default_instance_path, load_settings

log = logging.getLogger("gateway_kit")


def build_app(config: Mapping[str, Any] | None, instance_path: str | None) -> Flask:
    inst = Path(instance_path).resolve() if instance_path else default_instance_path()
    loaded = load_settings(inst, config)
    app = Flask("gateway_kit", instance_path=str(inst), instance_relative_config=True)
    app.config.update(loaded.values)
    app.config.update(alias_values(loaded.values))
    app.config["GK_SETTING_SOURCES"] = loaded.sources
    app.config["TESTING"] = loaded.values["ENV"] == "testing"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = loaded.values["ENV"] == "production"
    app.config["MAX_CONTENT_LENGTH"] = None
    inst.mkdir(parents=True, exist_ok=True)
    logging.getLogger("gateway_kit").setLevel(loaded.values["LOG_LEVEL"])

    #: Navigation entries: (endpoint, label, required role or None) -- features append.
    app.extensions["gateway_kit.nav"] = []
    app.extensions["gateway_kit.worker_tasks"] = []

    db.init_app(app)
    # The core's own parts, then each installed feature (after those it requires).
    from . import api, observability, web

    for part in (web, api, observability):
        part.init_app(app)
    for feature in installed():
        feature.run_init_app(app)
    for name in loaded.values["PLUGINS"]:
        try:
            plugin = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(
                f"Setting PLUGINS names module {name!r}, which cannot be imported ({exc}). "
                "Expected an importable module with an init_app(app) function."
            ) from exc
        if not callable(getattr(plugin, "init_app", None)):
            raise ConfigError(f"Setting PLUGINS names module {name!r}, which has no init_app(app).")
        plugin.init_app(app)
    return app
