"""Reconciling a deployment: plan, apply, destroy, status and orphans.

The lifecycle of one resource during ``apply``:

1. a :class:`~gateway_kit.hosting.models.DeploymentResource` row is written in ``creating`` and a
   ``create`` step ``started`` is journalled -- both committed *before* the cloud is called;
2. the create is sent and the returned id is committed at once;
3. the engine waits (target, failure states and timeout named) and commits ``ready`` with the
   observed attributes; the step is ``done``.

A SIGKILL between 1 and 2 leaves a ``creating`` row without an id: the next run first looks for
the resource by its name and ownership marks (:meth:`Handler.find`) and adopts it, so nothing is
created twice. A row in ``deleting`` is deleted again (deletes ignore what is gone). A row in
``replacing`` keeps the old server's id until the new one is in service. ``apply
--rollback-on-failure`` deletes what the failed run created, from the journal.

Re-applying an unchanged spec reads the cloud (to notice drift and deletions made outside the
kit) but sends no mutating request.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import db
from ..errors import ConfigError, GatewayError, NotFound
from . import releases
from .cloud import Cloud, CloudNotFound
from .handlers import HANDLERS, Context
from .models import Deployment, DeploymentResource, DeploymentStep
from .plan import RANK, UNKNOWN, Change, Plan, classify, desired_resources, resolve
from .run import LB_CHILDREN, Run
from .spec import DeploymentSpec, spec_from_json
from .userdata import render_user_data, secret_versions

log = logging.getLogger(__name__)


class Reporter(Protocol):
    def begin(self, total: int, title: str) -> None: ...

    def step(self, text: str) -> None: ...

    def end(self) -> None: ...


class NullReporter:
    def begin(self, total: int, title: str) -> None:
        pass

    def step(self, text: str) -> None:
        log.info("%s", text)

    def end(self) -> None:
        pass


@dataclass
class ResourceStatus:
    key: str
    kind: str
    cloud_id: str | None
    recorded: str
    live: str
    drift: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Reconciles deployments for one app (database) and one :class:`Cloud`."""

    def __init__(self, app: Flask, cloud: Cloud, reporter: Reporter | None = None) -> None:
        self.app = app
        self.cloud = cloud
        self.reporter: Reporter = reporter or NullReporter()

    # -- helpers -------------------------------------------------------------------------

    def _session(self) -> Session:
        from ..db import Database

        state = Database._state(self.app)
        return state.factory()

    def _deployment(self, s: Session, name: str) -> Deployment | None:
        return s.scalars(select(Deployment).where(Deployment.name == name)).one_or_none()

    def _ctx(self, name: str, spec: DeploymentSpec | None, rows: dict[str, DeploymentResource]) -> Context:
        ctx = Context(self.cloud, name)
        if spec is not None:
            ctx.cache["network"] = spec.network.name
        lb = rows.get("lb")
        if lb is not None and lb.cloud_id:
            ctx.cache["lb_id"] = lb.cloud_id
        return ctx

    # -- plan ----------------------------------------------------------------------------

    def plan(self, spec: DeploymentSpec, refresh: bool = True) -> Plan:
        """What ``apply`` would do; sends no mutating request.

        :raises ConfigError: (with ``refresh``) the spec's cloud is not in clouds.yaml, even when
            nothing is recorded yet to read from it.
        """
        if refresh:
            _ = self.cloud.conn  # reads clouds.yaml (no request): a missing cloud fails here
        with self._session() as s:
            dep = self._deployment(s, spec.name)
            rows = {r.key: r for r in dep.resources} if dep else {}
            live = self._refresh(self._ctx(spec.name, spec, rows), rows) if refresh else {}
            return self._diff(spec, rows, live, secret_versions(dep.spec if dep else None))

    def _refresh(
        self, ctx: Context, rows: dict[str, DeploymentResource], detail: bool = False
    ) -> dict[str, dict[str, Any] | None]:
        """The live state of the recorded resources (None: gone), read kind by kind in
        dependency order, several of a kind at once where the kind can (a list call, the load
        balancer's status tree); ``detail``: every observed property, not only the status."""
        live: dict[str, dict[str, Any] | None] = {}
        for stale in [k for k in ctx.cache if k.startswith("listed:") or k == "lb_tree"]:
            del ctx.cache[stale]  # what an earlier refresh of this run listed
        by_kind: dict[str, dict[str, str]] = {}  # kind -> cloud id -> key
        for key, row in rows.items():
            if row.cloud_id and row.status in ("ready", "updating"):
                by_kind.setdefault(row.kind, {})[row.cloud_id] = key
        for kind in sorted(by_kind, key=RANK.__getitem__):
            keys = by_kind[kind]
            if kind in LB_CHILDREN and "lb_id" not in ctx.cache:
                live.update(dict.fromkeys(keys.values()))
                continue
            seen = HANDLERS[kind].observe_many(ctx, {cid: rows[k].attrs for cid, k in keys.items()}, detail)
            for cloud_id, key in keys.items():
                live[key] = seen[cloud_id]
            if kind == "loadbalancer" and any(seen[c] is None for c in keys):
                ctx.cache.pop("lb_id", None)
        return live

    def _diff(
        self,
        spec: DeploymentSpec,
        rows: dict[str, DeploymentResource],
        live: dict[str, dict[str, Any] | None],
        versions: Mapping[str, int] | None = None,
    ) -> Plan:
        desired = desired_resources(spec, render_user_data(spec, versions))
        attrs = {k: r.attrs for k, r in rows.items() if r.cloud_id and r.status == "ready"}
        changes: list[Change] = []
        replaced: set[str] = set()
        for d in desired:
            row = rows.get(d.key)
            props = resolve(d.props, attrs)
            if any(f"${{{k}." in str(d.props) for k in replaced):
                props = {
                    k: (
                        UNKNOWN
                        if "${" in str(v) and any(f"${{{r}." in str(v) for r in replaced)
                        else props[k]
                    )
                    for k, v in d.props.items()
                }
            if row is None:
                changes.append(Change("create", d.key, d.kind, d.name, after=props))
                replaced.add(d.key)
                continue
            obs = live.get(d.key, {"status": "?"}) if live else {"status": "?"}
            if row.status in ("creating", "failed", "deleting", "replacing") or not row.cloud_id:
                changes.append(
                    Change(
                        "create" if not row.cloud_id else "replace",
                        d.key,
                        d.kind,
                        f"resume ({row.status})",
                        before=row.props,
                        after=props,
                    )
                )
                replaced.add(d.key)
                continue
            if obs is None:
                changes.append(Change("create", d.key, d.kind, "deleted outside the kit", after=props))
                replaced.add(d.key)
                continue
            if str(obs.get("status", "")).upper() in ("ERROR",):
                changes.append(Change("replace", d.key, d.kind, "in ERROR", before=row.props, after=props))
                replaced.add(d.key)
                continue
            action, desc = classify(d.kind, row.props, props)
            if action != "noop":
                changes.append(Change(action, d.key, d.kind, desc, before=row.props, after=props))
                if action == "replace":
                    replaced.add(d.key)
        wanted = {d.key for d in desired}
        for key, row in sorted(rows.items(), key=lambda kv: -RANK[kv[1].kind]):
            if key not in wanted:
                changes.append(Change("delete", key, row.kind, row.cloud_id or "", before=row.props))
        return Plan(spec.name, changes)

    # -- apply ---------------------------------------------------------------------------

    def apply(
        self,
        spec: DeploymentSpec,
        rollback_on_failure: bool = False,
        refresh: bool = True,
        rotate: Collection[str] = (),
    ) -> Plan:
        """Converge the cloud to ``spec``; return the plan that was carried out.

        :param rotate: secrets to make (or read from their source) anew: the VMs whose user data
            carries them are replaced one at a time, like any other change of their user data.
        """
        run = Run(self, spec)
        return run.apply(rollback_on_failure, refresh, tuple(rotate))

    def release(self, spec: DeploymentSpec, rotate: Collection[str] = ()) -> Plan:
        """Roll ``spec``'s release (``[app]``) across its web and worker VMs, one VM at a time
        (see :mod:`.releases`); an empty plan when they already run it. ``rotate``: secrets made
        anew in the same pass (as ``apply``'s).

        :raises ConfigError: the deployment does not exist yet, or the spec changes more than
            the release (that is ``deploy apply``'s job; nothing is changed).
        """
        with self._session() as s:
            if self._deployment(s, spec.name) is None:
                raise NotFound(
                    f"There is no deployment named {spec.name!r}: create it with `gateway-kit deploy apply`."
                )
        plan = self.plan(spec)
        other = [c for c in plan.changes if not _release_change(c, bool(rotate))]
        if other:
            raise ConfigError(
                f"`deploy release` changes only the release the web and worker VMs run, but this "
                f"spec also changes: {', '.join(c.key for c in other)}. Nothing was changed; use "
                "`gateway-kit deploy apply` for those changes."
            )
        return self.apply(spec, rotate=rotate)

    def rollback(self, name: str, spec: DeploymentSpec | None = None) -> tuple[str, Plan]:
        """Return deployment ``name`` to the release before the one it runs (kept in its record,
        wheel included); ``spec`` (default: the one last applied) gives the rest of the
        deployment. Returns the release rolled back to and the plan carried out."""
        with self._session() as s:
            dep = self._deployment(s, name)
            if dep is None:
                raise NotFound(f"There is no deployment named {name!r} (see `gateway-kit deploy list`).")
            record = dict(dep.spec or {})
        base = spec if spec is not None else spec_from_json(record)
        kept = releases.history(record)
        current = str(kept[-1]["release"]) if kept else releases.release_of(base)
        entry = releases.previous(record, current)
        cache = Path(self.app.instance_path) / "hosting-releases"
        return str(entry["release"]), self.release(releases.spec_for(base, entry, cache))

    def destroy(self, name: str) -> int:
        """Delete everything deployment ``name`` owns, in reverse dependency order."""
        with self._session() as s:
            dep = self._deployment(s, name)
            if dep is None:
                raise NotFound(f"There is no deployment named {name!r} (see `gateway-kit deploy list`).")
            spec = spec_from_json(dep.spec) if dep.spec else None
        run = Run(self, spec, name=name)
        count = run.destroy()
        if spec is not None and spec.tls is not None:
            from .tls import release_certificate

            try:
                note = release_certificate(self.app, spec)
            except GatewayError as exc:  # the cloud is clean; only the secret may be left
                note = f"The certificate's Barbican secret was not deleted: {exc.user_message}"
                log.warning("release of the certificate of %s failed: %s", name, exc.log_message)
            if note:
                self.reporter.step(note)
        return count

    # -- status --------------------------------------------------------------------------

    def status(self, name: str) -> tuple[Deployment, list[ResourceStatus]]:
        with self._session() as s:
            dep = self._deployment(s, name)
            if dep is None:
                raise NotFound(f"There is no deployment named {name!r} (see `gateway-kit deploy list`).")
            rows = {r.key: r for r in dep.resources}
            spec = spec_from_json(dep.spec) if dep.spec else None
            ctx = self._ctx(name, spec, rows)
            live = self._refresh(ctx, rows, detail=True)
            attrs = {k: r.attrs for k, r in rows.items()}
            out: list[ResourceStatus] = []
            for key, row in sorted(rows.items(), key=lambda kv: (RANK[kv[1].kind], kv[0])):
                obs = live.get(key)
                drift: list[str] = []
                if row.cloud_id and row.status in ("ready", "updating") and obs is None:
                    drift.append("deleted outside the kit")
                    live_status = "MISSING"
                elif obs is None:
                    live_status = "-"
                else:
                    live_status = str(obs.get("status", "?"))
                    props = resolve(row.props, attrs)
                    for k, v in obs.items():
                        if k in props and k not in ("status",) and _norm(props[k]) != _norm(v):
                            drift.append(f"{k}: recorded {props[k]!r}, live {v!r}")
                out.append(
                    ResourceStatus(
                        key,
                        row.kind,
                        row.cloud_id,
                        row.status,
                        live_status,
                        drift,
                        {k: v for k, v in (obs or {}).items() if k != "status"},
                    )
                )
            s.expunge(dep)
            return dep, out

    def cloud_id(self, name: str, key: str) -> str | None:
        """The recorded cloud id of resource ``key`` (``lb``...) of deployment ``name``."""
        with self._session() as s:
            dep = self._deployment(s, name)
            row = next((r for r in dep.resources if r.key == key), None) if dep else None
            return row.cloud_id if row is not None else None

    def deployments(self) -> list[Deployment]:
        with self._session() as s:
            deps = list(s.scalars(select(Deployment).order_by(Deployment.name)))
            for d in deps:
                s.expunge(d)
            return deps

    def steps(self, name: str, limit: int = 50) -> list[DeploymentStep]:
        with self._session() as s:
            dep = self._deployment(s, name)
            if dep is None:
                return []
            steps = list(
                s.scalars(
                    select(DeploymentStep)
                    .where(DeploymentStep.deployment_id == dep.id)
                    .order_by(DeploymentStep.id.desc())
                    .limit(limit)
                )
            )
            for st in steps:
                s.expunge(st)
            return steps

    # -- orphans -------------------------------------------------------------------------

    def orphans(self, delete: bool = False) -> list[dict[str, Any]]:
        """Resources carrying the kit's marks that no recorded deployment owns."""
        from .orphans import find_orphans

        with self._session() as s:
            owned: set[str] = set()
            for row in s.scalars(select(DeploymentResource)):
                for part in (row.cloud_id or "").split("/"):
                    if part:
                        owned.add(part)
                old = (row.attrs or {}).get("old_id")
                if old:
                    owned.add(str(old))
            kept_names = set(s.scalars(select(Deployment.name)))
        found = find_orphans(self.cloud, owned)
        if delete:
            from .orphans import delete_orphan

            for o in found:
                delete_orphan(self.cloud, o)
                o["deleted"] = True
        for o in found:
            o["deployment_known"] = o.get("deployment") in kept_names
        return found


