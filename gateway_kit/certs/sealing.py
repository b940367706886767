"""Private keys at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings.

The key is ``CERTS_ENCRYPTION_KEY``; when it is empty a key is derived from ``SECRET_KEY`` with
HKDF (a separate purpose label, so the cookie-signing key itself is never used for encryption).
Production refuses the derived key: rotating ``SECRET_KEY`` would otherwise make every stored
private key unreadable without anyone noticing until the next renewal.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigError
from .errors import CertError


def _fernet(config: Mapping[str, Any]) -> Fernet:
    key = str(config.get("CERTS_ENCRYPTION_KEY") or "")
    if key:
        return Fernet(key.encode())
    if config.get("ENV") == "production":
        raise ConfigError(
            "Setting CERTS_ENCRYPTION_KEY must be set in production: it encrypts private keys at "
            "rest. Make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'."
        )
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway-kit certs key sealing"
    ).derive(str(config["SECRET_KEY"]).encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(config: Mapping[str, Any], secret: bytes) -> str:
    """Encrypt ``secret`` (a PEM private key) for storage."""
    return _fernet(config).encrypt(secret).decode()


def unseal(config: Mapping[str, Any], token: str) -> bytes:
    """Decrypt a value written by :func:`seal`."""
    try:
        return _fernet(config).decrypt(token.encode())
    except InvalidToken as exc:
        raise CertError(
            "A stored private key cannot be decrypted: CERTS_ENCRYPTION_KEY (or SECRET_KEY) "
            "changed since it was written.",
            reason="key_unreadable",
        ) from exc
