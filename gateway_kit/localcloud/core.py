"""The local cloud's core: one WSGI app on loopback with pluggable OpenStack services.

SERVICE REGISTRATION
====================

A service is a module or package ``gateway_kit/localcloud/services/<name>`` with one function::

    def register(cloud: LocalCloud) -> None:
        bp = flask.Blueprint("dns", __name__, url_prefix="/dns")
        ...routes on bp...
        cloud.serve(bp, render_designate_error, ("dns", "designate"),
                    seed=seed_dns)       # optional: called once on a fresh state dir
        cloud.add_hook("dns.zone_active", on_zone_active)   # optional transition hooks

The module name goes into :data:`SERVICE_MODULES`; :func:`gateway_kit.localcloud.app.create_app`
imports each module that exists and calls its ``register``. A module listed there that is not
installed is skipped (and logged); a module that fails to import is an error.

**Routes.** All routes live on the service's blueprint, registered through one
:class:`gateway_kit.localcloud.rest.Routes` table (decorators ``@routes.get(rule)`` or
``routes.add(rule, view, "GET", args=...)``; real endpoint names, version prefixes); the same
module has the shared body, pagination, filter and quota helpers. The blueprint's
``url_prefix`` equals ``prefix`` (``/dns``, ``/load-balancer``, ``/key-manager``, ``/identity``,
``/compute/v2.1``, ``/image``, ``/volume/v3``, ``/networking``). The blueprint also answers its *unversioned
version-discovery document* at ``""`` (the prefix itself; the SDK fetches it without a token).
Build every URL (discovery ``self`` links, ``links`` in bodies, ``secret_ref``...) with
:meth:`LocalCloud.url` (``cloud.url("/dns/v2")`` -> ``http://127.0.0.1:PORT/dns/v2``), which uses
the request's Host, so any port works.

**Catalog.** ``catalog`` lists :class:`CatalogEntry` ``(type, name, path)``; ``path`` may contain
``{project_id}`` (Cinder does). Keystone builds every token's catalog from all registered
services, with public/internal/admin endpoints in :attr:`LocalCloudConfig.region`.

**Authentication.** In a view, ``auth = require_token()`` returns an :class:`AuthContext`
(``project_id``, ``project_name``, ``user_id``, ``user_name``, ``roles``, ``is_admin``,
``token``) or raises a 401 :class:`ApiError`. Scope resources by ``auth.project_id`` so one
project never sees another's; ``auth.is_admin`` may see all (``all_projects``).

**Persistence.** Resources are JSON documents filed under a *kind* (use ``"<service>.<noun>"``,
e.g. ``"dns.zone"``): ``cloud.put(kind, doc)``, ``cloud.get(kind, id)`` (``None`` if absent),
``cloud.list(kind, predicate=None)``, ``cloud.delete(kind, id)``. Before each request the core
applies every transition that is due (:meth:`LocalCloud.settle_due`), and ``get``/``list`` apply
them too, so a resource's state follows the clock, never who reads it. Keys starting with ``_`` are internal.
Ids: :func:`new_id`; timestamps: :func:`now_iso`. Every request runs under ``cloud.lock`` (one
request at a time mutates state), so read-modify-write in a view is atomic.

**Delayed transitions.** ``cloud.transition(kind, doc, {"status": "ACTIVE", "action": "NONE"})``
queues steps (each a dict of fields to set; several steps fire one after another); then
``cloud.put(kind, doc)``. A step may name a hook: ``{"_hook": "dns.zone_active"}`` calls the
function registered with ``cloud.add_hook`` as ``fn(cloud, kind, doc) -> doc | None`` (return
``None`` if the hook deleted the document). Pass ``create=True`` when scheduling a resource's
creation: then the fault "fail the next create of <kind>" replaces the steps with ``error``
(default ``{"status": "ERROR"}``) and "hold the next <kind>" holds it. Steps fire after
``config.clock.delay`` seconds each (``"time"`` mode, default 0.5 s) or on the n-th read
(``"poll"`` mode); see :mod:`gateway_kit.localcloud.clock`.

**Quotas.** ``cloud.quota(project_id, resource)`` gives the limit (-1 = unlimited) from the
seed's ``[quotas]`` table, overridden by ``cloud.set_quota`` (admin APIs and the control API use
it). Resource names are flat and service-specific (``instances``, ``cores``, ``ram``,
``volumes``, ``gigabytes``, ``floatingip``, ``zones``, ``load_balancer``...). The service counts
usage itself and raises :class:`ApiError` in its own shape, with the real status and message
(``cloud.over_quota(project_id, resource, used, delta)`` tells whether ``used + delta`` exceeds it).

**Fault injection.** Request rules (error rate, 429 + Retry-After, slow responses) are applied
by the core to every request under a service prefix before the view runs, and rendered with
the service's ``render_error``. Create failures and holds apply through ``cloud.transition(...,
create=True)``; ``cloud.hold(kind, id)`` / ``cloud.release(kind, id)`` hold existing resources.

**Errors.** Raise ``ApiError(status, message, code=...)``. The core renders it with the owning
service's ``render_error(err) -> flask.Response`` (Nova's ``{"itemNotFound": {...}}``,
Neutron's ``{"NeutronError": {...}}``, Designate's ``{"code", "type", "message", ...}``,
Octavia's ``{"faultcode", "faultstring", "debuginfo"}``...). Unknown paths and methods under a
prefix are rendered the same way (404/405). A 401 from :func:`require_token` is rendered in
keystonemiddleware's shape whatever the service.

**Microversions.** A service with ``microversion=MicroversionSpec("compute", "2.1", "2.100",
legacy_header="X-OpenStack-Nova-API-Version")`` gets the request header parsed (406 when out of
range), the version echoed in ``OpenStack-API-Version`` (and the legacy header) plus ``Vary``;
views read it with ``microversion()`` as a ``(major, minor)`` tuple.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask
from flask import Blueprint, Response, g, request

from gateway_kit.localcloud import clock
from gateway_kit.localcloud.faults import FaultTable
from gateway_kit.localcloud.store import Doc, Store

log = logging.getLogger(__name__)

#: Service modules under ``gateway_kit.localcloud.services``, in catalog order.
SERVICE_MODULES: tuple[str, ...] = (
    "identity",
    "compute",
    "image",
    "volume",
    "network",
    "dns",
    "load_balancer",
    "key_manager",
)

Hook = Callable[["LocalCloud", str, Doc], "Doc | None"]


class ApiError(Exception):
    """An error answered to the client in the owning service's error shape.

    :param status: HTTP status.
    :param message: human-readable message (what OpenStack would say).
    :param code: the service's machine code/type (``"itemNotFound"``, ``"NetworkNotFound"``,
        ``"zone_not_found"``...); renderers pick a default per status when empty.
    :param headers: extra response headers (``Retry-After``...).
    :param detail: extra fields some shapes carry (Neutron ``detail``, Designate ``errors``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "",
        headers: dict[str, str] | None = None,
        detail: Any = None,
        keystone_shape: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.detail = detail
        self.keystone_shape = keystone_shape


@dataclass(frozen=True)
class AuthContext:
    """Who is calling: what :func:`require_token` returns."""

    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    domain_id: str
    roles: tuple[str, ...]
    expires_at: float

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog service: ``type`` (``"dns"``), ``name`` (``"designate"``), ``path``."""

    type: str
    name: str
    path: str


@dataclass(frozen=True)
class MicroversionSpec:
    """A service's microversion range and header names."""

    service_type: str
    minimum: str
    maximum: str
    legacy_header: str | None = None
    aliases: tuple[str, ...] = ()


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.strip().partition(".")
    return int(major), int(minor or 0)


def format_version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


@dataclass
class Service:
    """A registered service (see the module docstring)."""

    name: str
    prefix: str
    blueprint: Blueprint
    catalog: list[CatalogEntry]
    render_error: Callable[[ApiError], Response]
    microversion: MicroversionSpec | None = None
    seed: Callable[[LocalCloud, dict[str, Any]], None] | None = None


@dataclass
class LocalCloudConfig:
    """Settings of one local cloud.

    :param state_dir: where ``localcloud.sqlite`` lives; ``None`` = in memory only.
    :param seed: a TOML seed file; ``None`` = the packaged ``seed.toml``.
    :param clock: transition timing.
    :param token_ttl: seconds a Keystone token lives.
    :param region: the catalog's region.
    :param public_url: fixed base URL for links; ``None`` = from each request's Host.
    :param services: service module names to load.
    :param seed_data: the seed as a mapping (overrides ``seed``; tests and fidelity runs).
    """

    state_dir: Path | None = None
    seed: Path | None = None
    clock: clock.ClockConfig = field(default_factory=clock.ClockConfig)
    token_ttl: int = 3600
    region: str = "RegionOne"
    public_url: str | None = None
    services: tuple[str, ...] = SERVICE_MODULES
    seed_data: dict[str, Any] | None = None


def new_id() -> str:
    """A fresh resource id (UUID4 string)."""
    return str(uuid.uuid4())


def new_secret(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def now_iso(ts: float | None = None, micro: bool = False) -> str:
    """ISO-8601 UTC timestamp ``2026-11-26T05:36:49Z`` (with microseconds if asked)."""
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (``body=None`` gives an empty body)."""
    if body is None:
        resp = Response(status=status)
    else:
        resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


#: HTTP reason phrases the OpenStack services put in their error bodies (Keystone's ``title``,
#: Barbican's ``title``, Glance's webob page), as the services' WSGI stacks spell them.
HTTP_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def http_title(status: int, statuses: Iterable[int] | None = None) -> str:
    """The reason phrase of ``status`` from :data:`HTTP_TITLES`, or ``"Error"`` for one not in
    the table or not in ``statuses`` (the statuses a service names; all of them by default)."""
    if statuses is not None and status not in statuses:
        return "Error"
    return HTTP_TITLES.get(status, "Error")


def request_json(required: bool = True) -> dict[str, Any]:
    """The request's JSON object body, or a 400 :class:`ApiError`."""
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise ApiError(400, "The request body is empty or not valid JSON.", "badRequest")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Malformed request body: {exc}", "badRequest") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", "badRequest")
    return body


def current_cloud() -> LocalCloud:
    """The :class:`LocalCloud` of the app handling the current request."""
    cloud: LocalCloud = flask.current_app.extensions["localcloud"]
    return cloud


def require_token() -> AuthContext:
    """Validate ``X-Auth-Token``; return the caller or raise a 401 :class:`ApiError`."""
    return current_cloud().authenticate(request.headers.get("X-Auth-Token"))


def request_id() -> str:
    """The current request's id (``req-<uuid>``, answered in ``X-OpenStack-Request-ID``; Nova's
    instance actions are keyed by it)."""
    rid: str | None = g.get("lc_request_id")
    if rid is None:
        rid = g.lc_request_id = "req-" + str(uuid.uuid4())
    return rid


def microversion() -> tuple[int, int]:
    """The microversion of the current request (for services with a :class:`MicroversionSpec`)."""
    mv: tuple[int, int] = g.get("lc_microversion", (0, 0))
    return mv


def at_least(version: str) -> bool:
    """Whether the current request's microversion is ``version`` (``"2.47"``) or later."""
    major, _, minor = version.partition(".")
    return microversion() >= (int(major), int(minor))


class LocalCloud:
    """State and services of one local cloud (see the module docstring)."""

    def __init__(self, config: LocalCloudConfig) -> None:
        config.clock.validate()
        self.config = config
        db = None
        if config.state_dir is not None:
            config.state_dir.mkdir(parents=True, exist_ok=True)
            db = config.state_dir / "localcloud.sqlite"
        self.store = Store(db)
        self.faults = FaultTable()
        self.lock = threading.RLock()
        self.services: list[Service] = []
        self.hooks: dict[str, Hook] = {}
        self.reset_hooks: list[Callable[[LocalCloud], None]] = []
        self.extensions: dict[str, Any] = {}
        self.seed_data: dict[str, Any] = (
            config.seed_data if config.seed_data is not None else load_seed(config.seed)
        )

    # -- registration ---------------------------------------------------------------------

    def serve(
        self,
        blueprint: Blueprint,
        render_error: Callable[[ApiError], Response],
        *catalog: tuple[str, str] | CatalogEntry,
        microversion: MicroversionSpec | None = None,
        seed: Callable[[LocalCloud, dict[str, Any]], None] | None = None,
    ) -> None:
        """Add the service served by ``blueprint`` (its name and ``url_prefix`` are the service's).

        :param catalog: its catalog entries: ``(type, name)`` at the prefix, or a
            :class:`CatalogEntry` with a path of its own.
        """
        prefix = blueprint.url_prefix or ""
        self.add_service(
            Service(
                name=blueprint.name,
                prefix=prefix,
                blueprint=blueprint,
                catalog=[c if isinstance(c, CatalogEntry) else CatalogEntry(*c, prefix) for c in catalog],
                render_error=render_error,
                microversion=microversion,
                seed=seed,
            )
        )

    def add_service(self, service: Service) -> None:
        if service.blueprint.url_prefix != service.prefix:
            raise ValueError(f"blueprint of {service.name} must have url_prefix={service.prefix}")
        self.services.append(service)

    def add_hook(self, name: str, fn: Hook) -> None:
        self.hooks[name] = fn

    def service_for_path(self, path: str) -> Service | None:
        best: Service | None = None
        for svc in self.services:
            if (path == svc.prefix or path.startswith(svc.prefix + "/")) and (
                best is None or len(svc.prefix) > len(best.prefix)
            ):
                best = svc
        return best

    # -- URLs -----------------------------------------------------------------------------

    def base_url(self) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        if flask.has_request_context():
            return request.host_url.rstrip("/")
        return "http://127.0.0.1"

    def url(self, path: str) -> str:
        """An absolute URL for a path on this cloud (uses the request's Host)."""
        return self.base_url() + path

    def catalog(self, project_id: str) -> list[dict[str, Any]]:
        entries = []
        for svc in self.services:
            for entry in svc.catalog:
                url = self.url(entry.path.format(project_id=project_id))
                entries.append(
                    {
                        "type": entry.type,
                        "name": entry.name,
                        "id": uuid.uuid5(uuid.NAMESPACE_URL, entry.type).hex,
                        "endpoints": [
                            {
                                "id": uuid.uuid5(uuid.NAMESPACE_URL, entry.type + iface).hex,
                                "interface": iface,
                                "region": self.config.region,
                                "region_id": self.config.region,
                                "url": url,
                            }
                            for iface in ("public", "internal", "admin")
                        ],
                    }
                )
        return entries

    # -- documents ------------------------------------------------------------------------

    def get(self, kind: str, doc_id: str) -> Doc | None:
        """Read a document, applying due transitions first."""
        doc = self.store.get(kind, doc_id)
        if doc is None:
            return None
        return self._settle(kind, doc, observe=True)

    def list(self, kind: str, predicate: Callable[[Doc], bool] | None = None) -> list[Doc]:
        """Read the documents of a kind (oldest first), applying due transitions first."""
        out = []
        for doc in self.store.all(kind):
            settled = self._settle(kind, doc, observe=True)
            if settled is not None and (predicate is None or predicate(settled)):
                out.append(settled)
        return out

    def put(self, kind: str, doc: Doc) -> Doc:
        return self.store.put(kind, doc)

    def delete(self, kind: str, doc_id: str) -> bool:
        return self.store.delete(kind, doc_id)

    def transition(
        self,
        kind: str,
        doc: Doc,
        *steps: dict[str, Any],
        create: bool = False,
        error: dict[str, Any] | None = None,
    ) -> Doc:
        """Queue delayed steps on ``doc`` (then ``put`` it). See the module docstring."""
        step_list = list(steps)
        if create:
            if self.faults.take_create_failure(kind):
                step_list = [error or {"status": "ERROR"}]
            if self.faults.take_hold_next(kind):
                clock.lc(doc)["held"] = True
        clock.enqueue(doc, step_list)
        return doc

    def settle_due(self) -> None:
        """Apply every transition that is due by the clock, whatever the request reads.

        Runs before each request (``"time"`` mode), so a resource reaches its next state when
        its time comes, not when someone happens to read it: a snapshot deleted a second ago
        no longer blocks its volume's delete although nobody listed snapshots meanwhile. In
        ``"poll"`` mode the reads of a resource are its clock, so nothing is settled here.
        """
        if self.config.clock.mode != "time":
            return
        for kind, doc in self.store.pending():
            self._settle(kind, doc, observe=False)

    def settle_now(self, kind: str, doc: Doc) -> Doc | None:
        """Apply due transitions without counting a read."""
        return self._settle(kind, doc, observe=False)

    def _settle(self, kind: str, doc: Doc, observe: bool) -> Doc | None:
        if not clock.pending(doc):
            return doc
        steps = clock.due_steps(doc, self.config.clock, observe)
        current: Doc | None = doc
        for step in steps:
            if current is None:
                break
            hook_name = step.get("_hook")
            for key, value in step.items():
                if not key.startswith("_"):
                    current[key] = value
            if hook_name:
                current = self.hooks[hook_name](self, kind, current)
        counted = observe and self.config.clock.mode == "poll"
        # Persist the advanced state (and the poll counter in poll mode) only if the document
        # still exists: a hook may have deleted it.
        if (
            current is not None
            and (steps or counted)
            and self.store.get(kind, str(current["id"])) is not None
        ):
            self.store.put(kind, current)
        return current

    def hold(self, kind: str, doc_id: str) -> bool:
        doc = self.store.get(kind, doc_id)
        if doc is None:
            return False
        clock.lc(doc)["held"] = True
        self.store.put(kind, doc)
        return True

    def release(self, kind: str, doc_id: str) -> bool:
        doc = self.store.get(kind, doc_id)
        if doc is None:
            return False
        block = clock.lc(doc)
        block["held"] = False
        block["since"] = time.time()
        block["polls"] = 0
        self.store.put(kind, doc)
        return True

    # -- quotas ---------------------------------------------------------------------------

    def quota(self, project_id: str, resource: str) -> int:
        override = self.store.get("core.quota", project_id)
        if override is not None and resource in override.get("limits", {}):
            return int(override["limits"][resource])
        defaults: dict[str, Any] = {}
        for table in self.seed_data.get("quotas", {}).values():
            if isinstance(table, dict):
                defaults.update(table)
        return int(defaults.get(resource, -1))

    def set_quota(self, project_id: str, resource: str, limit: int) -> None:
        doc = self.store.get("core.quota", project_id) or {"id": project_id, "limits": {}}
        doc["limits"][resource] = int(limit)
        self.store.put("core.quota", doc)

    def reset_quota(self, project_id: str, resources: Iterable[str]) -> None:
        """Drop the project's own limits for ``resources``: the seed's defaults apply again."""
        doc = self.store.get("core.quota", project_id)
        if doc is not None:
            for resource in resources:
                doc.get("limits", {}).pop(resource, None)
            self.store.put("core.quota", doc)

    def over_quota(self, project_id: str, resource: str, used: int, delta: int) -> bool:
        """Whether ``used + delta`` exceeds the project's limit for ``resource``."""
        limit = self.quota(project_id, resource)
        return limit >= 0 and delta > 0 and used + delta > limit

    # -- identity -------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> AuthContext:
        if not token:
            raise ApiError(401, "The request you have made requires authentication.", keystone_shape=True)
        doc = self.store.get("identity.token", token)
        if doc is None or doc["expires"] <= time.time():
            raise ApiError(401, "The request you have made requires authentication.", keystone_shape=True)
        return AuthContext(
            token=token,
            user_id=doc["user_id"],
            user_name=doc["user_name"],
            project_id=doc["project_id"],
            project_name=doc["project_name"],
            domain_id=doc.get("domain_id", "default"),
            roles=tuple(doc["roles"]),
            expires_at=doc["expires"],
        )

    def project_id_for(self, name_or_id: str) -> str:
        """Resolve a project name or id (for the control API); raise KeyError if unknown."""
        for doc in self.store.all("identity.project"):
            if name_or_id in (doc["id"], doc["name"]):
                return str(doc["id"])
        raise KeyError(name_or_id)

    # -- lifecycle ------------------------------------------------------------------------

    def seed_services(self) -> None:
        marker = self.store.get("core.meta", "seeded")
        done = set(marker["services"]) if marker else set()
        for svc in self.services:
            if svc.name in done:
                continue
            if svc.seed is not None:
                svc.seed(self, self.seed_data)
            done.add(svc.name)
        self.store.put("core.meta", {"id": "seeded", "services": sorted(done)})

    def reset(self) -> None:
        """Forget every resource and fault, and re-seed."""
        with self.lock:
            self.faults.reset()
            self.store.clear()
            for fn in self.reset_hooks:
                fn(self)
            self.seed_services()

    def close(self) -> None:
        self.store.close()


def load_seed(path: Path | None) -> dict[str, Any]:
    import tomllib

    if path is None:
        path = Path(__file__).with_name("seed.toml")
    with path.open("rb") as fh:
        return tomllib.load(fh)


def _keystone_401(err: ApiError) -> Response:
    return json_response(
        {"error": {"code": err.status, "title": "Unauthorized", "message": err.message}},
        err.status,
        {"WWW-Authenticate": 'Keystone uri="' + current_cloud().url("/identity") + '"'},
    )


def _fault_error(svc: Service, status: int, message: str, retry_after: int | None) -> ApiError:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    code = {429: "overLimit", 503: "serviceUnavailable"}.get(status, "computeFault")
    return ApiError(status, message or f"Injected fault ({status})", code, headers)


def _negotiate_microversion(spec: MicroversionSpec) -> tuple[int, int]:
    lo, hi = parse_version(spec.minimum), parse_version(spec.maximum)
    requested: str | None = None
    names = (spec.service_type, *spec.aliases)
    header = request.headers.get("OpenStack-API-Version", "")
    for part in header.split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() in names:
            requested = words[1]
    if requested is None and spec.legacy_header:
        requested = request.headers.get(spec.legacy_header)
    if requested is None:
        return lo
    if requested.strip().lower() == "latest":
        return hi
    try:
        version = parse_version(requested)
    except ValueError as exc:
        raise ApiError(
            400,
            f"Invalid format for microversion {requested!r}: use 'major.minor' or 'latest'.",
            "badRequest",
        ) from exc
    if not lo <= version <= hi:
        raise ApiError(
            406,
            f"Version {requested} is not supported by the API. Minimum is {spec.minimum} "
            f"and maximum is {spec.maximum}.",
            "notAcceptable",
        )
    return version
