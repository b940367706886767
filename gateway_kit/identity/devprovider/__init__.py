"""The development OpenID provider: a real OpenID Connect provider for laptops and tests.

**For development only.** It keeps everything in memory, signs with a key made at start-up, reads
users and clients (with plain-text passwords) from a TOML file, and refuses to listen on anything
but loopback unless forced. Built on Authlib's server components: the authorization-code grant
with PKCE and OpenID Connect (``authlib.oidc.core``), a userinfo endpoint, and RP-initiated logout.

Access tokens are RFC 9068 JWTs (``typ: at+jwt``, Authlib's ``JWTBearerTokenGenerator``) signed
with the same key as ID tokens: ``iss``, ``sub``, ``client_id``, ``scope``, ``jti``, ``iat``,
``exp`` (one hour) and ``aud`` = the client id plus every RFC 8707 ``resource`` parameter sent to
the token endpoint. A gateway whose provider entry says ``api_audience = "<that resource>"``
accepts them as Bearer tokens on its API. Clients may ask for the kit's API scopes
(``jobs:read``, ``jobs:write``...) next to the OpenID ones.

Endpoints: ``/.well-known/openid-configuration``, ``/jwks.json``, ``/authorize`` (a username and
password page), ``/token``, ``/userinfo``, ``/logout`` (``end_session_endpoint``).

Use :func:`create_devidp_app` for a WSGI app, :func:`serve_devidp` for a server on a free port,
or ``gateway-kit devidp serve`` from a shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import DevIdPConfigError, create_devidp_app, load_users_file, serve_devidp

__all__ = ["DevIdPConfigError", "create_devidp_app", "load_users_file", "serve_devidp"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``gateway-kit demo`` loads this package's demo part (and the CLI
    # its commands) before it needs the provider itself, whose Authlib imports take a while.
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
