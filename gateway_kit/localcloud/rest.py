"""The local cloud's REST toolkit: what every service's views share.

* :class:`Routes` is the one way a service registers its routes: a Flask-style decorator
  (``@routes.get("/servers/<server_id>")``) or a table entry (``routes.add(rule, view, "GET",
  args=(spec,))`` for one view serving several resources), each rule under every version prefix
  the service answers (Octavia: ``/v2.0`` and ``/v2``), each with a real endpoint name (the
  view's name, or ``"<resource path>_<verb>"`` for a view bound to arguments) so ``url_for``
  and error logs say what was hit.
* :func:`body` parses a JSON object body (400 in the service's shape otherwise).
* :func:`after_marker` and :func:`limited` are marker/limit pagination; each service builds its
  own links around them (Nova, Neutron, Designate and Octavia spell them differently).
* :func:`filter_docs` applies ``?key=value`` list filters.
* :func:`quota_view` renders a quota set with usage (``limit``/``in_use``/``reserved``).
* :func:`require_policy` answers 403 in oslo.policy's words when a policy rule does not allow a call.
* :func:`fault_renderer` renders errors in Nova's and Cinder's ``{code: {code, message}}`` shape.
* :data:`Doc` and :func:`now` are the document type and the timestamp every service stamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from flask import Blueprint, Response

from gateway_kit.localcloud.core import ApiError, json_response, now_iso, request_json
from gateway_kit.localcloud.store import Doc

__all__ = [
    "Doc",
    "Routes",
    "after_marker",
    "body",
    "endpoint_name",
    "fault_renderer",
    "filter_docs",
    "limited",
    "now",
    "quota_view",
    "require_policy",
]

View = Callable[..., Response]

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def now(*, micro: bool = False, zulu: bool = True) -> str:
    """The current time as the services stamp ``created_at``/``updated_at`` (ISO-8601, UTC).

    :param micro: with microseconds and no zone letter (Designate: ``2026-12-04T18:00:00.123456``).
    :param zulu: end in ``Z`` (Nova, Neutron); Octavia writes ``2026-12-04T18:00:00``.
    """
    if micro:
        return now_iso(micro=True)
    text = now_iso()
    return text if zulu else text.removesuffix("Z")


def body(required: bool = True) -> dict[str, Any]:
    """The request's JSON object body, or a 400 :class:`ApiError` naming what was wrong."""
    return request_json(required)


def require_policy(allowed: bool, rule: str, code: str = "forbidden") -> None:
    """403 ``Policy doesn't allow RULE to be performed.`` unless ``allowed``.

    :param code: the error's code in the service's shape (Neutron's is ``PolicyNotAuthorized``).
    """
    if not allowed:
        raise ApiError(403, f"Policy doesn't allow {rule} to be performed.", code)


def fault_renderer(codes: Mapping[int, str], default: str) -> Callable[[ApiError], Response]:
    """An error renderer for the ``{"<name>": {"code": status, "message": ...}}`` fault body
    (Nova, Cinder): the error's own code if it is one of ``codes``' names, else the name for its
    status, else ``default``."""

    def render_error(err: ApiError) -> Response:
        code = err.code if err.code in codes.values() else codes.get(err.status, default)
        return json_response({code: {"code": err.status, "message": err.message}}, err.status)

    return render_error


def endpoint_name(rule: str, method: str) -> str:
    """A readable endpoint name for ``rule`` answered to ``method``.

    ``/lbaas/pools/<pool_id>/members`` + ``GET`` -> ``lbaas_pools_members_list``;
    ``/lbaas/pools/<rid>`` + ``PUT`` -> ``lbaas_pools_update`` (Flask forbids dots in a
    blueprint's endpoint names).
    """
    parts = [p for p in rule.strip("/").split("/") if p]
    words = [p for p in parts if not p.startswith("<")]
    if method == "GET":
        verb = "show" if parts and parts[-1].startswith("<") else "list"
    else:
        verb = _VERBS.get(method, method.lower())
    return "_".join([*(w.replace(".", "_").replace("-", "_") for w in words), verb])


