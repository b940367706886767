"""The certificates feature: console page, ``/metrics`` gauge and the renewal worker task."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import BadRequest, GatewayError
from ..identity.access import role_required
from ..identity.audit_log import audited_action, console_action
from ..observability import metrics_registry
from ..web import add_nav
from ..worker import WorkerTask, register_task
from . import renewal, service

bp = Blueprint("certs", __name__, template_folder="templates")

METRIC = "gateway_kit_certificate_days_to_expiry"


@bp.route("/operator/certificates")
@role_required("operator")
def certificates_page() -> Any:
    certs = service.list_certificates(current_app._get_current_object())  # type: ignore[attr-defined]
    return render_template(
        "certs/certificates.html", certs=certs, renew_before=current_app.config["CERTS_RENEW_BEFORE_DAYS"]
    )


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def _back() -> ResponseReturnValue:
    return redirect(url_for("certs.certificates_page"))


@bp.post("/operator/certificates/issue")
@role_required("operator")
def issue_action() -> ResponseReturnValue:
    names = [n for n in re.split(r"[\s,]+", request.form.get("names", "")) if n]
    if not names:
        raise BadRequest("Give at least one DNS name, e.g. portal.example.org (several: space-separated).")
    try:
        with audited_action("certs.issue", " ".join(names)[:255]) as entry:
            out = service.issue(_app(), names)
            entry.detail = f"expires {out.not_after:%Y-%m-%d}" if out.not_after else ""
    except GatewayError as exc:
        flash(f"Certificate for {', '.join(names)} not issued: {exc.user_message}", "error")
        return _back()
    flash(f"Certificate {out.name} issued for {', '.join(out.names)}.", "success")
    return _back()


@bp.post("/operator/certificates/<name>/renew")
@role_required("operator")
def renew_action(name: str) -> ResponseReturnValue:
    with console_action("certs.renew", name, f"{name} not renewed") as done:
        out = service.renew(_app(), name, trigger="console")
        done.entry.detail = f"expires {out.not_after:%Y-%m-%d}" if out.not_after else ""
    if not done.failed:
        flash(f"Certificate {name} renewed.", "success")
    return _back()


@bp.post("/operator/certificates/<name>/revoke")
@role_required("operator")
def revoke_action(name: str) -> ResponseReturnValue:
    with console_action("certs.revoke", name, f"{name} not revoked") as done:
        service.revoke(_app(), name)
    if not done.failed:
        flash(f"Certificate {name} revoked.", "success")
    return _back()


class DaysToExpiry(Collector):
    """Days until each certificate expires, read from the database at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            METRIC, "Days until the certificate expires (negative: expired)", labels=["name", "status"]
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for cert in service.list_certificates(self.app):
            if cert["days_left"] is not None and cert["status"] != "revoked":
                family.add_metric([cert["name"], cert["status"]], round(cert["days_left"], 3))
        yield family


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "certs.certificates_page", "Certificates", role="operator", order=80)
    metrics_registry(app).register(DaysToExpiry(app))
    register_task(
        app, WorkerTask("certs.renew", float(app.config["CERTS_RENEW_CHECK_INTERVAL"]), renewal.run)
    )
