"""The hosting suite's fixtures (a local cloud over HTTP, its control API, a migrated app)."""

from tests.hosting.conftest import control, hosting_app, localcloud

__all__ = ["control", "hosting_app", "localcloud"]
