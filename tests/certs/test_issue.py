"""Issue, renew and revoke against the local cloud's Designate and a real Pebble."""

from __future__ import annotations

from typing import Any

from cryptography import x509

from gateway_kit.certs import service
from tests.certs.conftest import ZONE, Cloud, Pebble

PORTAL = "portal." + ZONE.rstrip(".")


def _verify_chain(cert_pem: str, chain_pem: str, root_pem: bytes) -> x509.Certificate:
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    root = x509.load_pem_x509_certificate(root_pem)
    issuer = leaf
    for ca in chain:
        issuer.verify_directly_issued_by(ca)
        issuer = ca
    issuer.verify_directly_issued_by(root)
    return leaf


def test_issue_name_and_wildcard_then_renew_and_revoke(certs_app: Any, cloud: Cloud, pebble: Pebble) -> None:
    out = service.issue(certs_app, [PORTAL, "*." + PORTAL])
    assert out.name == PORTAL and out.names == [PORTAL, "*." + PORTAL]
    info = service.show(certs_app, PORTAL)
    assert info["status"] == "valid" and info["days_left"] > 80
    from gateway_kit.certs.models import Certificate
    from gateway_kit.db import db

    with db.session_scope(certs_app) as sess:
        cert = sess.query(Certificate).one()
        cert_pem, chain_pem, sealed = cert.cert_pem, cert.chain_pem, cert.key_sealed
    assert "PRIVATE KEY" not in sealed  # stored encrypted
    leaf = _verify_chain(cert_pem, chain_pem, pebble.root_pem())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {PORTAL, "*." + PORTAL}
    cloud.wait_no_challenge_records()

    renewed = service.renew(certs_app, PORTAL)
    info2 = service.show(certs_app, PORTAL)
    assert info2["serial"] != info["serial"] and renewed.not_after is not None
    assert [a["ok"] for a in info2["attempts"]] == [True, True]
    cloud.wait_no_challenge_records()

    service.revoke(certs_app, PORTAL, reason=4)
    assert service.show(certs_app, PORTAL)["status"] == "revoked"
    assert pebble.status_by_serial(info2["serial"]) == "Revoked"
