"""The complete ``metadata`` (every installed feature's tables), for Alembic and tests.

``from gateway_kit.models import metadata`` imports each installed feature's ``models`` module
(named by its :class:`~gateway_kit.features.Feature` declaration) on first use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData


def load_models() -> MetaData:
    """Import every installed feature's models; the metadata that holds them all."""
    from . import audit, inbox  # noqa: F401 - the core's own tables
    from .db import Base
    from .features import installed

    for feature in installed():
        if feature.models:
            feature.module(feature.models)
    return Base.metadata


def __getattr__(name: str) -> Any:
    if name == "metadata":
        return load_models()
    raise AttributeError(name)
