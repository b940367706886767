"""The development OpenID provider: a real OpenID Connect provider for laptops and tests.

**For development only.** It keeps everything in memory, signs with a key made at start-up, reads
users and clients (with plain-text passwords) from a TOML file, and refuses to listen on anything
but loopback unless forced. Built on Authlib's server components: the authorization-code grant
with PKCE and OpenID Connect (``authlib.oidc.core``), a userinfo endpoint, and RP-initiated logout.

Endpoints: ``/.well-known/openid-configuration``, ``/jwks.json``, ``/authorize`` (a username and
password page), ``/token``, ``/userinfo``, ``/logout`` (``end_session_endpoint``).

Use :func:`create_devidp_app` for a WSGI app, :func:`serve_devidp` for a server on a free port,
or ``gateway-kit devidp serve`` from a shell.
"""

from .app import DevIdPConfigError, create_devidp_app, load_users_file, serve_devidp

__all__ = ["DevIdPConfigError", "create_devidp_app", "load_users_file", "serve_devidp"]
