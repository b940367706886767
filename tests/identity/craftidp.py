"""A test-only OpenID provider that issues deliberately broken ID tokens on demand.

A real provider cannot be made to sign an expired token, a token for another audience or an
``alg: none`` token when asked, so this one does exactly that: the authorization ``code`` names the
defect (``<mode>.<nonce>``). Discovery, JWKS and the token endpoint are real HTTP.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from werkzeug.serving import make_server

CLIENT_ID = "craft-client"
CLIENT_SECRET = "craft-client-secret-0123456789"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class CraftIdP:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-a"}, private=True)
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "key-b"}, private=True)
        self.published = [self.key]
        self.jwks_fetches = 0
        self.app = Flask("craftidp")
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self._routes()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": "oidc",
            "title": "Crafted",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "discovery_url": f"{self.issuer}/.well-known/openid-configuration",
            **extra,
        }

    def claims(self, the_nonce: str, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "sub": "crafted-user",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": the_nonce,
            "name": "Crafted User",
            "email": "crafted@example.org",
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def id_token(self, mode: str, nonce: str) -> str:
        now = int(time.time())
        sign = lambda claims, key=self.key: jwt.encode(  # noqa: E731
            {"alg": "RS256", "kid": key.kid}, claims, key
        )
        if mode == "ok":
            return sign(self.claims(nonce))
        if mode == "wrong_nonce":
            return sign(self.claims("not-the-nonce"))
        if mode == "missing_nonce":
            return sign(self.claims(nonce, nonce=None))
        if mode == "expired":
            return sign(self.claims(nonce, iat=now - 3600, exp=now - 1800))
        if mode == "not_yet_valid":
            return sign(self.claims(nonce, nbf=now + 1800))
        if mode == "issued_in_future":
            return sign(self.claims(nonce, iat=now + 1800, exp=now + 3600))
        if mode == "wrong_aud":
            return sign(self.claims(nonce, aud="someone-else"))
        if mode == "other_azp":
            return sign(self.claims(nonce, aud=[CLIENT_ID, "someone-else"], azp="someone-else"))
        if mode == "wrong_iss":
            return sign(self.claims(nonce, iss="https://evil.example"))
        if mode == "alg_none":
            return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(self.claims(nonce))}."
        if mode == "hs256_with_client_secret":
            key = OctKey.import_key(CLIENT_SECRET)
            return jwt.encode({"alg": "HS256"}, self.claims(nonce), key, algorithms=["HS256"])
        if mode == "tampered":
            header, _payload, sig = sign(self.claims(nonce)).split(".")
            forged = _b64(self.claims(nonce, sub="admin-user"))
            return f"{header}.{forged}.{sig}"
        if mode == "unknown_kid":
            return sign(self.claims(nonce), key=self.other_key)
        if mode == "no_sub":
            return sign(self.claims(nonce, sub=None))
        raise ValueError(mode)

    def _routes(self) -> None:
        app = self.app

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks.json",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    # a hostile document advertising every algorithm, none included
                    "id_token_signing_alg_values_supported": ["none", "HS256", "RS256"],
                }
            )

        @app.get("/jwks.json")
        def jwks() -> Any:
            self.jwks_fetches += 1
            return jsonify({"keys": [k.as_dict(private=False) for k in self.published]})

        @app.post("/token")
        def token() -> Any:
            mode, _, nonce = request.form["code"].partition(".")
            if mode == "no_id_token":
                return jsonify({"access_token": "at", "token_type": "Bearer", "expires_in": 60})
            return jsonify(
                {
                    "access_token": "at",
                    "token_type": "Bearer",
                    "expires_in": 60,
                    "id_token": self.id_token(mode, nonce),
                }
            )

    def stop(self) -> None:
        self.server.shutdown()
