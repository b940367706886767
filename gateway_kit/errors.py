"""One exception tree for the whole kit.

Every error the kit raises on purpose is a :class:`GatewayError`. Each carries:

* ``status`` -- the HTTP status the web layer answers with;
* ``reason`` -- a short machine-readable reason (``"not_found"``, ``"quota_exceeded"``...), used as
  the problem type's last path segment in ``application/problem+json`` answers;
* ``user_message`` -- a sentence safe to show to any user (never a secret, never a traceback);
* ``log_message`` -- a richer message for the operator's log (defaults to the user message).

Third-party exceptions are translated at module boundaries (``raise CloudError(...) from exc``).
The API renders errors as problem+json, pages as HTML, the CLI as :class:`click.ClickException`.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base of every error the kit raises on purpose."""

    status: int = 500
    reason: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        user_message: str | None = None,
        *,
        log_message: str | None = None,
        status: int | None = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.user_message = user_message or self.title
        self.log_message = log_message or self.user_message
        if status is not None:
            self.status = status
        if reason is not None:
            self.reason = reason
        #: Additional members for the problem document (e.g. ``{"errors": [...]}``).
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(self.log_message)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Render as an RFC 9457 problem document."""
        doc: dict[str, Any] = {
            "type": f"https://gateway-kit.dev/problems/{self.reason}",
            "title": self.title,
            "status": self.status,
            "detail": self.user_message,
        }
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


class ConfigError(GatewayError):
    """A setting has a bad value, an unknown key, or the config file cannot be read.

    The CLI exits with status 2 on this error.
    """

    status = 500
    reason = "config_error"
    title = "Configuration error"


class BadRequest(GatewayError):
    status = 400
    reason = "bad_request"
    title = "Bad request"


class ValidationError(GatewayError):
    """Input failed validation; ``errors`` lists every field's problem."""

    status = 422
    reason = "validation_error"
    title = "Validation failed"

    def __init__(self, errors: list[dict[str, str]], user_message: str | None = None) -> None:
        self.errors = errors
        summary = user_message or "; ".join(f"{e.get('field', '?')}: {e.get('message', '')}" for e in errors)
        super().__init__(summary, extra={"errors": errors})


class Unauthorized(GatewayError):
    status = 401
    reason = "unauthorized"
    title = "Authentication required"


class Forbidden(GatewayError):
    status = 403
    reason = "forbidden"
    title = "Forbidden"


class NotFound(GatewayError):
    """Also used for objects that exist but belong to someone else (never leak existence)."""

    status = 404
    reason = "not_found"
    title = "Not found"


class Conflict(GatewayError):
    status = 409
    reason = "conflict"
    title = "Conflict"


class QuotaExceeded(GatewayError):
    status = 403
    reason = "quota_exceeded"
    title = "Quota exceeded"


class ServiceUnavailable(GatewayError):
    status = 503
    reason = "service_unavailable"
    title = "Service unavailable"


class DatabaseError(ServiceUnavailable):
    reason = "database_unavailable"
    title = "Database unavailable"


class CloudError(GatewayError):
    """An OpenStack call failed; raised from openstacksdk exceptions at the cloud boundary."""

    status = 502
    reason = "cloud_error"
    title = "Cloud error"


class ScaffoldError(GatewayError):
    status = 400
    reason = "scaffold_error"
    title = "Cannot create project"
