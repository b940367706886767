"""The certificates console acts (issue, renew, revoke; audited) and failed orders whose name is gone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway_kit import audit
from gateway_kit.certs import renewal, service
from gateway_kit.certs.errors import ZoneNotOwned
from gateway_kit.certs.models import Certificate, utcnow
from gateway_kit.db import db
from tests.certs.conftest import FOREIGN_ZONE, ZONE, Cloud, Pebble
from tests.conftest import login, make_user


def test_operator_issues_renews_and_revokes_from_the_console(certs_app: Any, pebble: Pebble) -> None:
    name = "console-act." + ZONE.rstrip(".")
    plain, operator = certs_app.test_client(), certs_app.test_client()
    login(plain, make_user(certs_app, "alan"))
    login(operator, make_user(certs_app, "grace", role="operator"))
    assert plain.post("/operator/certificates/issue", data={"names": name}).status_code == 403
    assert plain.post(f"/operator/certificates/{name}/revoke").status_code == 403

    resp = operator.post("/operator/certificates/issue", data={"names": "  "}, follow_redirects=True)
    assert resp.status_code == 400 and "at least one DNS name" in resp.get_data(as_text=True)

    page = operator.post("/operator/certificates/issue", data={"names": name}, follow_redirects=True)
    assert f"Certificate {name} issued" in page.get_data(as_text=True)
    serial = service.show(certs_app, name)["serial"]
    operator.post(f"/operator/certificates/{name}/renew")
    assert service.show(certs_app, name)["serial"] != serial
    page = operator.post(f"/operator/certificates/{name}/revoke", follow_redirects=True)
    assert f"Certificate {name} revoked." in page.get_data(as_text=True)
    info = service.show(certs_app, name)
    assert info["status"] == "revoked" and pebble.status_by_serial(info["serial"]) == "Revoked"
    # A second revoke is refused with the reason, and audited as failed.
    page = operator.post(f"/operator/certificates/{name}/revoke", follow_redirects=True)
    assert "is already revoked" in page.get_data(as_text=True)
    assert operator.post("/operator/certificates/nope.example.org/renew").status_code == 404

    got = [(e.actor, e.action, e.outcome) for e in audit.entries(certs_app, action="certs.")]
    assert got == [
        ("grace", "certs.renew", "failed"),
        ("grace", "certs.revoke", "failed"),
        ("grace", "certs.revoke", "ok"),
        ("grace", "certs.renew", "ok"),
        ("grace", "certs.issue", "ok"),
    ]


def test_failed_order_stops_retrying_once_the_name_is_gone(certs_app: Any, cloud: Cloud) -> None:
    name = "gone." + FOREIGN_ZONE.rstrip(".")  # no zone of this project holds it
    with pytest.raises(ZoneNotOwned):
        service.issue(certs_app, [name])
    assert service.show(certs_app, name)["status"] == "failed"
    with db.session_scope(certs_app) as sess:  # its back-off has passed
        sess.query(Certificate).filter_by(name=name).one().next_attempt_at = utcnow() - timedelta(seconds=1)
    assert name in renewal.due(certs_app)
    renewal.run(certs_app)
    info = service.show(certs_app, name)
    assert info["status"] == service.ABANDONED and info["next_attempt_at"] is None
    assert info["last_result"].startswith("stopped retrying: No DNS zone of this project")
    assert name not in renewal.due(certs_app, now=utcnow() + timedelta(days=365))
