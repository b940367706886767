"""Identity providers: pluggable OpenID Connect backends picked by a short name.

A backend is a subclass of :class:`IdentityProvider` registered under the entry-point group
``gateway_kit.identity_providers`` (``oidc``, ``cilogon`` and ``custos`` ship with the kit). The
``kind`` of each ``IDENTITY_PROVIDERS`` entry names one; an unknown kind stops start-up and lists
the installed ones.

Lifecycle:

1. At app start-up the feature creates one instance per configured provider,
   ``cls(name, config)``, then calls :meth:`IdentityProvider.register` with the app's Authlib
   ``OAuth`` registry. Nothing is fetched yet: the discovery document is loaded on first use.
2. On ``/login/<name>`` the views call :meth:`authorize_params` for extra authorization-request
   parameters (CILogon ``idphint``...) and let Authlib redirect with PKCE S256, ``state`` and
   ``nonce`` (kept in the signed session cookie).
3. On the callback Authlib exchanges the code and validates the ID token: signature against the
   provider's JWKS (refetched once on an unknown ``kid``), ``iss``, ``aud``, ``azp``, ``exp``/``iat``
   /``nbf`` with ``IDENTITY_ID_TOKEN_LEEWAY`` and ``nonce``; we pin ``iss`` to the discovery
   document's issuer (itself checked against the discovery URL) and refuse ``alg: none`` and
   symmetric algorithms before Authlib sees the token. Userinfo is merged when its ``sub`` matches.
4. :meth:`profile` turns the merged claims into a :class:`Profile` the account policy uses.

Backends keep no state across restarts; the claims of each login are stored on the identity.
"""

from __future__ import annotations

import logging
import os
from abc import ABC
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

from authlib.integrations.flask_client import FlaskOAuth2App, OAuth

from ..errors import ConfigError, GatewayError

log = logging.getLogger("gateway_kit.identity")

ENTRY_POINT_GROUP = "gateway_kit.identity_providers"
#: Only asymmetric signatures are acceptable for ID tokens from a discovery-configured provider:
#: ``none`` would accept anything, and HS* would make the client secret a signing key.
ALLOWED_ID_TOKEN_ALGS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class LoginFailed(GatewayError):
    """The provider's answer failed a check; nothing was stored."""

    status = 400
    reason = "login_failed"
    title = "Login failed"


@dataclass
class Profile:
    """What the account policy needs from one login."""

    provider: str
    issuer: str
    subject: str
    email: str = ""
    email_verified: bool = False
    display_name: str = ""
    idp: str = ""
    groups: list[str] = field(default_factory=list)
    username_hints: list[str] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)


class GatewayOAuthApp(FlaskOAuth2App):  # type: ignore[misc]
    """Authlib's Flask client, with the discovery document checked before use."""

    expected_issuer: str | None = None
    #: ``time.monotonic()`` of the last JWKS fetch forced by an unknown ``kid`` in an API access
    #: token (:mod:`.provider_tokens` throttles those).
    jwks_refetched_at: float = 0.0

    def load_server_metadata(self) -> dict[str, Any]:
        fresh = "_loaded_at" not in self.server_metadata
        metadata: dict[str, Any] = super().load_server_metadata()
        if fresh:
            self._check_metadata(metadata)
        return metadata

    def _check_metadata(self, metadata: dict[str, Any]) -> None:
        issuer = metadata.get("issuer")
        if not issuer:
            self.server_metadata.pop("_loaded_at", None)
            raise LoginFailed("The identity provider's discovery document has no issuer.")
        expected = self.expected_issuer
        if expected is None and self._server_metadata_url:
            # OpenID Connect Discovery 4.3: the issuer must be the discovery URL's prefix.
            expected = self._server_metadata_url.split("/.well-known/")[0]
        if expected is not None and issuer.rstrip("/") != expected.rstrip("/"):
            self.server_metadata.pop("_loaded_at", None)
            raise LoginFailed(
                "The identity provider's discovery document names another issuer.",
                log_message=f"discovery issuer {issuer!r} != expected {expected!r}",
            )
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [
            a for a in offered if a in ALLOWED_ID_TOKEN_ALGS
        ] or ["RS256"]


