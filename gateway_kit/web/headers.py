"""Browser security headers on every answer: pages, JSON, errors and static files.

Why each one:

- ``Content-Security-Policy``: scripts, styles, images and fonts only from this origin, no inline
  script or style (templates keep theirs in ``static/``), no plugins, no ``<base>`` hijack, and
  ``frame-ancestors 'none'`` so no other page (another port of the same host included) can frame a
  signed-in user's buttons (clickjacking);
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``;
- ``X-Content-Type-Options: nosniff``: an uploaded file is never run as script or style;
- ``Referrer-Policy: same-origin``: URLs (dataset and job ids) do not leak to other sites;
- ``Strict-Transport-Security`` when ``PUBLIC_URL`` is https (``SECURITY_HSTS_SECONDS``);
- ``Cache-Control: no-store`` on every answer except static files and answers whose view made a
  deliberate caching decision (``public``, or ``private`` with validators as dataset downloads
  do): pages and JSON carry a user's data and must not stay in shared or browser caches.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)
STATIC_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _is_static() -> bool:
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")


_STATIC_LOWER = [(key.lower(), key, value) for key, value in STATIC_HEADERS.items()]


def add_security_headers(resp: Response) -> Response:
    """``after_request``: set the headers above (a view's own CSP, if any, is kept)."""
    headers = resp.headers
    # One pass over the answer's headers (not one search per header to add).
    present: dict[str, str] = {}
    for key, value in headers.items():
        present.setdefault(key.lower(), value)
    headers.extend([(key, value) for lower, key, value in _STATIC_LOWER if lower not in present])
    cfg = current_app.config
    hsts = int(cfg.get("SECURITY_HSTS_SECONDS", 0))
    if hsts and str(cfg.get("PUBLIC_URL", "")).lower().startswith("https://"):
        headers["Strict-Transport-Security"] = f"max-age={hsts}; includeSubDomains"
    chosen = present.get("cache-control", "")
    if not _is_static() and "public" not in chosen and "private" not in chosen:
        headers["Cache-Control"] = "no-store"
    return resp


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
