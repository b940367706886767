"""gateway-kit: build and host science gateways on OpenStack research clouds.

The only way to build the web application is :func:`create_app`; importing this package does
nothing else (no connection is opened, no environment variable is read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the gateway's Flask app.

    :param config: settings overriding every other layer (see :mod:`gateway_kit.settings`).
    :param instance_path: the instance folder (database, uploads, job files); defaults to
        ``$GATEWAY_KIT_INSTANCE`` or ``./instance``.
    :raises gateway_kit.errors.ConfigError: a setting is unknown or invalid.
    """
    from .app import build_app

    return build_app(config, instance_path)
