"""The handler contract, the context handlers share in one engine run, and the shared shape.

Ownership marks (so ``deploy orphans`` can find what a crash or a lost database left behind):

=============  =====================================================================
servers        metadata ``gateway_kit_deployment``, ``gateway_kit_key``, ``gateway_kit_digest``
volumes        the same metadata
Neutron        tags ``gateway-kit``, ``gateway-kit:<deployment>``, ``gateway-kit:key=<key>``
Octavia        the same tags (load balancer, pools, listeners, L7 policies, monitors, members)
Designate      record set description ``gateway-kit <deployment> <key>``
keypair/zone   their name (neither carries tags)
=============  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cloud import Cloud, CloudNotFound
from ..plan import META_DEPLOYMENT, META_KEY, TAG, Desired

#: A resource's properties: desired (``props``), recorded (``before``) or read from the cloud.
Props = dict[str, Any]


def tags_for(deployment: str, key: str) -> list[str]:
    return [TAG, f"{TAG}:{deployment}", f"{TAG}:key={key}"]


def description_for(deployment: str, key: str) -> str:
    return f"{TAG} {deployment} {key}"


def owner_from_description(description: str | None) -> tuple[str, str] | None:
    """The (deployment, key) a :func:`description_for` text names, or None."""
    parts = (description or "").split()
    if len(parts) == 3 and parts[0] == TAG:
        return parts[1], parts[2]
    return None


def owner_from_tags(tags: list[str] | None) -> tuple[str, str] | None:
    tags = list(tags or [])
    if TAG not in tags:
        return None
    dep = next((t.split(":", 1)[1] for t in tags if t.startswith(f"{TAG}:") and "key=" not in t), "")
    key = next((t.split("key=", 1)[1] for t in tags if t.startswith(f"{TAG}:key=")), "")
    return dep, key


@dataclass
class Context:
    """What handlers share during one engine run: the cloud, the deployment, lookup caches."""

    cloud: Cloud
    deployment: str
    cache: dict[str, Any] = field(default_factory=dict)

    def _cached(self, key: str, what: str, fn: Any) -> Any:
        if key not in self.cache:
            self.cache[key] = self.cloud.call(what, fn)
        return self.cache[key]

    def flavor(self, name: str) -> Any:
        return self._cached(
            f"flavor:{name}",
            f"find flavor {name!r}",
            lambda: self.cloud.conn.compute.find_flavor(name, ignore_missing=False),
        )

    def image(self, name: str) -> Any:
        return self._cached(
            f"image:{name}",
            f"find image {name!r}",
            lambda: self.cloud.conn.image.find_image(name, ignore_missing=False),
        )

    def network(self, name: str) -> Any:
        return self._cached(
            f"network:{name}",
            f"find network {name!r}",
            lambda: self.cloud.conn.network.find_network(name, ignore_missing=False),
        )

    def subnet(self, network: str) -> Any:
        net = self.network(network)

        def first() -> Any:
            subnets = [s for s in self.cloud.conn.network.subnets(network_id=net.id) if s.ip_version == 4]
            if not subnets:
                raise CloudNotFound(
                    f"Network {network!r} has no IPv4 subnet; add one or name "
                    "another network in the spec's [network] table."
                )
            return subnets[0]

        return self._cached(f"subnet:{network}", f"list subnets of {network!r}", first)

    def zone(self, name: str) -> Any:
        def find() -> Any:
            zone = self.cloud.conn.dns.find_zone(name, ignore_missing=True)
            if zone is None:
                raise CloudNotFound(
                    f"DNS zone {name!r} does not exist in this project. Create it "
                    f"(`openstack zone create {name} --email hostmaster@{name.rstrip('.')}`), ask "
                    "the cloud's support for it, or set dns.create_zone = true in the spec."
                )
            return zone

        return self._cached(f"zone:{name}", f"find DNS zone {name!r}", find)


class Handler:
    """The contract of a resource kind.

    ``find`` is only called when a create may already have happened (a resumed run, a retried
    create): it looks the resource up by the marks the kit puts on it and returns its id.
    ``create`` sends the create and returns the new id at once (the engine records it before
    waiting); ``wait`` waits for the resource to be usable and returns its attributes
    (``id``, addresses...); ``observe`` returns the live properties comparable with the desired
    ones plus ``status`` (``None`` when the resource is gone); ``delete`` ignores what is
    already gone and waits until it is.

    The shared shape: a kind names its ``noun`` (for messages), its openstacksdk read
    (:meth:`get`) and what of the live object is compared (:meth:`project`); :meth:`observe`,
    :meth:`wait_status` and :meth:`wait_gone` are built from those.
    """

    kind = ""
    noun = ""
    #: the attribute that holds the live status, and the other properties :meth:`project`
    #: reports (its key -> the openstacksdk attribute)
    status_attr = "status"
    observed: dict[str, str] = {}

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        raise NotImplementedError

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"id": cloud_id}

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        raise NotImplementedError

    def get(self, ctx: Context, cloud_id: str) -> Any:
        """The openstacksdk read of one resource (raises when it is gone)."""
        raise NotImplementedError

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        """What :meth:`observe` reports of a live resource."""
        out = {key: getattr(obj, attr) for key, attr in self.observed.items()}
        return {"status": upper(getattr(obj, self.status_attr)), **out}

    def fetch(self, ctx: Context, cloud_id: str) -> Any:
        """The live resource, or None when it is gone."""
        return get_or_none(ctx, f"read {self.noun} {cloud_id}", lambda: self.get(ctx, cloud_id))

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        obj = self.fetch(ctx, cloud_id)
        return None if obj is None else self.project(ctx, cloud_id, obj)

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        """:meth:`observe` for several resources of this kind (cloud id -> recorded attributes).

        A plan uses only presence and ``status``; with ``detail`` (``deploy status``) every
        observed property is wanted. A kind that can read several resources in one list call
        overrides this (see :meth:`observe_listed`); the default reads each one.
        """
        return {cloud_id: self.observe(ctx, cloud_id, attrs) for cloud_id, attrs in items.items()}

    def observe_listed(
        self,
        ctx: Context,
        items: Mapping[str, dict[str, Any]],
        listing: Callable[[], Iterable[Any]],
        key: Callable[[Any], str] = lambda obj: str(obj.id),
    ) -> dict[str, dict[str, Any] | None]:
        """:meth:`observe_many` from one list call (``listing``; ``key`` gives a listed object's
        cloud id) when there are several resources to read. A resource the list does not show is
        read on its own: only a read by id may say it is gone, never a list (a page limit, a
        filter), since a plan makes a deleted resource again."""
        if len(items) < 2:
            return Handler.observe_many(self, ctx, items, detail=True)
        found = ctx.cloud.call(f"list {self.noun}s", lambda: {key(obj): obj for obj in listing()})
        ctx.cache[f"listed:{self.kind}"] = found
        return {
            cloud_id: self.project(ctx, cloud_id, found[cloud_id])
            if cloud_id in found
            else self.observe(ctx, cloud_id, attrs)
            for cloud_id, attrs in items.items()
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        raise NotImplementedError

    def wait_status(
        self,
        ctx: Context,
        label: str,
        cloud_id: str,
        target: tuple[str, ...],
        failures: tuple[str, ...],
        timeout: float,
        attr: str = "status",
    ) -> Any:
        """Wait until :meth:`get` shows one of ``target`` (fails on ``failures``)."""
        return ctx.cloud.wait(
            label,
            lambda: self.get(ctx, cloud_id),
            target=target,
            failures=failures,
            timeout=timeout,
            attr=attr,
        )

    def wait_gone(self, ctx: Context, cloud_id: str, timeout: float, attr: str = "status") -> None:
        """Wait until :meth:`get` answers not found."""
        ctx.cloud.wait(
            f"{self.noun} {cloud_id} (delete)",
            lambda: self.get(ctx, cloud_id),
            target=(),
            failures=(),
            timeout=timeout,
            gone_ok=True,
            attr=attr,
        )


def upper(value: Any) -> str:
    return str(value).upper()


def get_or_none(ctx: Context, what: str, fn: Any) -> Any:
    try:
        return ctx.cloud.call(what, fn)
    except CloudNotFound:
        return None


def bind(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A call with its arguments fixed now (not late-bound like a lambda in a loop)."""
    return lambda: fn(*args, **kwargs)


