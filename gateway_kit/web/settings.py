"""Web settings: request body limits, browser security headers and who may read ``/metrics``."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..settings import Setting, at_least, positive


def _networks(value: Any) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            return f"a list of addresses or networks such as '127.0.0.1' or '10.0.0.0/8' ({item!r} is not)"
    return None


SETTINGS: list[Setting] = [
    Setting(
        "REQUEST_MAX_KB",
        int,
        1024,
        "Largest request body, in KB, for an endpoint that declares no limit of its own (forms, "
        "JSON); larger bodies are refused with 413 before they are read. File uploads have their "
        "own limits (JOBS_MAX_UPLOAD_MB, DATA_CHUNK_MB, the chunked upload API).",
        validate=positive(),
    ),
    Setting(
        "REQUEST_MAX_FORM_PARTS",
        int,
        1000,
        "Most fields and files one form submission may carry (more is refused with 413).",
        validate=positive(),
    ),
    Setting(
        "SECURITY_HSTS_SECONDS",
        int,
        31536000,
        "max-age of Strict-Transport-Security, sent when PUBLIC_URL is https (0: never sent).",
        validate=at_least(0),
    ),
    Setting(
        "METRICS_TOKEN",
        str,
        "",
        "If set, /metrics answers only requests with 'Authorization: Bearer <this value>' "
        "(or from METRICS_ALLOW_NETWORKS); empty with no networks: /metrics is public.",
        secret=True,
    ),
    Setting(
        "METRICS_ALLOW_NETWORKS",
        list,
        [],
        "Client addresses or networks (CIDR) that may read /metrics without METRICS_TOKEN, "
        "e.g. ['127.0.0.1/32', '10.0.0.0/8']; empty with no token: /metrics is public.",
        validate=_networks,
    ),
]
