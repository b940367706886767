"""The one OpenStack boundary: connecting, calling, waiting, and translating errors.

Every feature that talks to OpenStack does it through this module (features never import
``openstack`` to connect or to catch its exceptions):

* :func:`cloud_name` picks the clouds.yaml entry: the feature's ``<FEATURE>_CLOUD_NAME`` setting
  when set, else ``CLOUD_NAME``; :func:`connect` opens a :class:`Cloud` on it.
* :meth:`Cloud.call` runs one openstacksdk call, retries it with exponential back-off when the
  cloud answers 5xx or 429 (honouring ``Retry-After``; bounded by :attr:`Timeouts.retry_attempts`),
  and translates openstacksdk/keystoneauth exceptions into the kit's error tree
  (:class:`~gateway_kit.errors.CloudError`, :class:`~gateway_kit.errors.QuotaExceeded`,
  :class:`CloudNotFound`, :class:`CloudConflict`) with a message naming the resource and the
  caller's :class:`Advice` on what to do;
* :meth:`Cloud.wait` polls a resource until a *target* status, failing early on *failure* states
  and after a *timeout*, all three named in the error;
* :attr:`Cloud.requests` logs every HTTP request the SDK sends (method, URL, status), which the
  tests and ``bench/deploy_calls.py`` use to count calls.

Nothing here imports openstacksdk until a connection is opened.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from .errors import CloudError, ConfigError, GatewayError, QuotaExceeded

log = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP methods that change something (the token request is not counted as a change).
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: A server's user data in a logged request body (base64: it may hold the database password).
_USER_DATA_RE = re.compile(r'("user_data"\s*:\s*)"[^"]*"')


class _RedactUserData(logging.Filter):
    """keystoneauth logs request bodies at DEBUG: replace a server's user data there."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return True
        if "user_data" in text:
            record.msg, record.args = _USER_DATA_RE.sub(r'\1"<redacted>"', text), ()
        return True


def _redact_sdk_logs() -> None:
    logger = logging.getLogger("keystoneauth.session")
    if not any(isinstance(f, _RedactUserData) for f in logger.filters):
        logger.addFilter(_RedactUserData())


class CloudNotFound(CloudError):
    status = 404
    reason = "cloud_not_found"
    title = "Cloud resource not found"


class CloudConflict(CloudError):
    status = 409
    reason = "cloud_conflict"
    title = "Cloud resource conflict"


class WaitTimeout(CloudError):
    status = 504
    reason = "cloud_timeout"
    title = "Cloud resource timed out"


class ResourceFailed(CloudError):
    reason = "cloud_resource_failed"
    title = "Cloud resource failed"


_EXAMPLE = "(see deploy/clouds.yaml.example)."


@dataclass(frozen=True)
class Advice:
    """What the caller tells a user to do when a cloud call fails (the last sentence of a message).

    ``quota`` may name ``{which}`` (the resource whose quota is full); ``config`` ``{setting}``
    (the setting that names the cloud).
    """

    quota: str = "Free some {which}, or ask the cloud's support for a larger quota."
    busy: str = "Try again later."
    failed: str = "Delete it and try again."
    timeout: str = "The cloud may be slow or the resource stuck; try again later."
    config: str = "Set {setting} to an entry of the file named by OS_CLIENT_CONFIG_FILE " + _EXAMPLE


@dataclass(frozen=True)
class Timeouts:
    """Wait limits and back-off (a feature fills them from its settings)."""

    poll: float = 2.0
    server: float = 900.0
    volume: float = 300.0
    load_balancer: float = 900.0
    dns: float = 300.0
    member: float = 300.0
    retry_attempts: int = 6
    retry_base: float = 0.5
    retry_max: float = 30.0
    member_healthy: tuple[str, ...] = ("ONLINE", "NO_MONITOR")


@dataclass
class RequestRecord:
    method: str
    url: str
    status: int

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING and not self.url.rstrip("/").endswith("/auth/tokens")


@dataclass
class RequestLog:
    """Every HTTP request the SDK sent through this cloud connection (retries included)."""

    records: list[RequestRecord] = field(default_factory=list)

    def add(self, method: str, url: str, status: int) -> None:
        self.records.append(RequestRecord(method, url, status))

    def clear(self) -> None:
        self.records.clear()

    def mutating(self) -> list[RequestRecord]:
        return [r for r in self.records if r.mutating]

    def by_method(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.method] = out.get(r.method, 0) + 1
        return out


