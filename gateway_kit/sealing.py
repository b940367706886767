"""Secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) under one key from settings.

The key is ``ENCRYPTION_KEY`` (formerly ``CERTS_ENCRYPTION_KEY``, still accepted); when it is
empty a key is derived from ``SECRET_KEY`` with HKDF (a separate purpose label, so the
cookie-signing key itself is never used for encryption). Production refuses the derived key:
rotating ``SECRET_KEY`` would otherwise make every sealed secret unreadable without anyone
noticing until it is next needed. Features seal through :func:`seal` / :func:`unseal` and never
hold a key of their own.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, GatewayError

#: The HKDF label of the derived key (unchanged since certificates first sealed keys with it, so
#: that what they sealed stays readable).
_PURPOSE = b"gateway-kit certs key sealing"


class UnreadableSecret(GatewayError):
    """A sealed value cannot be decrypted with the current key."""

    status = 500
    reason = "key_unreadable"
    title = "Stored secret unreadable"


def _key(config: Mapping[str, Any]) -> str:
    # Raw mappings (not loaded settings) may still carry only the deprecated name.
    return str(config.get("ENCRYPTION_KEY") or config.get("CERTS_ENCRYPTION_KEY") or "")


def _fernet(config: Mapping[str, Any]) -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = _key(config)
    if key:
        return Fernet(key.encode())
    if config.get("ENV") == "production":
        raise ConfigError(
            "Setting ENCRYPTION_KEY must be set in production: it encrypts secrets at rest. Make one "
            "with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'."
        )
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        str(config["SECRET_KEY"]).encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(config: Mapping[str, Any], secret: bytes) -> str:
    """Encrypt ``secret`` for storage."""
    return str(_fernet(config).encrypt(secret).decode())


def unseal(config: Mapping[str, Any], token: str, what: str = "A stored secret") -> bytes:
    """Decrypt a value written by :func:`seal`.

    :param what: names the value in the error ("A stored private key").
    :raises UnreadableSecret: the key changed since the value was sealed.
    """
    from cryptography.fernet import InvalidToken

    try:
        return bytes(_fernet(config).decrypt(token.encode()))
    except InvalidToken as exc:
        raise UnreadableSecret(
            f"{what} cannot be decrypted: ENCRYPTION_KEY (or SECRET_KEY) changed since it was written."
        ) from exc
