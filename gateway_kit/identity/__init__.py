"""Identity: accounts, projects, roles, login, sessions and API tokens."""

from ..features import Command, Feature

FEATURE = Feature(
    "identity",
    __name__,
    init_app=".feature:init_app",
    settings=".settings",
    models=".models",
    commands=[
        Command(
            "devidp", ".devprovider.cli:devidp", "The development OpenID provider (never for real accounts)."
        )
    ],
    order=10,
)
