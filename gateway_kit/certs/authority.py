"""The ACME certificate authority, through the ``acme`` library (RFC 8555; no protocol code here).

:class:`Authority` wraps one directory: account registration (contact e-mail, terms of service),
orders with DNS-01 challenges, finalisation and revocation. Every ``acme``/``requests`` error is
translated into a :class:`~gateway_kit.certs.errors.CertError` with the CA's own detail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from acme import challenges, client, messages
from acme import errors as acme_errors
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.jwk import JWKRSA

from .errors import AcmeRejected, CertError

log = logging.getLogger("gateway_kit.certs")
USER_AGENT = "gateway-kit-certs"


def new_private_key(kind: str) -> bytes:
    """A new private key as PKCS#8 PEM (``ec-p256``, ``ec-p384``, ``rsa-2048``, ``rsa-4096``)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ec-p256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "ec-p384":
        key = ec.generate_private_key(ec.SECP384R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(kind.split("-")[1]))
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _problem(exc: messages.Error) -> str:
    parts = [exc.detail or exc.description or str(exc.typ)]
    for sub in getattr(exc, "subproblems", None) or []:
        ident = getattr(getattr(sub, "identifier", None), "value", "")
        parts.append(f"{ident}: {sub.detail}" if ident else str(sub.detail))
    return "; ".join(p for p in parts if p)


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn acme and HTTP errors raised while doing ``action`` into CertErrors."""
    try:
        yield
    except messages.Error as exc:
        raise AcmeRejected(
            f"The certificate authority refused to {action}: {_problem(exc)}",
            log_message=f"ACME {action}: {exc.typ}: {exc.detail}",
        ) from exc
    except acme_errors.ValidationError as exc:
        details = []
        for authzr in exc.failed_authzrs:
            for challb in authzr.body.challenges:
                if challb.error is not None:
                    details.append(f"{authzr.body.identifier.value}: {_problem(challb.error)}")
        raise AcmeRejected(
            f"The certificate authority could not validate the DNS challenge: "
            f"{'; '.join(details) or 'authorization invalid'}"
        ) from exc
    except acme_errors.TimeoutError as exc:
        raise CertError(
            f"The certificate authority did not finish ({action}) in time.", reason="acme_timeout"
        ) from exc
    except (requests.exceptions.RequestException, acme_errors.ClientError) as exc:
        raise CertError(
            f"Cannot reach the certificate authority to {action}.",
            reason="acme_unreachable",
            log_message=f"ACME {action}: {exc}",
        ) from exc


@dataclass
class Challenge:
    """A DNS-01 challenge to publish: TXT ``value`` at ``_acme-challenge.<identifier>``."""

    identifier: str
    value: str
    challb: messages.ChallengeBody


class Authority:
    """An ACME directory reached with one account key.

    :param directory_url: the directory URL.
    :param account_key_pem: the account's private key (PEM).
    :param ca_bundle: a PEM file to verify the CA's TLS certificate, or ``""`` (system store).
    """

    def __init__(self, directory_url: str, account_key_pem: bytes, ca_bundle: str = "") -> None:
        loaded = serialization.load_pem_private_key(account_key_pem, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise CertError("The ACME account key must be an RSA key.", reason="bad_account_key")
        self.key = JWKRSA(key=loaded)
        self.directory_url = directory_url
        self.net = client.ClientNetwork(self.key, user_agent=USER_AGENT, verify_ssl=ca_bundle or True)  # type: ignore[arg-type]
        with translated("read its directory"):
            directory = client.ClientV2.get_directory(directory_url, self.net)
        self.client = client.ClientV2(directory, self.net)

    @property
    def terms_of_service(self) -> str:
        meta = self.client.directory.meta
        return str(getattr(meta, "terms_of_service", "") or "")

    def register(self, email: str) -> str:
        """Create (or find, for this key) the account; returns its URI."""
        reg = messages.NewRegistration.from_data(email=email or None, terms_of_service_agreed=True)
        with translated("register the account"):
            try:
                regr = self.client.new_account(reg)
            except acme_errors.ConflictError as exc:
                # The key already has an account: reuse it.
                regr = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
                self.net.account = regr
        return str(regr.uri)

    def use_account(self, uri: str) -> None:
        self.net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())

    def order(self, csr_pem: bytes) -> tuple[messages.OrderResource, list[Challenge]]:
        """Place an order; returns it and the DNS-01 challenges still to answer."""
        with translated("accept the order"):
            orderr = self.client.new_order(csr_pem)
        todo: list[Challenge] = []
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue  # authorization reused by the CA
            ident = str(authzr.body.identifier.value)
            challb = next((c for c in authzr.body.challenges if isinstance(c.chall, challenges.DNS01)), None)
            if challb is None:
                raise AcmeRejected(f"The certificate authority offers no DNS-01 challenge for {ident}.")
            value = challb.chall.validation(self.key)
            todo.append(Challenge(ident, str(value), challb))
        return orderr, todo

    def answer(self, todo: list[Challenge]) -> None:
        with translated("accept the challenge answer"):
            for ch in todo:
                self.client.answer_challenge(ch.challb, ch.challb.chall.response(self.key))

    def finish(self, orderr: messages.OrderResource, timeout: float) -> str:
        """Wait for validation and issuance; returns the full chain PEM."""
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        with translated("issue the certificate"):
            orderr = self.client.poll_authorizations(orderr, deadline)
            orderr = self.client.finalize_order(orderr, deadline)
        if not orderr.fullchain_pem:
            raise CertError("The certificate authority returned no certificate.")
        return str(orderr.fullchain_pem)

    def deactivate_pending(self, orderr: messages.OrderResource) -> None:
        """Best effort: give up the order's pending authorizations after a failure."""
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_PENDING:
                with contextlib.suppress(
                    messages.Error, requests.exceptions.RequestException, acme_errors.Error
                ):
                    self.client.deactivate_authorization(authzr)

    def revoke(self, cert_pem: bytes, reason: int = 0) -> None:
        with translated("revoke the certificate"):
            self.client.revoke(x509.load_pem_x509_certificate(cert_pem), reason)


def split_chain(fullchain_pem: str) -> tuple[str, str]:
    """``(leaf PEM, rest of the chain PEM)``."""
    marker = "-----END CERTIFICATE-----"
    head, sep, rest = fullchain_pem.partition(marker)
    return head + sep + "\n", rest.lstrip()


def describe(cert_pem: str) -> dict[str, Any]:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return {
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
    }
