"""Identity: accounts, projects, roles, login, sessions and API tokens."""

from ..features import Command, Feature

FEATURE = Feature.standard(
    "identity",
    __name__,
    commands=[
        Command(
            "devidp", ".devprovider.cli:devidp", "The development OpenID provider (never for real accounts)."
        )
    ],
    order=10,
)
