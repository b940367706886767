"""The volume service's registration with the local cloud."""

from __future__ import annotations

from gateway_kit.localcloud.core import CatalogEntry, LocalCloud, MicroversionSpec

from .common import MAX_MICROVERSION, MIN_MICROVERSION, bp, render_error
from .effects import _gone


def register(cloud: LocalCloud) -> None:
    cloud.serve(
        bp,
        render_error,
        CatalogEntry("block-storage", "cinder", "/volume/v3/{project_id}"),
        CatalogEntry("volumev3", "cinderv3", "/volume/v3/{project_id}"),
        microversion=MicroversionSpec(
            "volume", MIN_MICROVERSION, MAX_MICROVERSION, aliases=("block-storage",)
        ),
    )
    cloud.add_hook("volume.gone", _gone)
