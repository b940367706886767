"""The development OpenID provider's Flask app (see the package docstring). For development only."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Flask, Response, jsonify, render_template, request
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import BaseWSGIServer, make_server

from ..tokens import SCOPES as KIT_API_SCOPES

log = logging.getLogger("gateway_kit.devidp")

BANNER = (
    "DEVELOPMENT OpenID provider: in-memory, plain-text demo passwords, throw-away keys. "
    "Never use it for real accounts."
)
CODE_LIFETIME = 600
ACCESS_TOKEN_LIFETIME = 3600
#: OpenID scopes, plus the kit's API scopes so that access tokens can carry them.
SUPPORTED_SCOPES = (
    "openid",
    "email",
    "profile",
    "org.cilogon.userinfo",
    "groups",
    *(s for s in KIT_API_SCOPES if s != "profile"),
)


class DevIdPConfigError(ValueError):
    """The users file is missing, malformed, or the address is not loopback."""


@dataclass
class DevUser:
    username: str
    password: str
    sub: str
    name: str = ""
    email: str = ""
    claims: dict[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.sub


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _same_loopback_uri(registered: str, candidate: str) -> bool:
    """Exact match, except that a loopback URI matches on any port (RFC 8252, section 7.3)."""
    if registered == candidate:
        return True
    r, c = urlsplit(registered), urlsplit(candidate)
    if not (r.hostname and c.hostname and _is_loopback_host(r.hostname)):
        return False
    return (r.scheme, r.hostname, r.path, r.query) == (
        c.scheme,
        c.hostname,
        c.path,
        c.query,
    ) and r.fragment == c.fragment == ""


class StrictS256(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 for every client, confidential ones included (Authlib only forces public ones).

    The provider exists to test relying parties, so it refuses what a careful provider may refuse.
    """

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256."
            )
        super().validate_code_challenge(grant, redirect_uri)


class DevClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, entry: dict[str, Any]) -> None:
        self.client_id: str = entry["client_id"]
        self.client_secret: str = entry.get("client_secret", "")
        self.redirect_uris: list[str] = list(entry.get("redirect_uris", []))
        self.client_metadata = {
            "post_logout_redirect_uris": list(entry.get("post_logout_redirect_uris", [])),
        }

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SUPPORTED_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(_same_loopback_uri(r, redirect_uri) for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret) and secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        if self.client_secret:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: DevUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class AccessToken:
    access_token: str
    client: DevClient
    user: DevUser
    scope: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: DevClient) -> bool:
        return client.client_id == self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> DevUser:
        return self.user

    def get_client(self) -> DevClient:
        return self.client


class Store:
    """Everything the provider remembers, in memory, behind one lock."""

    def __init__(self, users: dict[str, DevUser], clients: dict[str, DevClient]) -> None:
        self.users = users
        self.clients = clients
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.lock = threading.Lock()
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"}, private=True
        )

    def public_jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))


def user_claims(user: DevUser, scope: str) -> UserInfo:
    scopes = set(scope.split())
    info: dict[str, Any] = {"sub": user.sub}
    if "profile" in scopes:
        info.update(name=user.name, preferred_username=user.username)
    if "email" in scopes and user.email:
        info.update(email=user.email, email_verified=True)
    if scopes & {"profile", "org.cilogon.userinfo", "groups"}:
        info.update(user.claims)
    return UserInfo(info)


def resource_indicators(values: list[str]) -> list[str] | None:
    """RFC 8707 ``resource`` parameters: absolute URIs without a fragment; ``None`` if one is not."""
    for value in values:
        parts = urlsplit(value)
        if not parts.scheme or not (parts.netloc or parts.path) or parts.fragment:
            return None
    return list(dict.fromkeys(values))


