"""The certificates feature: console page, ``/metrics`` gauge and the renewal worker task."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..identity.access import role_required
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
