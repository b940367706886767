"""Importing the kit's optional feature modules by name."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_optional(name: str) -> ModuleType | None:
    """Import ``name``; return None when that module (or a package above it) does not exist.

    A missing *dependency* inside an existing module still raises: that is a broken install, not
    an absent feature.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + "."):
            return None
        raise
