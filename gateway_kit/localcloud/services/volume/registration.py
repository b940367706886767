"""The volume service's registration with the local cloud."""

from __future__ import annotations

from gateway_kit.localcloud.core import (
    CatalogEntry,
    LocalCloud,
    MicroversionSpec,
    Service,
)

from .common import MAX_MICROVERSION, MIN_MICROVERSION, bp, render_error
from .effects import _gone


def register(cloud: LocalCloud) -> None:
    cloud.add_service(
        Service(
            name="volume",
            prefix="/volume/v3",
            blueprint=bp,
            catalog=[
                CatalogEntry("block-storage", "cinder", "/volume/v3/{project_id}"),
                CatalogEntry("volumev3", "cinderv3", "/volume/v3/{project_id}"),
            ],
            render_error=render_error,
            microversion=MicroversionSpec(
                "volume", MIN_MICROVERSION, MAX_MICROVERSION, aliases=("block-storage",)
            ),
        )
    )
    cloud.add_hook("volume.gone", _gone)
