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

import base64
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import db
from ..errors import ConfigError, GatewayError, NotFound, QuotaExceeded
from . import cloudinit, releases
from .cloud import Cloud, CloudNotFound
from .handlers import HANDLERS, Context
from .models import Deployment, DeploymentResource, DeploymentStep
from .plan import (
    RANK,
    UNKNOWN,
    Change,
    Desired,
    Plan,
    classify,
    desired_resources,
    resolve,
)
from .spec import DeploymentSpec, spec_from_json
from .userdata import (
    DATABASE_ROLE,
    SECRETS,
    VERSIONS,
    fill,
    mark_versions,
    new_secret,
    role_context,
    seal,
    sealed_secrets,
    secret_names,
    secret_versions,
    unseal,
)

log = logging.getLogger(__name__)

#: Children deleted with their load balancer (``cascade=True``) during destroy.
LB_CHILDREN = ("pool", "monitor", "listener", "l7policy", "member")


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


def render_user_data(
    spec: DeploymentSpec, versions: Mapping[str, int] | None = None
) -> Callable[[str, str, int], str]:
    """The cloud-init renderer for ``spec``: Jinja2 templates relative to the spec's folder (or
    the kit's own); ``versions`` of rotated secrets are marked in the text (:func:`mark_versions`)."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML
        keep_trailing_newline=True,
    )
    env.filters["b64"] = lambda text: base64.b64encode(str(text).encode()).decode()
    cache: dict[str, jinja2.Template] = {}

    def render(role: str, vm: str, index: int) -> str:
        r = spec.role(role)
        assert r.cloud_init is not None
        zone = spec.dns.zone if spec.dns else ""
        if r.cloud_init not in cache:
            path = cloudinit.resolve(r.cloud_init, spec.base_dir)
            try:
                cache[r.cloud_init] = env.from_string(path.read_text())
            except OSError as exc:
                hint = (
                    " database.yaml.j2 was retired (it formatted the volume unconditionally): use "
                    'cloud_init = "gateway-kit:postgres-on-volume".'
                    if Path(r.cloud_init).name == "database.yaml.j2"
                    else ""
                )
                raise NotFound(
                    f"roles.{role}.cloud_init: cannot read the template {path} ({exc.strerror}).{hint}"
                ) from exc
            except jinja2.TemplateSyntaxError as exc:
                raise NotFound(f"roles.{role}.cloud_init: {path} line {exc.lineno}: {exc.message}.") from exc
        template = cache[r.cloud_init]
        text = template.render(
            deployment=spec.name,
            role=role,
            vm=vm,
            index=index,
            hostname=f"{spec.name}-{vm}",
            zone=zone.rstrip("."),
            fqdn=f"{vm}.{zone.rstrip('.')}" if zone else f"{spec.name}-{vm}",
            roles={x.name: x.count for x in spec.roles},
            volumes=[v.name for v in spec.volumes if v.attach_to in (role, vm)],
            has_volume=r.volume is not None,
            **role_context(spec, role, vm),
        )
        releases.check_size(role, text)
        return mark_versions(text, versions or {})

    return render


def _now() -> datetime:
    return datetime.now(UTC)


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
        run = _Run(self, spec)
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
        run = _Run(self, spec, name=name)
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


class _Run:
    """One apply or destroy: a session, the deployment row, its resources, the journal."""

    def __init__(self, engine: Engine, spec: DeploymentSpec | None, name: str | None = None) -> None:
        self.engine = engine
        self.cloud = engine.cloud
        self.spec = spec
        self.name = name or (spec.name if spec else "")
        self.s = engine._session()
        self.reporter = engine.reporter
        dep = engine._deployment(self.s, self.name)
        self.rows: dict[str, DeploymentResource] = {r.key: r for r in dep.resources} if dep else {}
        self.dep = dep
        self.ctx = engine._ctx(self.name, spec, self.rows)
        self.run_no = 0
        self.desired: list[Desired] = []
        self._secrets: dict[str, str] = {}

    # journal -------------------------------------------------------------------------

    def commit(self) -> None:
        self.s.commit()

    def step(self, action: str, key: str, **detail: Any) -> DeploymentStep:
        assert self.dep is not None
        st = DeploymentStep(
            deployment_id=self.dep.id,
            run=self.run_no,
            action=action,
            key=key,
            state="started",
            detail=detail,
            error="",
        )
        self.s.add(st)
        self.commit()
        self.reporter.step(f"{action} {key}")
        return st

    def finish(self, st: DeploymentStep, error: BaseException | None = None) -> None:
        st.state = "failed" if error else "done"
        st.error = getattr(error, "user_message", str(error)) if error else ""
        st.finished_at = _now()
        self.commit()

    def attrs(self) -> dict[str, dict[str, Any]]:
        return {k: r.attrs for k, r in self.rows.items() if r.cloud_id and r.status in ("ready", "replacing")}

    # user data placeholders (see .userdata) ---------------------------------------------

    def materialize(self, d: Desired) -> Desired:
        """``d`` with its user data's placeholders filled in, for the create call only."""
        text = str(d.payload.get("user_data") or "")
        if d.kind != "server" or "${" not in text:
            return d
        attrs = self.attrs()

        def value(key: str, attr: str) -> str | None:
            if key == "secret":
                return self.secret(attr)
            if key == "subnet" and attr == "cidr":
                assert self.spec is not None
                return str(self.ctx.subnet(self.spec.network.name).cidr)
            found = attrs.get(key, {}).get(attr)
            return None if found is None else str(found)

        return replace(d, payload={**d.payload, "user_data": fill(text, value)})

    def secret(self, name: str) -> str:
        """A deployment secret: unsealed from its record, or made (or read from the source the
        spec names) and stored sealed now, before any VM that carries it is created."""
        if name not in self._secrets:
            assert self.dep is not None and self.spec is not None
            config = self.engine.app.config
            kept = sealed_secrets(self.dep.spec)
            if name in kept:
                self._secrets[name] = unseal(config, kept[name])
            else:
                value = new_secret(self.spec, name)
                kept[name] = seal(config, value)
                self.dep.spec = {**(self.dep.spec or {}), SECRETS: kept}
                self.commit()
                self._secrets[name] = value
        return self._secrets[name]

    def rotate(self, names: tuple[str, ...]) -> dict[str, int]:
        """Forget the stored values of ``names`` and bump their versions; the versions after."""
        assert self.spec is not None
        record = self.dep.spec if self.dep is not None else {}
        versions = secret_versions(record)
        if not names:
            return versions
        used = {n for r in self.spec.roles for n in self._template_secrets(r.name)}
        unknown = sorted(set(names) - used)
        if unknown:
            raise ConfigError(
                f"--rotate {', '.join(unknown)}: the deployment's user data uses no such secret "
                f"(it uses: {', '.join(sorted(used)) or 'none'})."
            )
        kept = sealed_secrets(record)
        for n in names:
            kept.pop(n, None)
            versions[n] = versions.get(n, 1) + 1
        if self.dep is not None:
            self.dep.spec = {**(self.dep.spec or {}), SECRETS: kept, VERSIONS: versions}
        return versions

    def _template_secrets(self, role: str) -> list[str]:
        assert self.spec is not None
        r = self.spec.role(role)
        if not r.cloud_init or r.count < 1:
            return []
        return secret_names(render_user_data(self.spec)(role, f"{role}-1", 1))

    # apply ---------------------------------------------------------------------------

    def apply(self, rollback_on_failure: bool, refresh: bool, rotate: tuple[str, ...] = ()) -> Plan:
        spec = self.spec
        assert spec is not None
        versions = self.rotate(rotate)
        # the database VM first: the other VMs' DATABASE_URL may need its address
        self.desired = sorted(
            desired_resources(spec, render_user_data(spec, versions)),
            key=lambda d: (d.rank, not (d.kind == "server" and d.payload.get("role") == DATABASE_ROLE)),
        )
        if refresh:
            live = self.engine._refresh(self.ctx, self.rows)
            for key, obs in live.items():
                row = self.rows[key]
                if obs is None:
                    # deleted outside the kit (or its load balancer is gone): make it again
                    row.cloud_id, row.status = None, "missing"
                elif row.kind == "server" and obs.get("status") == "ERROR":
                    row.status = "failed"
        plan = self.engine._diff(spec, self.rows, {}, versions)
        if plan.empty and self.dep is not None and self.dep.status == "ready":
            self.s.rollback()  # nothing to record: a no-op apply writes nothing
            self.s.close()
            return plan
        self._preflight(spec, plan)
        if self.dep is None:
            self.dep = Deployment(
                name=spec.name, cloud=self.cloud.name, spec=spec.to_json(), status="new", last_error="", run=0
            )
            self.s.add(self.dep)
        self.dep.run = (self.dep.run or 0) + 1
        self.run_no = self.dep.run
        kept = sealed_secrets(self.dep.spec)
        history = releases.history(self.dep.spec)
        self.dep.spec = {
            **spec.to_json(),
            **({SECRETS: kept} if kept else {}),
            **({VERSIONS: versions} if versions else {}),
            **({releases.HISTORY: history} if history else {}),
        }
        self.dep.status = "applying"
        self.dep.updated_at = _now()
        self.commit()
        self.reporter.begin(max(1, len(plan.changes)), f"apply {spec.name}")
        try:
            for d in self.desired:
                self.converge(d)
            wanted = {d.key for d in self.desired}
            for row in sorted(
                [r for k, r in self.rows.items() if k not in wanted], key=lambda r: -RANK[r.kind]
            ):
                self.remove(row)
            self.dep.status, self.dep.last_error = "ready", ""
            self.dep.updated_at = _now()
            if any(releases.runs_release(spec, r.name) for r in spec.roles if r.count > 0):
                self.dep.spec = {**self.dep.spec, releases.HISTORY: releases.remember(self.dep.spec, spec)}
            self.commit()
        except GatewayError as exc:
            self.s.rollback()
            self.dep.status, self.dep.last_error = "failed", exc.user_message
            self.commit()
            if rollback_on_failure:
                self.rollback()
            raise
        finally:
            self.reporter.end()
            self.s.close()
        return plan

    def _preflight(self, spec: DeploymentSpec, plan: Plan) -> None:
        """Fail before any change when the zone is missing, a secret's source (env/file) is not
        there, or a quota cannot hold the plan."""
        kept = sealed_secrets(self.dep.spec if self.dep is not None else None)
        for role in spec.roles:
            for name in self._template_secrets(role.name):
                if name not in kept:
                    new_secret(spec, name)  # raises naming the missing variable or file
        if (
            spec.dns is not None
            and not spec.dns.create_zone
            and any(c.kind == "recordset" and c.action != "delete" for c in plan.changes)
        ):
            self.ctx.zone(spec.dns.zone)
        need = {"instances": 0, "cores": 0, "ram": 0, "volumes": 0, "gigabytes": 0}
        for c in plan.changes:
            if c.kind == "server" and c.action == "create":
                f = self.ctx.flavor(c.after["flavor"])
                need["instances"] += 1
                need["cores"] += int(f.vcpus)
                need["ram"] += int(f.ram)
            elif c.kind == "volume" and c.action == "create":
                need["volumes"] += 1
                need["gigabytes"] += int(c.after["size"])
            elif c.kind == "volume" and c.action == "extend":
                need["gigabytes"] += int(c.after["size"]) - int(c.before.get("size", 0))
        if not any(need.values()):
            return
        compute = self.cloud.call("read compute limits", lambda: self.cloud.conn.compute.get_limits())
        a = compute.absolute
        checks = [
            ("instances", a.instances, a.instances_used),
            ("cores", a.total_cores, a.total_cores_used),
            ("ram", a.total_ram, a.total_ram_used),
        ]
        if need["volumes"] or need["gigabytes"]:
            vol = self.cloud.call("read volume limits", lambda: self.cloud.conn.block_storage.get_limits())
            va = vol.absolute
            checks += [
                ("volumes", va.max_total_volumes, va.total_volumes_used),
                ("gigabytes", va.max_total_volume_gigabytes, va.total_gigabytes_used),
            ]
        for res, limit, used in checks:
            if limit is None or int(limit) < 0 or not need[res]:
                continue
            if int(used or 0) + need[res] > int(limit):
                raise QuotaExceeded(
                    f"The plan needs {need[res]} more {res} but the project's quota allows "
                    f"{int(limit)} and {int(used or 0)} are in use. Nothing was changed. Lower the "
                    "spec's counts, flavors or sizes, free resources (`gateway-kit deploy orphans`), "
                    "or ask the cloud's support for a larger quota.",
                    log_message=f"quota preflight {res}: need {need[res]}, used {used}, limit {limit}",
                )

    def converge(self, d: Desired) -> None:
        handler = HANDLERS[d.kind]
        row = self.rows.get(d.key)
        if row is not None and row.status == "replacing":
            self.replace_server(d, row)
            return
        props = resolve(d.props, self.attrs(), strict=True)
        if row is None:
            row = DeploymentResource(
                deployment_id=self.dep.id if self.dep else 0,
                key=d.key,
                kind=d.kind,
                status="creating",
                props=props,
                attrs={},
                created_run=self.run_no,
            )
            self.s.add(row)
            self.rows[d.key] = row
            self.create(row, d, props, adopt=False)
            return
        if row.status in ("creating", "missing") and not row.cloud_id:
            row.props = props
            self.create(row, d, props, adopt=row.status == "creating")
            return
        if row.status == "creating" and row.cloud_id:
            # the create was sent and recorded, then the run stopped: wait for it again
            self.resume_wait(row, d)
            if classify(d.kind, row.props, props)[0] == "noop":
                return
        if row.status in ("failed", "deleting"):
            self.recreate(row, d, props)
            return
        action, desc = classify(d.kind, row.props, props)
        if action == "noop":
            return
        if action == "replace":
            if d.kind == "server":
                self.replace_server(d, row)
            elif d.kind == "member":
                self.replace_member(row, d, props)
            else:
                self.recreate(row, d, props)
            return
        st = self.step(action, d.key, change=desc)
        row.status = "updating"
        self.commit()
        try:
            row.attrs = handler.update(self.ctx, d, str(row.cloud_id), row.props, props, dict(row.attrs))
        except GatewayError as exc:
            self.finish(st, exc)
            raise
        row.props, row.status, row.updated_at = props, "ready", _now()
        self.finish(st)

    def create(self, row: DeploymentResource, d: Desired, props: dict[str, Any], adopt: bool) -> None:
        handler = HANDLERS[d.kind]
        st = self.step("create", d.key, name=d.name)
        try:
            cloud_id = handler.find(self.ctx, d, props, set()) if adopt else None
            if cloud_id is None:
                cloud_id = handler.create(self.ctx, self.materialize(d), props)
            row.cloud_id, row.status = cloud_id, "creating"
            self.commit()
            row.attrs = handler.wait(self.ctx, d, cloud_id, props)
        except GatewayError as exc:
            row.status = "failed" if row.cloud_id else "creating"
            self.commit()
            self.finish(st, exc)
            raise
        row.status, row.updated_at = "ready", _now()
        self.finish(st)

    def resume_wait(self, row: DeploymentResource, d: Desired) -> None:
        st = self.step("create", d.key, name=d.name, resumed=True)
        try:
            row.attrs = HANDLERS[d.kind].wait(self.ctx, d, str(row.cloud_id), row.props)
        except GatewayError as exc:
            row.status = "failed"
            self.commit()
            self.finish(st, exc)
            raise
        row.status, row.updated_at = "ready", _now()
        self.finish(st)

    def recreate(self, row: DeploymentResource, d: Desired, props: dict[str, Any]) -> None:
        """Delete-then-create (a failed resource, or an immutable property changed)."""
        if row.cloud_id:
            st = self.step("delete", d.key, reason="replace", cloud_id=row.cloud_id)
            row.status = "deleting"
            self.commit()
            try:
                HANDLERS[d.kind].delete(self.ctx, row.cloud_id, row.attrs)
            except GatewayError as exc:
                self.finish(st, exc)
                raise
            self.finish(st)
        row.cloud_id, row.status, row.props, row.attrs = None, "missing", props, {}
        self.commit()
        self.create(row, d, props, adopt=False)

    def replace_member(self, row: DeploymentResource, d: Desired, props: dict[str, Any]) -> None:
        """Create-before-destroy: the new member is healthy before the old one leaves the pool."""
        handler = HANDLERS["member"]
        old_id = row.cloud_id
        st = self.step("replace", d.key, old=old_id)
        try:
            new_id = handler.find(self.ctx, d, props, set()) or handler.create(self.ctx, d, props)
            handler.wait_online(self.ctx, d.name, new_id)  # type: ignore[attr-defined]
            row.cloud_id, row.props, row.attrs = new_id, props, {"id": new_id}
            self.commit()
            if old_id and old_id != new_id:
                drain = float(self.engine.app.config["HOSTING_DRAIN_SECONDS"])
                handler.drain(self.ctx, old_id, drain)  # type: ignore[attr-defined]
                handler.delete(self.ctx, old_id, {})
        except GatewayError as exc:
            self.finish(st, exc)
            raise
        row.status = "ready"
        self.finish(st)

    def replace_server(self, d: Desired, row: DeploymentResource) -> None:
        """Rolling replace of one server: new VM, its volume/IP/member/records, then the old one goes."""
        handler = HANDLERS["server"]
        if row.status != "replacing":
            st = self.step("replace", d.key, old=row.cloud_id)
            row.attrs = {
                **row.attrs,
                "old_id": row.cloud_id,
                "old_props": row.props,
                "old_attrs": dict(row.attrs),
            }
            row.status, row.cloud_id = "replacing", None
            row.props = resolve(d.props, self.attrs(), strict=True)
            self.commit()
        else:
            st = self.step("replace", d.key, old=row.attrs.get("old_id"), resumed=True)
        old_id = str(row.attrs.get("old_id") or "")
        keep: dict[str, Any] = {
            k: row.attrs[k] for k in ("old_id", "old_props", "old_attrs") if k in row.attrs
        }
        try:
            if not row.cloud_id:
                new_id = handler.find(self.ctx, d, row.props, {old_id})
                row.cloud_id = new_id or handler.create(self.ctx, self.materialize(d), row.props)
                self.commit()
            row.attrs = {**handler.wait(self.ctx, d, row.cloud_id, row.props), **keep}
            self.commit()
            # move what hangs on this server to the new one, in dependency order
            for dep in self.dependents(d.key):
                self.converge(dep)
            if old_id:
                handler.delete(self.ctx, old_id, {})
        except GatewayError as exc:
            self.finish(st, exc)
            raise
        row.attrs = {k: v for k, v in row.attrs.items() if k not in keep}
        row.status, row.updated_at = "ready", _now()
        self.finish(st)

    def dependents(self, key: str) -> list[Desired]:
        keys = {key}
        out: list[Desired] = []
        for d in self.desired:  # desired is in dependency order, so one pass finds the closure
            if d.key != key and any(f"${{{k}." in str(d.props) for k in keys):
                keys.add(d.key)
                out.append(d)
        return out

    def remove(self, row: DeploymentResource, cascade_lb: bool = False) -> None:
        st = self.step("delete", row.key, cloud_id=row.cloud_id)
        row.status = "deleting"
        self.commit()
        try:
            if row.cloud_id and not (cascade_lb and row.kind in LB_CHILDREN):
                HANDLERS[row.kind].delete(self.ctx, row.cloud_id, row.attrs)
            old = (row.attrs or {}).get("old_id")
            if old and row.kind == "server":
                HANDLERS["server"].delete(self.ctx, str(old), {})
        except GatewayError as exc:
            self.finish(st, exc)
            raise
        if row.kind == "loadbalancer":
            self.ctx.cache.pop("lb_id", None)
        self.s.delete(row)
        self.rows.pop(row.key, None)
        self.finish(st)

    def rollback(self) -> None:
        """Undo what the failed run created (journal order reversed); restore replaced servers."""
        self.reporter.step("rolling back")
        for row in sorted(list(self.rows.values()), key=lambda r: -RANK[r.kind]):
            if row.status == "replacing" and row.attrs.get("old_id"):
                if row.cloud_id:
                    HANDLERS["server"].delete(self.ctx, row.cloud_id, {})
                row.cloud_id = row.attrs["old_id"]
                row.props = row.attrs.get("old_props", row.props)
                row.attrs = row.attrs.get("old_attrs", {})
                row.status = "ready"
                self.commit()
            elif row.created_run == self.run_no:
                self.remove(row)
        assert self.dep is not None
        self.dep.status = "failed" if self.rows else "rolled_back"
        self.commit()

    # destroy -------------------------------------------------------------------------

    def destroy(self) -> int:
        if self.dep is None:
            return 0
        self.dep.run = (self.dep.run or 0) + 1
        self.run_no = self.dep.run
        self.dep.status = "destroying"
        self.commit()
        rows = sorted(self.rows.values(), key=lambda r: (-RANK[r.kind], r.key))
        lb_goes = "lb" in self.rows
        self.reporter.begin(max(1, len(rows)), f"destroy {self.name}")
        count = 0
        try:
            for row in rows:
                self.remove(row, cascade_lb=lb_goes)
                count += 1
            self.s.expire(self.dep, ["resources"])
            self.s.delete(self.dep)
            self.commit()
        except GatewayError as exc:
            self.s.rollback()
            self.dep.status, self.dep.last_error = "failed", exc.user_message
            self.commit()
            raise
        finally:
            self.reporter.end()
            self.s.close()
        return count


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