def _status_of(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    code = getattr(exc, "http_status", None)
    return code if isinstance(code, int) else None


def _retryable(exc: BaseException) -> bool:
    from keystoneauth1 import exceptions as ksa

    status = _status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(exc, ksa.ConnectFailure | ksa.ConnectionError)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _details(exc: BaseException) -> str:
    details = getattr(exc, "details", None) or ""
    message = str(details or exc).strip()
    return message.splitlines()[0] if message else exc.__class__.__name__


_QUOTA_HINTS = (
    ("instances", "instances"),
    ("cores", "cores"),
    ("ram", "ram"),
    ("gigabytes", "gigabytes"),
    ("volume", "volumes"),
    ("floating", "floating IPs"),
    ("floatingip", "floating IPs"),
    ("load_balancer", "load balancers"),
    ("load balancer", "load balancers"),
    ("zone", "zones"),
    ("recordset", "record sets"),
    ("port", "ports"),
    ("security_group", "security groups"),
)


def translate(exc: BaseException, what: str, advice: Advice | None = None) -> GatewayError:
    """The kit's error for an exception raised while doing ``what`` (e.g. "create server web-1")."""
    advice = advice or Advice()
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as osx

    if isinstance(exc, GatewayError):
        return exc
    detail = _details(exc)
    status = _status_of(exc)
    lowered = detail.lower()
    if (
        (status in (403, 413) and ("quota" in lowered or "limit" in lowered))
        or (status == 409 and "quota" in lowered)
        or "overquota" in lowered.replace(" ", "")
    ):
        which = next((label for needle, label in _QUOTA_HINTS if needle in lowered), "a resource")
        return QuotaExceeded(
            f"Cannot {what}: the project's quota for {which} is full ({detail}). "
            + advice.quota.format(which=which),
            log_message=f"{what}: quota exceeded: {detail}",
        )
    if isinstance(exc, osx.NotFoundException | osx.ResourceNotFound) or status == 404:
        return CloudNotFound(
            f"Cannot {what}: not found on the cloud ({detail}).", log_message=f"{what}: 404 {detail}"
        )
    if status == 409:
        return CloudConflict(
            f"Cannot {what} right now: {detail}. Wait for the resource to settle and run the command again.",
            log_message=f"{what}: 409 {detail}",
        )
    if status == 401 or isinstance(exc, ksa.Unauthorized | ksa.MissingAuthPlugin):
        return CloudError(
            f"Cannot {what}: the cloud refused the credentials ({detail}). Check the "
            "cloud's entry in clouds.yaml (OS_CLIENT_CONFIG_FILE).",
            log_message=f"{what}: 401 {detail}",
        )
    if status == 403:
        return CloudError(
            f"Cannot {what}: the cloud forbids it ({detail}). Ask the cloud's support "
            "for the role this needs.",
            status=403,
            log_message=f"{what}: 403 {detail}",
        )
    if status == 400:
        return CloudError(
            f"Cannot {what}: the cloud rejected the request ({detail}).",
            status=400,
            log_message=f"{what}: 400 {detail}",
        )
    if isinstance(exc, ksa.ConnectFailure | ksa.ConnectionError):
        return CloudError(
            f"Cannot {what}: the cloud is unreachable ({detail}). Check the auth_url "
            "in clouds.yaml and the network.",
            log_message=f"{what}: {detail}",
        )
    if status is not None and (status >= 500 or status == 429):
        return CloudError(
            f"Cannot {what}: the cloud kept answering {status} ({detail}). {advice.busy}",
            log_message=f"{what}: {status} {detail}",
        )
    if isinstance(exc, osx.ConfigException):
        return ConfigError(
            f"Cannot connect to the cloud: {detail}. Check CLOUD_NAME and the file "
            "named by OS_CLIENT_CONFIG_FILE (clouds.yaml)."
        )
    return CloudError(f"Cannot {what}: {detail}.", log_message=f"{what}: {exc!r}")


def cloud_name(config: Mapping[str, Any], feature: str | None = None) -> str:
    """The clouds.yaml entry a feature uses: ``<FEATURE>_CLOUD_NAME`` when set, else ``CLOUD_NAME``."""
    if feature:
        override = config.get(f"{feature.upper()}_CLOUD_NAME")
        if override:
            return str(override)
    return str(config.get("CLOUD_NAME") or "local")


def connect(
    config: Mapping[str, Any],
    feature: str | None = None,
    *,
    name: str | None = None,
    timeouts: Timeouts | None = None,
    advice: Advice | None = None,
) -> Cloud:
    """A :class:`Cloud` on ``name`` or the feature's cloud (see :func:`cloud_name`); the connection
    itself opens on first use."""
    override = f"{feature.upper()}_CLOUD_NAME" if feature else ""
    setting = f"{override} or CLOUD_NAME" if override in config else "CLOUD_NAME"
    return Cloud(name or cloud_name(config, feature), timeouts, advice=advice, setting=setting)


class Cloud:
    """One openstacksdk connection with the kit's retries, waits and error translation.

    :param name: the clouds.yaml entry (``openstack.connect(cloud=name)``).
    :param timeouts: waits and back-off.
    :param advice: what messages tell the user to do (the feature's commands).
    :param setting: the setting that named the cloud (for the message when it is unknown).
    :param connection: an existing ``openstack.connection.Connection`` (tests); built lazily
        otherwise, so constructing a :class:`Cloud` never opens a connection.
    :param sleep: the sleep function (tests may speed it up).
    """

    def __init__(
        self,
        name: str,
        timeouts: Timeouts | None = None,
        connection: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        advice: Advice | None = None,
        setting: str = "CLOUD_NAME",
    ) -> None:
        self.name = name
        self.timeouts = timeouts or Timeouts()
        self.advice = advice or Advice()
        self.setting = setting
        self.requests = RequestLog()
        self._conn = connection
        self._sleep = sleep
        self._project_id: str | None = None
        if connection is not None:
            self._hook(connection)

    # -- connection ----------------------------------------------------------------------

    def _hook(self, conn: Any) -> None:
        _redact_sdk_logs()

        def record(resp: Any, *args: Any, **kwargs: Any) -> Any:
            self.requests.add(resp.request.method, resp.request.url, resp.status_code)
            return resp

        conn.session.session.hooks.setdefault("response", []).append(record)

    @property
    def conn(self) -> Any:
        if self._conn is None:
            import openstack
            from openstack import exceptions as osx

            try:
                self._conn = openstack.connect(cloud=self.name)
            except osx.ConfigException as exc:
                raise ConfigError(
                    f"Cloud {self.name!r} is not in clouds.yaml ({_details(exc)}). "
                    + self.advice.config.format(setting=self.setting)
                ) from exc
            self._hook(self._conn)
        return self._conn

    @property
    def project_id(self) -> str:
        if self._project_id is None:
            self._project_id = str(self.call("authenticate", lambda: self.conn.current_project_id))
        return self._project_id

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # -- calls ---------------------------------------------------------------------------

    def call(
        self, what: str, fn: Callable[[], T], *, before_retry: Callable[[], T | None] | None = None
    ) -> T:
        """Run ``fn`` with bounded retries on 5xx/429; translate failures.

        :param what: the action, for messages ("create server standard-web-1").
        :param before_retry: for non-idempotent creates: called before each retry; when it
            returns a resource (the create did happen despite the error), that is returned
            instead of creating a second one.
        """
        t = self.timeouts
        found: list[T] = []

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            backoff = min(t.retry_max, t.retry_base * (2 ** (state.attempt_number - 1)))
            after = _retry_after(exc) if exc is not None else None
            delay = min(t.retry_max, max(backoff, after or 0.0))
            log.info(
                "%s: cloud answered %s, retry %d/%d in %.1fs",
                what,
                _status_of(exc) if exc else "?",
                state.attempt_number,
                t.retry_attempts,
                delay,
            )
            return float(delay)

        def attempt() -> T:
            if found:
                return found[0]
            return fn()

        def on_retry(state: RetryCallState) -> None:
            if before_retry is not None:
                # the lookup is a cloud call too: a 429/5xx on it is retried, not fatal
                existing = self.call(f"{what} (look for one the failed try made)", before_retry)
                if existing is not None:
                    found.append(existing)

        try:
            for try_ in Retrying(
                stop=stop_after_attempt(t.retry_attempts),
                wait=wait,
                retry=retry_if_exception(_retryable),
                sleep=self._sleep,
                before_sleep=on_retry,
                reraise=True,
            ):
                with try_:
                    result = attempt()
            return result
        except GatewayError:
            raise
        except Exception as exc:
            raise translate(exc, what, self.advice) from exc

    def wait(
        self,
        what: str,
        fetch: Callable[[], Any],
        *,
        target: Collection[str],
        failures: Collection[str] = ("ERROR",),
        timeout: float,
        attr: str = "status",
        gone_ok: bool = False,
    ) -> Any:
        """Poll ``fetch`` until ``getattr(obj, attr)`` is in ``target``.

        :param gone_ok: the target is the resource's disappearance (a 404 or ``None``).
        :raises ResourceFailed: the status entered one of ``failures``.
        :raises WaitTimeout: ``timeout`` seconds passed; names the last status seen.
        """
        deadline = time.monotonic() + timeout
        last = "unknown"
        while True:
            try:
                obj = self.call(f"read {what}", fetch)
            except CloudNotFound:
                if gone_ok:
                    return None
                raise
            if obj is None:
                if gone_ok:
                    return None
                raise CloudNotFound(f"{what} disappeared while waiting for {'/'.join(target)}.")
            last = str(getattr(obj, attr, None) or "unknown").upper()
            if not gone_ok and last in {s.upper() for s in target}:
                return obj
            if last in {s.upper() for s in failures}:
                fault = getattr(obj, "fault", None) or {}
                reason = fault.get("message") if isinstance(fault, dict) else ""
                raise ResourceFailed(
                    f"{what} went to {last} instead of {'/'.join(target)}"
                    f"{f' ({reason})' if reason else ''}. {self.advice.failed}",
                    log_message=f"{what}: status {last}, wanted {sorted(target)}",
                )
            if time.monotonic() >= deadline:
                want = "deletion" if gone_ok else "/".join(target)
                raise WaitTimeout(
                    f"{what} is still {last} after {timeout:g}s waiting for {want}. {self.advice.timeout}",
                    log_message=f"{what}: timeout {timeout}s, last {attr}={last}",
                )
            self._sleep(self.timeouts.poll)
