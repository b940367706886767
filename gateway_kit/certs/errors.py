"""Errors of the certificate feature (all :class:`~gateway_kit.errors.GatewayError`)."""

from __future__ import annotations

from ..errors import GatewayError


class CertError(GatewayError):
    """A certificate could not be issued, renewed, revoked or delivered."""

    status = 502
    reason = "certificate_error"
    title = "Certificate error"


class BadName(CertError):
    """A requested name cannot go into a certificate (too long, malformed)."""

    status = 400
    reason = "bad_certificate_name"
    title = "Name not allowed in a certificate"


class ZoneNotOwned(CertError):
    """No Designate zone of the project covers the name, so DNS-01 cannot be answered."""

    status = 400
    reason = "zone_not_owned"
    title = "No DNS zone for this name"


class DnsTimeout(CertError):
    """The challenge TXT record did not become ACTIVE and visible in time."""

    status = 504
    reason = "dns_timeout"
    title = "DNS challenge record not visible"


class AcmeRejected(CertError):
    """The certificate authority refused the account, the order or a challenge."""

    reason = "acme_rejected"
    title = "Certificate authority refused the request"


class DeliveryError(CertError):
    reason = "delivery_failed"
    title = "Certificate delivery failed"