class Routes:
    """A service's route table on its blueprint (see the module docstring).

    :param blueprint: the service's blueprint (``url_prefix`` = the service's prefix).
    :param versions: version prefixes every rule is answered under (``("",)``: none).
    """

    def __init__(self, blueprint: Blueprint, versions: Sequence[str] = ("",)) -> None:
        self.blueprint = blueprint
        self.versions = tuple(versions)

    def add(
        self,
        rule: str,
        view: View,
        *methods: str,
        args: tuple[Any, ...] = (),
        name: str | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        """Answer ``methods`` on ``rule`` (under each version prefix) with ``view``.

        :param args: leading positional arguments bound to the view; the URL's variables follow
            them, in the rule's order.
        :param name: the endpoint name; default: the view's name, or :func:`endpoint_name` of
            the rule when ``args`` are bound.
        :param defaults: extra view arguments for this rule (Flask's ``defaults``).
        """
        if not methods:
            raise ValueError(f"route {rule!r}: name at least one HTTP method")
        func = _bind(view, args) if args else view
        for version in self.versions:
            endpoint = name or (endpoint_name(rule, methods[0]) if args else view.__name__)
            if version:
                endpoint += "@" + version.strip("/").replace(".", "_")
            options: dict[str, Any] = {"methods": list(methods)}
            if defaults is not None:
                options["defaults"] = defaults
            self.blueprint.add_url_rule(version + rule, endpoint, func, **options)

    def route(
        self, rule: str, *methods: str, name: str | None = None, defaults: dict[str, Any] | None = None
    ) -> Callable[[View], View]:
        """Decorator form of :meth:`add`."""

        def deco(view: View) -> View:
            self.add(rule, view, *methods, name=name, defaults=defaults)
            return view

        return deco

    def get(
        self, rule: str, name: str | None = None, defaults: dict[str, Any] | None = None
    ) -> Callable[[View], View]:
        return self.route(rule, "GET", name=name, defaults=defaults)

    def post(
        self, rule: str, name: str | None = None, defaults: dict[str, Any] | None = None
    ) -> Callable[[View], View]:
        return self.route(rule, "POST", name=name, defaults=defaults)

    def put(
        self, rule: str, name: str | None = None, defaults: dict[str, Any] | None = None
    ) -> Callable[[View], View]:
        return self.route(rule, "PUT", name=name, defaults=defaults)

    def patch(
        self, rule: str, name: str | None = None, defaults: dict[str, Any] | None = None
    ) -> Callable[[View], View]:
        return self.route(rule, "PATCH", name=name, defaults=defaults)

    def delete(
        self, rule: str, name: str | None = None, defaults: dict[str, Any] | None = None
    ) -> Callable[[View], View]:
        return self.route(rule, "DELETE", name=name, defaults=defaults)


def _bind(view: View, args: tuple[Any, ...]) -> View:
    def bound(**url_values: Any) -> Response:
        return view(*args, *url_values.values())

    bound.__name__ = getattr(view, "__name__", "view")
    bound.__doc__ = view.__doc__
    return bound


def after_marker(
    docs: list[Doc],
    marker: str | None,
    *,
    key: str = "id",
    not_found: Callable[[str], Exception] | None = None,
) -> list[Doc]:
    """The documents after the one whose ``key`` is ``marker`` (all of them without a marker).

    :param not_found: builds the error raised for an unknown marker; ``None``: an unknown
        marker gives an empty page (Neutron's behaviour).
    """
    if not marker:
        return docs
    keys = [d.get(key) for d in docs]
    if marker not in keys:
        if not_found is None:
            return []
        raise not_found(marker)
    return docs[keys.index(marker) + 1 :]


def limited(docs: list[Doc], limit: str | int | None, *, what: str = "limit") -> list[Doc]:
    """The first ``limit`` documents (all of them when ``limit`` is empty); a limit that is not
    a non-negative integer is a 400 naming it."""
    if limit is None or limit == "":
        return docs
    try:
        n = int(limit)
    except ValueError as exc:
        raise ApiError(400, f"Invalid {what} {limit!r}: use a non-negative integer.", "badRequest") from exc
    if n < 0:
        raise ApiError(400, f"Invalid {what} {limit!r}: use a non-negative integer.", "badRequest")
    return docs[:n]


def filter_docs(
    docs: Iterable[Doc],
    wanted: Mapping[str, Sequence[str]],
    match: Callable[[Any, str], bool] | None = None,
) -> list[Doc]:
    """The documents whose every key in ``wanted`` matches one of its values.

    :param match: compares a document's value with one wanted string; default: equal as text
        (``True``/``False`` as ``true``/``false``).
    """
    test = match or _text_equal
    return [d for d in docs if all(any(test(d.get(k), w) for w in values) for k, values in wanted.items())]


def _text_equal(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    return value is not None and str(value) == wanted


def quota_view(
    limits: Mapping[str, int], usage: Mapping[str, int], used_key: str = "in_use"
) -> dict[str, dict[str, int]]:
    """A quota set with usage, as the ``detail`` views render it: ``{"limit", "in_use",
    "reserved"}`` per resource (Nova; Neutron calls ``in_use`` ``used``)."""
    return {
        resource: {"limit": int(limit), used_key: int(usage.get(resource, 0)), "reserved": 0}
        for resource, limit in limits.items()
    }
