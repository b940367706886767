"""Identity settings (login providers, sessions, tokens)."""

from __future__ import annotations

from ..settings import Setting

SETTINGS: list[Setting] = [
    Setting("ADMIN_USERS", list, [], "Usernames or e-mail addresses made admins at login."),
]
