"""Identity: accounts, projects, roles, login, sessions and API tokens."""