def find_tagged(
    ctx: Context, d: Desired, what: str, items: Callable[[], Iterable[Any]], exclude: Collection[str] = ()
) -> str | None:
    """The id of the resource among ``items()`` whose tags name this deployment and key (and
    that is not in ``exclude``), or None."""

    def search() -> str | None:
        for item in items():
            if owner_from_tags(item.tags) == (ctx.deployment, d.key) and item.id not in exclude:
                return str(item.id)
        return None

    return ctx.cloud.call(f"look for {what} {d.name}", search)


def adopt_untagged(
    ctx: Context,
    d: Desired,
    what: str,
    items: Callable[[], Iterable[Any]],
    description: str,
    exclude: Collection[str] = (),
) -> str | None:
    """A Neutron resource this deployment created whose tagging did not happen (the apply was
    killed between the create and the tag call): found by the description it was created with
    (set in the create call itself), tagged now, its id returned; None if there is none."""

    def search() -> Any:
        for item in items():
            untagged = owner_from_tags(item.tags) is None
            if untagged and item.description == description and item.id not in exclude:
                return item
        return None

    found = ctx.cloud.call(f"look for untagged {what} {d.name}", search)
    if found is None:
        return None
    tags = tags_for(ctx.deployment, d.key)
    ctx.cloud.call(f"tag {what} {d.name}", lambda: ctx.cloud.conn.network.set_tags(found, tags))
    return str(found.id)


def find_by_meta(
    ctx: Context,
    d: Desired,
    what: str,
    items: Callable[[], Iterable[Any]],
    exclude: Collection[str] = (),
    **also: str,
) -> str | None:
    """The id of the resource among ``items()`` whose metadata names this deployment and key
    (and every ``also`` mark), not in ``exclude``, or None."""
    want = {META_DEPLOYMENT: ctx.deployment, META_KEY: d.key, **also}

    def search() -> str | None:
        for item in items():
            meta = item.metadata or {}
            if (
                item.id not in exclude
                and all(meta.get(k) == v for k, v in want.items())
                and upper(getattr(item, "status", "")) not in ("DELETED", "SOFT_DELETED")
            ):
                return str(item.id)
        return None

    return ctx.cloud.call(f"look for {what} {d.name}", search)
