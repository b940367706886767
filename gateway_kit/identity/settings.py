"""Identity settings: login providers, account policy, sessions and API tokens.

Providers are a table, one entry per provider the login page lists::

    [identity_providers.cilogon]
    kind = "cilogon"                      # an installed backend: cilogon, custos, oidc
    title = "Your institution (CILogon)"
    client_id = "cilogon:/client_id/..."
    client_secret = "..."                 # or client_secret_env = "CILOGON_SECRET"
    idphint = ["https://idp.example.edu/idp/shibboleth"]

Claims map to roles (``IDENTITY_ROLE_RULES``: role -> groups) and projects
(``IDENTITY_PROJECT_MAP``: group -> project name); ``IDENTITY_ACCESS_RULES`` allows and denies logins
by provider, institution (``idp``), e-mail domain and group.
"""

from __future__ import annotations

from typing import Any

from ..settings import Setting, at_least, positive

#: Keys a provider entry may have (backends may read more from ``extra``).
PROVIDER_KEYS = {
    "kind",
    "title",
    "client_id",
    "client_secret",
    "client_secret_env",
    "discovery_url",
    "issuer",
    "scopes",
    "idphint",
    "selected_idp",
    "groups_claim",
    "username_claims",
    "extra_params",
    "api_audience",
    "api_scopes_claim",
    "authoritative_email_domains",
}
ACCESS_RULE_KEYS = {"providers", "idps", "email_domains", "groups"}


def _providers(value: Any) -> str | None:
    for name, entry in value.items():
        if not isinstance(entry, dict):
            return f"a table per provider; {name!r} is not a table"
        unknown = set(entry) - PROVIDER_KEYS
        if unknown:
            return (
                f"provider {name!r} has unknown key(s) {', '.join(sorted(unknown))}; "
                f"valid keys: {', '.join(sorted(PROVIDER_KEYS))}"
            )
        if not entry.get("kind"):
            return f"provider {name!r} needs kind = 'cilogon', 'custos' or 'oidc'"
        if not entry.get("client_id"):
            return f"provider {name!r} needs a client_id"
        if not name.replace("-", "").replace("_", "").isalnum():
            return f"provider name {name!r} must be letters, digits, '-' or '_'"
        audience = entry.get("api_audience")
        if audience is not None:
            if not isinstance(audience, str) or not audience.strip():
                return f"provider {name!r}: api_audience must be a non-empty string"
            if audience == entry.get("client_id"):
                return (
                    f"provider {name!r}: api_audience must differ from client_id (ID tokens "
                    "issued to the gateway are addressed to client_id and must not be "
                    "usable as API access tokens)"
                )
        domains = entry.get("authoritative_email_domains")
        if domains is not None and (
            not isinstance(domains, list) or not all(isinstance(d, str) and d.strip() for d in domains)
        ):
            return f"provider {name!r}: authoritative_email_domains must be a list of domains"
        claim = entry.get("api_scopes_claim")
        if claim is not None and (not isinstance(claim, str) or not claim.strip()):
            return f"provider {name!r}: api_scopes_claim must be a claim name"
    return None


def _admin_users(value: Any) -> str | None:
    # Why no usernames: a username is chosen at first login, so whoever logs in first with a
    # listed name would become admin. An e-mail counts only from an authoritative provider.
    for entry in value:
        text = str(entry).strip()
        issuer, sep, subject = text.partition("#")
        if sep and issuer.startswith(("https://", "http://")) and subject:
            continue
        if "@" in text and not sep and "." in text.rsplit("@", 1)[-1]:
            continue
        return (
            f"'issuer#subject' pairs (e.g. 'https://cilogon.org#http://cilogon.org/serverA/users/1234') "
            f"or e-mail addresses in a provider's authoritative_email_domains; {text!r} is neither "
            "(usernames are not accepted: anyone could claim an unused one at first login)"
        )
    return None


def _role_rules(value: Any) -> str | None:
    for role, groups in value.items():
        if role not in ("user", "operator", "admin"):
            return f"roles 'operator' or 'admin' as keys (got {role!r})"
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return f"a list of group names for role {role!r}"
    return None


def _project_map(value: Any) -> str | None:
    if not all(isinstance(v, str) for v in value.values()):
        return "group = 'project-name' pairs"
    return None


def _access_rules(value: Any) -> str | None:
    for section, rules in value.items():
        if section not in ("allow", "deny"):
            return f"sections 'allow' and 'deny' (got {section!r})"
        if not isinstance(rules, dict) or set(rules) - ACCESS_RULE_KEYS:
            return f"'{section}' with lists under {', '.join(sorted(ACCESS_RULE_KEYS))}"
    return None


SETTINGS: list[Setting] = [
    Setting(
        "ADMIN_USERS",
        list,
        [],
        "Accounts made admins at login: 'issuer#subject' pairs, or e-mail addresses verified by a "
        "provider whose authoritative_email_domains hold their domain (never usernames). "
        "See auth/README.md.",
        validate=_admin_users,
    ),
    Setting(
        "IDENTITY_PROVIDERS",
        dict,
        {},
        "Login providers: name -> {kind = cilogon|custos|oidc, client_id, client_secret, "
        "discovery_url, scopes, idphint, api_audience, api_scopes_claim, ...}. "
        "See auth/README.md.",
        secret=True,
        validate=_providers,
    ),
    Setting(
        "IDENTITY_ROLE_RULES",
        dict,
        {},
        "Role -> list of groups (CILogon isMemberOf, Custos groups) that grant it at login.",
    ),
    Setting(
        "IDENTITY_PROJECT_MAP",
        dict,
        {},
        "Group -> project name: members of the group join the project at login.",
        validate=_project_map,
    ),
    Setting(
        "IDENTITY_ACCESS_RULES",
        dict,
        {},
        "Who may log in: {allow = {providers, idps, email_domains, groups}, deny = {...}}; "
        "deny wins; an empty allow admits everyone.",
        validate=_access_rules,
    ),
    Setting(
        "IDENTITY_USERNAME_CLAIMS",
        list,
        ["preferred_username", "eppn", "email", "name"],
        "Claims tried in order to derive a new account's username (the part before '@'); "
        "collisions get a numeric suffix.",
    ),
    Setting(
        "IDENTITY_SESSION_IDLE_MINUTES",
        int,
        120,
        "Sign a browser session out after this many minutes without a request.",
        validate=positive(),
    ),
    Setting(
        "IDENTITY_SESSION_MAX_HOURS",
        int,
        24,
        "Sign a browser session out this many hours after login, active or not.",
        validate=positive(),
    ),
    Setting(
        "IDENTITY_TOKEN_MAX_DAYS",
        int,
        365,
        "Longest lifetime of a personal access token, in days.",
        validate=positive(),
    ),
    Setting(
        "IDENTITY_TOKEN_DEFAULT_DAYS",
        int,
        30,
        "Lifetime of a personal access token when none is given, in days.",
        validate=positive(),
    ),
    Setting(
        "IDENTITY_ID_TOKEN_LEEWAY",
        int,
        60,
        "Clock-skew leeway in seconds when checking ID token exp/iat/nbf.",
        validate=at_least(0),
    ),
    Setting(
        "IDENTITY_PROVIDER_LOGOUT",
        bool,
        True,
        "Also end the session at the provider (end_session_endpoint) on logout.",
    ),
]
