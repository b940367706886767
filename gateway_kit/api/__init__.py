"""The JSON API under ``/api``: a parent blueprint that feature blueprints nest under.

Errors under ``/api`` answer ``application/problem+json`` (see :mod:`gateway_kit.errorpages`).
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from .. import __version__
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/")
@document(
    summary="The API's name, version and versions offered",
    tags=["meta"],
    responses={
        "200": {
            "type": "object",
            "required": ["name", "version", "api"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "api": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
)
def index() -> ResponseReturnValue:
    return jsonify({"name": "gateway-kit", "version": __version__, "api": ["/api/v1"]})


def init_app(app: Flask) -> None:
    # Feature modules register their API blueprints on the app with url_prefix "/api/v1/...".
    from . import openapi

    app.register_blueprint(bp)
    openapi.init_app(app)
