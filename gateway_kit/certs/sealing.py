"""Private keys at rest, sealed by the core (:mod:`gateway_kit.sealing`, key ``ENCRYPTION_KEY``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import sealing
from ..sealing import seal
from .errors import CertError

__all__ = ["seal", "unseal"]


def unseal(config: Mapping[str, Any], token: str) -> bytes:
    """Decrypt a private key written by :func:`seal`; a changed key is a :class:`CertError`."""
    try:
        return sealing.unseal(config, token, "A stored private key")
    except sealing.UnreadableSecret as exc:
        raise CertError(exc.user_message, reason="key_unreadable") from exc
