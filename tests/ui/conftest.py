"""The portal's pages: the jobs tests' world (users alice, bob, root; project astro)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..jobs.conftest import World


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return World(tmp_path)
