"""Imports every model module so that ``metadata`` is complete (for Alembic and tests).

Feature packages add their models module to :data:`MODEL_MODULES`.
"""

from __future__ import annotations

from .db import Base
from .modules import import_optional

MODEL_MODULES = [
    "gateway_kit.identity.models",
    "gateway_kit.jobs.models",
    "gateway_kit.hosting.models",
    "gateway_kit.certs.models",
    "gateway_kit.burst.models",
    "gateway_kit.data.models",
    "gateway_kit.sessions.models",
]

for _name in MODEL_MODULES:
    import_optional(_name)

metadata = Base.metadata
