"""The audit log (core ``gateway_kit.audit``), its page, and the burst console's drain action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway_kit import audit
from gateway_kit.burst.models import BurstInstance
from gateway_kit.db import db
from gateway_kit.errors import Conflict
from tests.conftest import login, make_app, make_user

POOL = {"executor": "burst", "cloud": "local", "image": "cirros", "max_instances": 2}


@pytest.fixture()
def burst_app(tmp_path: Path) -> Any:
    return make_app(tmp_path, JOBS_DESTINATIONS_MAP={"gpu-pool": POOL})


def _entries(app: Any) -> list[tuple[str, str, str, str, str]]:
    return [(e.actor, e.action, e.target, e.outcome, e.detail) for e in audit.entries(app)]


def test_audited_records_success_and_failure_without_internals(app: Any) -> None:
    with audit.audited(app, "grace", "certs.renew", "portal.example.org") as entry:
        entry.detail = "expires 2027-03-01"
    with pytest.raises(Conflict), audit.audited(app, "grace", "certs.revoke", "portal.example.org"):
        raise Conflict("portal.example.org is already revoked.")
    with pytest.raises(RuntimeError), audit.audited(app, "ada", "burst.drain", "gpu"):
        raise RuntimeError("postgresql://user:secret@db/x refused")
    assert _entries(app) == [
        ("ada", "burst.drain", "gpu", "failed", "unexpected error (RuntimeError)"),
        ("grace", "certs.revoke", "portal.example.org", "failed", "portal.example.org is already revoked."),
        ("grace", "certs.renew", "portal.example.org", "ok", "expires 2027-03-01"),
    ]
    assert [e.action for e in audit.entries(app, action="certs.")] == ["certs.revoke", "certs.renew"]
    assert [e.actor for e in audit.entries(app, actor="ada")] == ["ada"]


def test_operator_drains_a_pool_from_the_console_and_it_is_audited(burst_app: Any) -> None:
    with db.session_scope(burst_app) as sess:
        sess.add(BurstInstance(destination="gpu-pool", name="gk-burst-1", flavor="g3.small", state="ready"))
        sess.add(BurstInstance(destination="gpu-pool", name="gk-burst-0", flavor="g3.small", state="deleted"))
    plain, operator = burst_app.test_client(), burst_app.test_client()
    login(plain, make_user(burst_app, "alan"))
    login(operator, make_user(burst_app, "grace", role="operator"))

    # A plain user may neither drain nor read the audit log; nothing is recorded for them.
    assert plain.post("/operator/burst/gpu-pool/drain").status_code == 403
    assert plain.get("/operator/audit").status_code == 403
    # Without the CSRF token the action is refused.
    bare = burst_app.test_client()
    with operator.session_transaction() as s:
        cookie_session = dict(s)
    with bare.session_transaction() as s:
        s.update(cookie_session)
    assert bare.post("/operator/burst/gpu-pool/drain").status_code in (400, 403)
    with db.session_scope(burst_app) as sess:
        assert sess.scalar(select(BurstInstance.state).where(BurstInstance.name == "gk-burst-1")) == "ready"

    page = operator.get("/operator/burst").get_data(as_text=True)
    assert 'action="/operator/burst/gpu-pool/drain"' in page
    resp = operator.post("/operator/burst/gpu-pool/drain", follow_redirects=True)
    assert resp.status_code == 200
    assert "1 instance(s) of gpu-pool draining" in resp.get_data(as_text=True)
    with db.session_scope(burst_app) as sess:
        states = dict(sess.execute(select(BurstInstance.name, BurstInstance.state)).all())
    assert states == {"gk-burst-1": "draining", "gk-burst-0": "deleted"}

    # An unknown pool: 404 with the valid names, recorded as failed.
    resp = operator.post("/operator/burst/nope/drain")
    assert resp.status_code == 404 and "gpu-pool" in resp.get_data(as_text=True)

    assert _entries(burst_app) == [
        (
            "grace",
            "burst.drain",
            "nope",
            "failed",
            "'nope' is not a burst destination (burst destinations: gpu-pool).",
        ),
        ("grace", "burst.drain", "gpu-pool", "ok", "1 instance(s) draining"),
    ]
    log_page = operator.get("/operator/audit?action=burst.").get_data(as_text=True)
    assert 'data-action="burst.drain" data-target="gpu-pool"' in log_page and "grace" in log_page
    assert "No actions recorded that match" in operator.get("/operator/audit?actor=ada").get_data(
        as_text=True
    )


def test_operator_resizes_a_pool_and_the_worker_applies_it(burst_app: Any) -> None:
    from gateway_kit.burst.feature import pools

    plain, operator = burst_app.test_client(), burst_app.test_client()
    login(plain, make_user(burst_app, "alan"))
    login(operator, make_user(burst_app, "grace", role="operator"))
    form = {"min_instances": "1", "max_instances": "5"}
    assert plain.post("/operator/burst/gpu-pool/resize", data=form).status_code == 403
    bad = operator.post("/operator/burst/gpu-pool/resize", data={"min_instances": "3", "max_instances": "2"})
    assert bad.status_code == 400 and "no larger than the maximum" in bad.get_data(as_text=True)
    bad = operator.post("/operator/burst/gpu-pool/resize", data={"min_instances": "x", "max_instances": "2"})
    assert bad.status_code == 400 and "whole numbers" in bad.get_data(as_text=True)
    page = operator.post("/operator/burst/gpu-pool/resize", data=form, follow_redirects=True)
    assert "Pool gpu-pool now keeps 1 to 5 instances" in page.get_data(as_text=True)
    assert "1 to 5 instances (resized by grace; configured 0 to 2)" in page.get_data(as_text=True)

    pool = pools(burst_app)["gpu-pool"]
    assert (pool.policy.min_instances, pool.policy.max_instances) == (0, 2)
    with db.session_scope(burst_app) as sess:
        pool._apply_size(sess)  # what each reconcile pass does first
    assert (pool.policy.min_instances, pool.policy.max_instances) == (1, 5)
    got = [(e.action, e.outcome, e.detail) for e in audit.entries(burst_app, action="burst.resize")]
    assert got[0] == ("burst.resize", "ok", "1 to 5 instances") and [g[1] for g in got[1:]] == [
        "failed",
        "failed",
    ]