def _release_change(c: Change, rotating: bool = False) -> bool:
    """Whether ``c`` belongs to a release: a VM replaced for a new release (or a rotated secret),
    or what hangs on it (its pool member, floating IP, DNS records, volume attachments)."""
    if c.kind == "server":
        before = (c.before.get("metadata") or {}).get(releases.META_RELEASE)
        after = (c.after.get("metadata") or {}).get(releases.META_RELEASE)
        return c.action == "replace" and (before != after or rotating or c.detail.startswith("resume"))
    return c.kind in ("member", "fip", "recordset", "attachment") and c.action in ("replace", "update")


def _norm(v: Any) -> Any:
    if isinstance(v, list):
        return sorted(str(x) for x in v)
    if isinstance(v, dict):
        return {str(k): str(x) for k, x in v.items()}
    return v


def engine_for(
    app: Flask, cloud_name: str | None = None, reporter: Reporter | None = None, connection: Any = None
) -> Engine:
    """An :class:`Engine` on ``app``'s database and the cloud named in settings (or ``cloud_name``)."""
    from .cloud import Timeouts

    cloud = Cloud(
        cloud_name or app.config["CLOUD_NAME"], Timeouts.from_config(app.config), connection=connection
    )
    return Engine(app, cloud, reporter)


def load(path: Path | str) -> DeploymentSpec:
    from .spec import load_spec

    return load_spec(path)


__all__ = ["CloudNotFound", "Engine", "ResourceStatus", "db", "engine_for", "load"]