class IdentityProvider(ABC):  # noqa: B024 - complete by design; backends differ by attributes
    """Base class of login backends; see the module docstring for the lifecycle.

    Subclasses set :attr:`kind`, :attr:`default_scopes` and :attr:`default_discovery_url`, and may
    override :meth:`authorize_params` and :meth:`profile`.
    """

    kind: ClassVar[str] = ""
    default_title: ClassVar[str] = "OpenID Connect"
    default_scopes: ClassVar[tuple[str, ...]] = ("openid", "email", "profile")
    default_discovery_url: ClassVar[str] = ""
    default_groups_claim: ClassVar[str] = "groups"

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.config = config
        self.title: str = config.get("title") or self.default_title
        self.discovery_url: str = config.get("discovery_url") or self.default_discovery_url
        if not self.discovery_url:
            raise ConfigError(f"Setting IDENTITY_PROVIDERS: provider {name!r} needs a discovery_url.")
        scopes = config.get("scopes") or list(self.default_scopes)
        self.scopes: list[str] = scopes.split() if isinstance(scopes, str) else list(scopes)
        if "openid" not in self.scopes:
            raise ConfigError(f"Setting IDENTITY_PROVIDERS: provider {name!r} scopes must include 'openid'.")
        self.groups_claim: str = config.get("groups_claim") or self.default_groups_claim
        #: Audience of our API in this provider's access tokens; empty: the API refuses them
        #: (see :mod:`.provider_tokens`).
        self.api_audience: str = str(config.get("api_audience") or "")
        self.api_scopes_claim: str = str(config.get("api_scopes_claim") or "scope")
        self.client: GatewayOAuthApp | None = None

    def expected_issuer(self) -> str:
        """The issuer this provider must have: ``issuer`` if set, else the discovery URL's prefix."""
        return str(self.config.get("issuer") or self.discovery_url.split("/.well-known/")[0])

    def client_secret(self) -> str | None:
        env = self.config.get("client_secret_env")
        if env:
            return os.environ.get(env)
        secret = self.config.get("client_secret")
        return str(secret) if secret else None

    def register(self, oauth: OAuth) -> None:
        """Register this provider's Authlib client (no network access here)."""
        secret = self.client_secret()
        client = oauth.register(
            self.name,
            client_cls=GatewayOAuthApp,
            client_id=self.config["client_id"],
            client_secret=secret,
            server_metadata_url=self.discovery_url,
            client_kwargs={
                "scope": " ".join(self.scopes),
                "code_challenge_method": "S256",
                # Confidential clients authenticate with the secret; public ones with PKCE only.
                "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
                "default_timeout": 15,
            },
        )
        client.expected_issuer = self.config.get("issuer")
        self.client = client

    def authorize_params(self) -> dict[str, str]:
        """Extra parameters for the authorization request."""
        extra = self.config.get("extra_params") or {}
        return {str(k): str(v) for k, v in extra.items()}

    def profile(self, claims: dict[str, Any]) -> Profile:
        """Turn validated, merged claims into a :class:`Profile`."""
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [g for g in groups.replace(";", ",").split(",") if g]
        name = claims.get("name") or " ".join(
            p for p in (claims.get("given_name"), claims.get("family_name")) if p
        )
        hints = [str(claims[c]) for c in (self.config.get("username_claims") or []) if claims.get(c)]
        return Profile(
            provider=self.name,
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") in (True, "true"),  # not bool("false")
            display_name=str(name or ""),
            idp=str(claims.get("idp") or ""),
            groups=[str(g) for g in groups],
            username_hints=hints,
            claims=dict(claims),
        )


class OIDCProvider(IdentityProvider):
    """Any standards-compliant OpenID Connect provider (set ``discovery_url``)."""

    kind = "oidc"


class CILogonProvider(IdentityProvider):
    """CILogon (https://www.cilogon.org/oidc).

    Asks for ``org.cilogon.userinfo`` so that ``idp``, ``idp_name``, ``eppn``, ``eptid``,
    ``affiliation`` and ``isMemberOf`` are released; ``idphint`` (a list of entityIDs) or
    ``selected_idp`` preselect institutions on CILogon's page.
    """

    kind = "cilogon"
    default_title = "Your institution (CILogon)"
    default_scopes = ("openid", "email", "profile", "org.cilogon.userinfo")
    default_discovery_url = "https://cilogon.org/.well-known/openid-configuration"
    default_groups_claim = "isMemberOf"

    def authorize_params(self) -> dict[str, str]:
        params = super().authorize_params()
        for key in ("idphint", "selected_idp"):
            value = self.config.get(key)
            if value:
                params[key] = ",".join(value) if isinstance(value, list) else str(value)
        return params

    def profile(self, claims: dict[str, Any]) -> Profile:
        prof = super().profile(claims)
        # An institution-asserted e-mail is not taken as verified: any IdP in the federation may
        # assert any address (only an ``email_verified`` claim counts, see accounts.bootstrap_admin).
        if not prof.username_hints and claims.get("eppn"):
            prof.username_hints = [str(claims["eppn"])]
        return prof


class CustosProvider(IdentityProvider):
    """A Custos tenant (https://airavata.apache.org/custos/): its discovery URL, client id and secret.

    Custos serves the discovery document from its API server while the issuer is the tenant's
    Keycloak realm, so set ``issuer`` explicitly when the two differ. Group memberships come in the
    ``groups`` claim (``groups_claim`` to change).
    """

    kind = "custos"
    default_title = "Custos"


def installed_backends() -> dict[str, type[IdentityProvider]]:
    found: dict[str, type[IdentityProvider]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.load()  # a broken plugin must fail loudly, not vanish
    return found


def build_providers(config: dict[str, Any]) -> dict[str, IdentityProvider]:
    """Instantiate every configured provider; unknown kinds raise ConfigError listing the installed."""
    backends = installed_backends()
    out: dict[str, IdentityProvider] = {}
    for name, entry in config.items():
        kind = entry.get("kind")
        cls = backends.get(kind)
        if cls is None:
            raise ConfigError(
                f"Setting IDENTITY_PROVIDERS: provider {name!r} has kind {kind!r}, which is not "
                f"installed; installed kinds: {', '.join(sorted(backends))}."
            )
        out[name] = cls(name, entry)
    return out
