"""Cinder (block-storage v3) for the local cloud (``/volume/v3/{project_id}``).

Microversions 3.0 to :data:`MAX_MICROVERSION` (3.71) with fields shaped by version (3.13
``group_id``, 3.48 ``shared_targets``/``service_uuid``, 3.61 ``cluster_name``, 3.63
``volume_type_id``, 3.65 ``consumes_quota``...). Volumes (``creating`` -> ``available``,
``attaching`` -> ``in-use`` via Nova, ``detaching`` -> ``available``, ``extending``,
``deleting`` -> gone), snapshots, metadata, volume types (listing), limits and quota sets with
Cinder's 413 ``overLimit`` answers.

Compute calls :func:`reserve`, :func:`attach`, :func:`detach`, :func:`create_for_server` and
:func:`delete_internal` so that volume states follow Nova's attachments.
"""

from __future__ import annotations

from . import (
    admin,  # noqa: F401  (registers its routes)
    snapshots,  # noqa: F401  (registers its routes)
    volumes,  # noqa: F401  (registers its routes)
)
from .common import SNAPSHOT, VOLUME, render_error
from .effects import attach, create_for_server, delete_internal, detach, reserve
from .registration import register

__all__ = [
    "SNAPSHOT",
    "VOLUME",
    "attach",
    "create_for_server",
    "delete_internal",
    "detach",
    "register",
    "render_error",
    "reserve",
]