def load_users_file(path: Path) -> tuple[dict[str, DevUser], dict[str, DevClient]]:
    """Read ``[[users]]`` and ``[[clients]]`` from a TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DevIdPConfigError(f"users file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DevIdPConfigError(f"users file {path} is not valid TOML: {exc}") from exc
    users: dict[str, DevUser] = {}
    for entry in data.get("users", []):
        try:
            username, password = str(entry["username"]), str(entry["password"])
        except KeyError as exc:
            raise DevIdPConfigError(f"users file {path}: each [[users]] needs {exc}") from exc
        known = {"username", "password", "sub", "name", "email"}
        users[username] = DevUser(
            username=username,
            password=password,
            sub=str(entry.get("sub") or f"dev-{username}"),
            name=str(entry.get("name", "")),
            email=str(entry.get("email", "")),
            claims={k: v for k, v in entry.items() if k not in known},
        )
    clients: dict[str, DevClient] = {}
    for entry in data.get("clients", []):
        if not entry.get("client_id") or not entry.get("redirect_uris"):
            raise DevIdPConfigError(f"users file {path}: each [[clients]] needs client_id and redirect_uris")
        clients[entry["client_id"]] = DevClient(entry)
    if not users or not clients:
        raise DevIdPConfigError(f"users file {path} needs at least one [[users]] and one [[clients]]")
    return users, clients


def create_devidp_app(users_file: Path, issuer: str) -> Flask:
    """The provider as a Flask app; ``issuer`` is its external base URL (``http://127.0.0.1:PORT``)."""
    users, clients = load_users_file(users_file)
    issuer = issuer.rstrip("/")
    store = Store(users, clients)
    app = Flask("gateway_kit.identity.devprovider", template_folder="templates")
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 3600}
    app.extensions["devidp.store"] = store

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            data = req.payload.data
            with store.lock:
                store.codes[code] = AuthCode(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri or "",
                    scope=req.payload.scope or "",
                    user=req.user,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    auth_time=int(time.time()),
                    expires_at=time.time() + CODE_LIFETIME,
                )

        def query_authorization_code(self, code: str, client: DevClient) -> AuthCode | None:
            with store.lock:
                item = store.codes.get(code)
            if item and item.client_id == client.client_id and item.expires_at > time.time():
                return item
            return None

        def delete_authorization_code(self, authorization_code: AuthCode) -> None:
            # Single use: a replayed code finds nothing and gets invalid_grant.
            with store.lock:
                store.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: AuthCode) -> DevUser:
            return authorization_code.user

    class DevOpenIDCode(OpenIDCode):  # type: ignore[misc]
        DEFAULT_EXPIRES_IN = 300

        def exists_nonce(self, nonce: str, req: Any) -> bool:
            with store.lock:
                return any(
                    c.nonce == nonce and c.client_id == req.payload.client_id for c in store.codes.values()
                )

        def resolve_client_private_key(self, client: DevClient) -> RSAKey:
            return store.key

        def get_client_algorithm(self, client: DevClient) -> str:
            return "RS256"

        def get_encode_header(self, client: DevClient) -> dict[str, str]:
            return {"alg": "RS256", "kid": str(store.key.kid), "typ": "JWT"}

        def get_client_claims(self, client: DevClient) -> dict[str, Any]:
            return {"iss": issuer, "aud": [client.client_id], "azp": client.client_id}

        def generate_user_info(self, user: DevUser, scope: str) -> UserInfo:
            return user_claims(user, scope)

    class DevUserInfo(UserInfoEndpoint):  # type: ignore[misc]
        def get_issuer(self) -> str:
            return issuer

        def generate_user_info(self, user: DevUser, scope: str) -> UserInfo:
            return user_claims(user, scope)

        def resolve_private_key(self) -> RSAKey:
            return store.key

    class DevEndSession(EndSessionEndpoint):  # type: ignore[misc]
        def get_server_jwks(self) -> dict[str, Any]:
            return store.public_jwks()

        def end_session(self, end_session_request: EndSessionRequest) -> None:
            pass  # no single sign-on session is kept: every authorization asks for the password

        def _is_valid_post_logout_redirect_uri(self, client: DevClient, uri: str) -> bool:
            return any(
                _same_loopback_uri(r, uri) for r in client.client_metadata["post_logout_redirect_uris"]
            )

    class DevAccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
        """Access tokens as RFC 9068 JWTs (``typ: at+jwt``), signed with the provider's key.

        ``aud`` is the client id plus every RFC 8707 ``resource`` sent to the token endpoint, so
        a gateway with ``api_audience = "<resource>"`` accepts the token on its API.
        """

        def get_jwks(self) -> KeySet:
            return KeySet([store.key])

        def get_audiences(self, client: DevClient, user: DevUser | None, scope: str) -> list[str]:
            resources = resource_indicators(request.form.getlist("resource")) or []
            return list(dict.fromkeys([client.client_id, *resources]))

    class DevBearer(BearerTokenValidator):  # type: ignore[misc]
        def authenticate_token(self, token_string: str) -> AccessToken | None:
            with store.lock:
                return store.tokens.get(token_string)

    def save_token(token: dict[str, Any], req: Any) -> None:
        with store.lock:
            store.tokens[token["access_token"]] = AccessToken(
                access_token=token["access_token"],
                client=req.client,
                user=req.user,
                scope=token.get("scope", ""),
                issued_at=time.time(),
                expires_in=int(token.get("expires_in", 3600)),
            )

    server = AuthorizationServer(app, query_client=lambda cid: store.clients.get(cid), save_token=save_token)
    server.register_token_generator(
        "default", DevAccessTokens(issuer, expires_generator=lambda *_: ACCESS_TOKEN_LIFETIME)
    )
    server.register_grant(CodeGrant, [StrictS256(required=True), DevOpenIDCode(require_nonce=True)])
    protector = ResourceProtector()
    protector.register_token_validator(DevBearer())
    server.register_endpoint(DevUserInfo(resource_protector=protector))
    server.register_endpoint(DevEndSession)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Development-Only"] = "true"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.get("/")
    def index() -> str:
        return render_template("devidp/index.html", banner=BANNER, issuer=issuer)

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks.json",
                "end_session_endpoint": f"{issuer}/logout",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": list(SUPPORTED_SCOPES),
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "name",
                    "email",
                    "email_verified",
                    "preferred_username",
                    "groups",
                    "isMemberOf",
                    "idp",
                    "idp_name",
                    "eppn",
                    "affiliation",
                ],
            }
        )

    @app.get("/jwks.json")
    def jwks() -> Response:
        return jsonify(store.public_jwks())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as err:
            # Never redirect to an unverified redirect_uri: show the error here.
            return render_template(
                "devidp/error.html", banner=BANNER, error=err.error, description=err.description
            ), 400
        error = ""
        if request.method == "POST":
            user = store.users.get(request.form.get("username", ""))
            password = request.form.get("password", "")
            if user is not None and secrets.compare_digest(user.password, password):
                return server.create_authorization_response(grant_user=user, grant=grant)
            error = "Unknown username or wrong password."
        return render_template(
            "devidp/login.html",
            banner=BANNER,
            client_id=grant.client.client_id,
            error=error,
            users=sorted(store.users),
        ), (401 if error else 200)

    @app.post("/token")
    def token() -> Any:
        if resource_indicators(request.form.getlist("resource")) is None:
            return jsonify(
                {
                    "error": "invalid_target",
                    "error_description": "resource must be an absolute URI without a fragment (RFC 8707)",
                }
            ), 400
        return server.create_token_response()

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Any:
        return server.create_endpoint_response("userinfo")

    @app.route("/logout", methods=["GET", "POST"])
    def end_session() -> Any:
        return server.create_endpoint_response("end_session") or render_template(
            "devidp/logged_out.html", banner=BANNER
        )

    return app


def serve_devidp(
    users_file: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    force: bool = False,
    public_host: str | None = None,
) -> tuple[BaseWSGIServer, str]:
    """Bind a threaded server (port 0: any free port) and return it with its issuer URL.

    The caller runs ``server.serve_forever()``. Non-loopback addresses are refused unless
    ``force`` (the provider hands out identities to anyone who reads the users file).
    """
    if not _is_loopback_host(host) and not force:
        raise DevIdPConfigError(
            f"refusing to listen on {host}: the development OpenID provider is for loopback only "
            "(pass --force if you really mean to expose it)"
        )
    load_users_file(users_file)  # fail before binding
    srv = make_server(host, port, Flask("placeholder"), threaded=True)
    shown = public_host or (f"[{host}]" if ":" in host else host)
    issuer = urlunsplit(("http", f"{shown}:{srv.server_port}", "", "", ""))
    srv.app = create_devidp_app(users_file, issuer)
    log.warning(BANNER)
    return srv, issuer
