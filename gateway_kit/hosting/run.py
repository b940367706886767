"""One ``apply`` or ``destroy`` of a deployment (:class:`Run`): its session, the deployment row,
its resources and the step journal; converging each resource through its handler, replacing VMs
one at a time, rolling a failed run back. :class:`~gateway_kit.hosting.engine.Engine` starts a run;
the resource lifecycle it keeps is described there.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, GatewayError, QuotaExceeded
from . import releases
from .handlers import HANDLERS
from .models import Deployment, DeploymentResource, DeploymentStep
from .plan import RANK, Desired, Plan, classify, desired_resources, resolve
from .spec import DeploymentSpec
from .userdata import (
    DATABASE_ROLE,
    SECRETS,
    VERSIONS,
    fill,
    new_secret,
    render_user_data,
    seal,
    sealed_secrets,
    secret_names,
    secret_versions,
    unseal,
)

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

#: Children deleted with their load balancer (``cascade=True``) during destroy.
LB_CHILDREN = ("pool", "monitor", "listener", "l7policy", "member")


def _now() -> datetime:
    return datetime.now(UTC)


class Run:
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
            dependents = self.dependents(d.key)
            for dep in dependents:
                self.converge(dep)
            if old_id:
                if not any(dep.kind == "member" for dep in dependents):
                    # No pool member was drained for it (a worker, a database): shut it down
                    # cleanly first, so that its services stop on SIGTERM (a worker hands back
                    # its jobs at once) rather than with the power.
                    handler.shut_down(self.ctx, old_id)  # type: ignore[attr-defined]
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
