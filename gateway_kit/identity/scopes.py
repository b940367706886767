"""The scopes each role holds: what a session caller may do, and the most a token may carry.

A session-authenticated caller holds :data:`ROLE_SCOPES` of their role; a personal access token or
a provider's bearer token holds the scopes it was given, intersected with its owner's role scopes
(so a token never outranks its owner).
"""

from __future__ import annotations

#: Scopes a session-authenticated caller holds, by role.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "user": frozenset({"jobs:read", "jobs:write", "datasets:read", "datasets:write", "profile"}),
    "operator": frozenset(
        {"jobs:read", "jobs:write", "datasets:read", "datasets:write", "profile", "operator"}
    ),
    "admin": frozenset(
        {"jobs:read", "jobs:write", "datasets:read", "datasets:write", "profile", "operator", "admin"}
    ),
}
