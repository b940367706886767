"""Request body limits: every body is bounded by its route before a byte of it is read.

Why: a body that nobody bounds is an anonymous memory and CPU lever (the form parser holds
url-encoded fields in memory; multipart files spool to disk). So, as the first ``before_request``
hook, after routing and before anything (the CSRF check, a view) could read the body:

- the matched view's limit is looked up: :func:`body_limit` declares one from a setting (uploads),
  every other route gets ``REQUEST_MAX_KB``; a request that matched no route gets the default too;
- a declared ``Content-Length`` above the limit is refused with 413 at once, unread;
- ``request.max_content_length`` is set to the limit, so a body without a length (chunked
  transfer) stops with 413 when it passes it, and the form parser is bounded by
  ``MAX_FORM_MEMORY_SIZE`` (non-file fields) and ``REQUEST_MAX_FORM_PARTS``.

A view still reads its body only after its caller is authenticated (``api_auth`` and
``login_required`` run first; the CSRF hook reads a form only for a signed-in session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

F = TypeVar("F", bound=Callable[..., Any])
MiB = 1024 * 1024
#: Room for multipart boundaries and the small fields sent along with an upload.
FORM_SLACK = 256 * 1024


def body_limit(setting: str | int, unit: int = MiB, slack: int = FORM_SLACK) -> Callable[[F], F]:
    """Declare that a view accepts a body of up to ``setting`` (times ``unit``) plus ``slack`` bytes.

    ``setting`` names a numeric setting, or is a fixed number of bytes (``unit`` and ``slack``
    then do not apply).

    Place it anywhere under the route decorator (``functools.wraps`` carries it outward)::

        @bp.put("/chunks/<int:n>")
        @api_auth("datasets:write")
        @body_limit("DATA_CHUNK_MB")
        def put_chunk(n): ...
    """

    def deco(view: F) -> F:
        view._gk_body_limit = (setting, unit, slack)  # type: ignore[attr-defined]
        return view

    return deco


def limit_for(view: Callable[..., Any] | None) -> int:
    """The largest body, in bytes, that ``view`` accepts (``REQUEST_MAX_KB`` unless declared)."""
    cfg = current_app.config
    declared = getattr(view, "_gk_body_limit", None)
    if declared is None:
        return int(cfg["REQUEST_MAX_KB"]) * 1024
    setting, unit, slack = declared
    if isinstance(setting, int):
        return setting
    limit: int = int(float(cfg[setting]) * unit) + int(slack)
    return limit


def _human(n: int) -> str:
    return f"{n / MiB:.1f} MB" if n >= MiB else f"{n // 1024} KB"


def enforce_body_limit() -> None:
    """``before_request``: bound this request's body; 413 for a declared length over the bound."""
    view = current_app.view_functions.get(request.endpoint or "") if request.url_rule else None
    limit = limit_for(view)
    # A body without a length (gunicorn's terminated input) is capped by Werkzeug, which refuses
    # any read past the cap, even the one that finds the end of a body of exactly ``limit``
    # bytes (a full upload chunk): one byte of room lets that read see the end, and a body of
    # ``limit`` + 1 bytes is still refused at its next read.
    request.max_content_length = limit + 1
    request.max_form_parts = int(current_app.config["REQUEST_MAX_FORM_PARTS"])
    length = request.content_length
    if length is not None and length > limit:
        hint = ""
        if request.path.startswith("/datasets/") or request.path.startswith("/api/v1/datasets/"):
            hint = " Send larger files through the chunked upload API (/api/v1/datasets/<id>/uploads)."
        raise RequestEntityTooLarge(
            f"The request body is {_human(length)}; this endpoint accepts at most {_human(limit)}.{hint}"
        )


def init_app(app: Flask) -> None:
    # Registered by the first feature (web) so that it runs before every other hook.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["REQUEST_MAX_KB"]) * 1024
    app.config["MAX_FORM_PARTS"] = int(app.config["REQUEST_MAX_FORM_PARTS"])
    app.before_request(enforce_body_limit)
