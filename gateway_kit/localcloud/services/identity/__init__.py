"""Keystone v3 for the local cloud (``/identity``).

Password, token and application-credential authentication; tokens that expire (``token_ttl``)
and can be revoked; projects, domains (only ``default``), users, roles, role assignments and
application credentials, with the admin-only operations refused (403) to other users. The
catalog of every token is built from the registered services and the request's Host.
"""

from __future__ import annotations

from . import (
    appcreds,  # noqa: F401  (registers its routes)
    catalog,  # noqa: F401  (registers its routes)
    projects,  # noqa: F401  (registers its routes)
    roles,  # noqa: F401  (registers its routes)
    tokens,  # noqa: F401  (registers its routes)
    users,  # noqa: F401  (registers its routes)
)
from .common import APPCRED, ASSIGNMENT, PROJECT, ROLE, TOKEN, USER, render_error
from .registration import register

__all__ = ["APPCRED", "ASSIGNMENT", "PROJECT", "ROLE", "TOKEN", "USER", "register", "render_error"]
