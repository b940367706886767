"""API access with access tokens issued by a configured identity provider (JWT, audience checked).

Personal access tokens (``gkp_...``, :mod:`.tokens`) are the kit's own. A gateway may also accept
access tokens that one of its login providers issues, so that a command-line client or another
service that already holds a CILogon, Custos or other OpenID Connect token can call ``/api`` without
a personal access token. This is off unless a provider entry names the audience of our API::

    [identity_providers.cilogon]
    kind = "cilogon"
    client_id = "..."
    api_audience = "https://gateway.example.org/api"   # enables it; must differ from client_id
    api_scopes_claim = "scope"                          # optional; the default

A Bearer token that is not a personal access token is checked as a JWT access token (in the
spirit of RFC 9068, without insisting on its ``typ: at+jwt`` header, which many providers omit):

* its unverified ``iss`` picks the provider (only providers with ``api_audience`` take part);
* the signature is checked with Authlib's joserfc against that provider's JWKS (``jwks_uri`` of its
  discovery document, whose issuer is checked as at login); a ``kid`` we do not know makes us fetch
  the JWKS once more (key rotation), at most once per :data:`JWKS_REFETCH_INTERVAL` seconds;
* only asymmetric algorithms (``none`` and ``HS*`` are refused before any key is looked up);
* ``iss`` must equal the discovery document's issuer, ``aud`` must contain ``api_audience``, ``sub``
  and ``exp`` must be present, ``exp``/``nbf``/``iat`` are checked with
  ``IDENTITY_ID_TOKEN_LEEWAY``;
* the subject maps to an account through a linked identity ``(iss, sub)``: a person must have
  logged in through that provider at least once. Unknown subjects and disabled users get 401;
* the token's scopes come from ``api_scopes_claim`` (a space-separated string, as OAuth's
  ``scope``, or a list) and are intersected with what the user's role allows. Only names of the
  kit's scopes count (``profile``, ``jobs:read``, ``jobs:write``...); an OpenID ``profile`` scope
  therefore grants the kit's ``profile`` (reading ``/api/v1/me``), and nothing else.

Every rejection answers the same 401; the log says why.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import requests
from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import select

from ..db import db
from ..errors import GatewayError, ServiceUnavailable, Unauthorized
from .models import Identity, User
from .providers import ALLOWED_ID_TOKEN_ALGS, IdentityProvider
from .scopes import ROLE_SCOPES
from .tokens import TOKEN_PREFIX, authenticate_token

log = logging.getLogger("gateway_kit.identity")

#: Least seconds between two JWKS fetches caused by unknown ``kid`` values (one provider), so that
#: tokens with made-up key ids cannot make us hammer the provider.
JWKS_REFETCH_INTERVAL = 10.0
DEFAULT_SCOPES_CLAIM = "scope"
INVALID = "The access token is invalid, expired or revoked."


def _reject(why: str) -> Unauthorized:
    return Unauthorized(INVALID, log_message=f"provider access token rejected: {why}")


def api_providers() -> list[IdentityProvider]:
    """The configured providers whose access tokens the API accepts (``api_audience`` set)."""
    found: dict[str, IdentityProvider] = current_app.extensions.get("gateway_kit.identity_providers", {})
    return [p for p in found.values() if p.api_audience]


def authenticate_bearer(token: str) -> tuple[User, frozenset[str]]:
    """The token authenticator (``app.extensions["gateway_kit.token_auth"]``).

    Personal access tokens (``gkp_...``) go to :func:`.tokens.authenticate_token`, anything else
    to :func:`authenticate_provider_token`.
    """
    if token.startswith(TOKEN_PREFIX):
        return authenticate_token(token)
    return authenticate_provider_token(token)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if token.count(".") != 2:
        raise _reject("not a JWT (personal access tokens start with 'gkp_')")
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise _reject(f"malformed JWT: {exc}") from exc
    if not isinstance(claims, dict):
        raise _reject("the JWT payload is not a JSON object")
    return dict(obj.headers()), claims


def _key_set(prov: IdentityProvider, refetch: bool) -> KeySet:
    client = prov.client
    assert client is not None
    try:
        if refetch:
            if time.monotonic() - client.jwks_refetched_at < JWKS_REFETCH_INTERVAL:
                raise _reject(
                    f"{prov.name}: unknown kid (JWKS refetched less than {JWKS_REFETCH_INTERVAL:g} s ago)"
                )
            client.jwks_refetched_at = time.monotonic()
        return KeySet.import_key_set(client.fetch_jwk_set(force=refetch))
    except Unauthorized:
        raise
    except (requests.RequestException, GatewayError, RuntimeError, ValueError, KeyError, JoseError) as exc:
        raise ServiceUnavailable(
            "The identity provider that issued this token cannot be reached right now.",
            log_message=f"{prov.name}: JWKS unavailable: {exc!r}",
        ) from exc


def _scopes(claims: dict[str, Any], claim: str) -> set[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def authenticate_provider_token(token: str) -> tuple[User, frozenset[str]]:
    """Verify a provider-issued JWT access token; return its user and effective scopes."""

    providers = api_providers()
    if not providers:
        raise _reject("not a personal access token, and no provider has api_audience set")
    header, unverified = _unverified(token)
    alg = header.get("alg")
    if alg not in ALLOWED_ID_TOKEN_ALGS:
        raise _reject(f"algorithm {alg!r} is not allowed")
    iss = unverified.get("iss")
    prov = next(
        (p for p in providers if isinstance(iss, str) and p.expected_issuer().rstrip("/") == iss.rstrip("/")),
        None,
    )
    if prov is None:
        raise _reject(f"issuer {str(iss)[:200]!r} is not a provider that issues API tokens")
    client = prov.client
    assert client is not None
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, GatewayError, ValueError) as exc:
        raise ServiceUnavailable(
            "The identity provider that issued this token cannot be reached right now.",
            log_message=f"{prov.name}: discovery failed: {exc!r}",
        ) from exc
    registry = JWSRegistry(algorithms=list(ALLOWED_ID_TOKEN_ALGS), strict_check_header=False)
    try:
        try:
            decoded = jwt.decode(token, _key_set(prov, refetch=False), registry=registry)
        except InvalidKeyIdError:
            decoded = jwt.decode(token, _key_set(prov, refetch=True), registry=registry)
        claims_registry = jwt.JWTClaimsRegistry(
            leeway=int(current_app.config["IDENTITY_ID_TOKEN_LEEWAY"]),
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": prov.api_audience},
            sub={"essential": True},
            exp={"essential": True},
        )
        claims_registry.validate(decoded.claims)
    except JoseError as exc:
        raise _reject(f"{prov.name}: {exc.error}: {exc.description}") from exc
    claims = decoded.claims
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    identity = db.session.scalars(
        select(Identity).where(Identity.issuer == issuer, Identity.subject == subject)
    ).first()
    if identity is None:
        raise _reject(f"{prov.name}: no account is linked to subject {subject[:200]!r}")
    user = db.session.get(User, identity.user_id)
    if user is None or user.disabled:
        raise _reject(f"{prov.name}: the account of subject {subject[:200]!r} is disabled")
    scopes = _scopes(claims, prov.api_scopes_claim)
    return user, frozenset(scopes) & ROLE_SCOPES.get(user.role, frozenset())
