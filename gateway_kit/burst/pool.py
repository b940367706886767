"""The burst pool, mechanism side: the cloud (through openstacksdk) and the database.

:func:`reconcile` is one pass over a destination's pool. It runs as the worker task
``burst.reconcile`` and from the executor's ``submit``/``poll`` (at most once a second per
destination and process). A pass:

1. **syncs** each live instance with its server: a ``launching`` row (recorded *before* the
   server is created, named ``gk-burst-<destination>-<row id>``) is matched to its server by name
   or created; an instance whose server went to ERROR, disappeared, never became ACTIVE (or whose
   agent never reported) within ``BURST_BOOT_TIMEOUT``, or whose agent stopped heartbeating for
   ``BURST_HEARTBEAT_TIMEOUT`` is **failed**: its token is revoked first (so its agent can no longer
   report anything), its server is deleted, and its jobs go back to the queue (at most
   ``BURST_MAX_REQUEUES`` times, then they FAIL with the reason) -- a job it was running only once
   its server is gone from the cloud (**fencing**: a silent agent's job may still be running
   there, and must not run twice at the same time), the delete tried again each pass until then;
2. **plans** with :func:`gateway_kit.burst.policy.plan` over the waiting jobs, the live
   instances, the flavors and the project's quota (``get_limits``), then launches, places, records
   why jobs wait, and deletes idle instances;
3. **charges** deleted instances: hours since launch x the flavor's SUs per hour, written to the
   ledger of the destination's ``charge_project`` (a gateway project) when it names one.

Everything lives in the database and the cloud, so a restarted worker carries on where the last
one stopped (rule 8: each step is recorded before and after it runs).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..cloud import Advice, Cloud, Timeouts, cloud_name
from ..db import aware as aware
from ..errors import CloudError, ConfigError
from ..jobs.executors.base import JobSpec
from ..jobs.models import Allocation, Job, LedgerEntry, utcnow
from ..jobs.reservations import reservations
from ..sealing import seal, unseal
from . import policy
from .models import LIVE_STATES, BurstInstance, BurstJob, BurstPoolSize

log = logging.getLogger("gateway_kit.burst.pool")

TOKEN_PREFIX = "gka_"
META_KIND = "gk_burst"
META_DEST = "gk_destination"
META_GATEWAY = "gk_gateway"
META_INSTANCE = "gk_instance"
TAG = "gateway-kit-burst"
#: Server statuses on the way to ACTIVE.
BOOTING = ("BUILD",)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def gateway_id(settings: Mapping[str, Any]) -> str:
    explicit = str(settings.get("BURST_GATEWAY_ID") or "")
    if explicit:
        return explicit
    return hashlib.sha256(("burst:" + str(settings.get("SECRET_KEY", ""))).encode()).hexdigest()[:12]


def agent_url(settings: Mapping[str, Any]) -> str:
    return str(
        settings.get("BURST_AGENT_URL") or settings.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    ).rstrip("/")


# -- the database, without needing an app -------------------------------------------------------

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def sessions(settings: Mapping[str, Any]) -> sessionmaker[Session]:
    """A session factory for the gateway's database (executors get settings, not the app)."""
    from ..db import make_engine

    url = str(settings["DATABASE_URL"])
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = make_engine(url)
    return sessionmaker(bind=_ENGINES[url], expire_on_commit=False)


@contextlib.contextmanager
def pool_lock(settings: Mapping[str, Any], destination: str) -> Iterator[None]:
    """One reconciler per destination at a time on this host (workers share the lock file)."""
    root = Path(settings.get("JOBS_DIR") or Path(str(settings["INSTANCE_PATH"])) / "jobs")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".burst-{destination}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- the cloud ------------------------------------------------------------------------------------


#: What burst's cloud errors tell an operator to do.
ADVICE = Advice(
    quota="Free some {which} or lower the destination's max_instances; queued jobs wait meanwhile.",
    busy="The pool tries again on its next tick.",
    config="Set {setting} (or the destination's 'cloud') to an entry of the file named by "
    "OS_CLIENT_CONFIG_FILE (see deploy/clouds.yaml.example).",
)


class PoolCloud:
    """The few cloud calls the pool makes, in openstacksdk's vocabulary; errors as CloudError."""

    def __init__(self, cloud: str) -> None:
        self.cloud = cloud
        # One attempt per call: the pool's own tick is the retry.
        self._cloud = Cloud(cloud, Timeouts(retry_attempts=1), advice=ADVICE, setting="BURST_CLOUD_NAME")

    @property
    def conn(self) -> Any:
        try:
            return self._cloud.conn
        except ConfigError as exc:  # the pool's callers handle a cloud it cannot reach as CloudError
            raise CloudError(exc.user_message) from exc

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self._cloud.call(what, lambda: fn(*args, **kwargs))

    def flavors(self, overrides: Mapping[str, Any]) -> list[policy.Flavor]:
        found = self.call("list flavors", lambda: list(self.conn.compute.flavors(details=True)))
        return [
            policy.make_flavor(
                {
                    "id": f.id,
                    "name": f.name,
                    "vcpus": f.vcpus,
                    "ram": f.ram,
                    "extra_specs": f.extra_specs or {},
                },
                overrides,
            )
            for f in found
        ]

    def quota(self) -> policy.Quota:
        limits = self.call("read limits", self.conn.compute.get_limits).absolute
        return policy.Quota(
            instances=int(limits.instances),
            cores=int(limits.total_cores),
            ram_mb=int(limits.total_ram),
            used_instances=int(limits.instances_used),
            used_cores=int(limits.total_cores_used),
            used_ram_mb=int(limits.total_ram_used),
        )

    def servers(self, gateway: str) -> dict[str, Any]:
        """This gateway's burst servers, by id."""
        found = self.call("list servers", lambda: list(self.conn.compute.servers(details=True)))
        return {
            s.id: s
            for s in found
            if (s.metadata or {}).get(META_KIND) == "1" and (s.metadata or {}).get(META_GATEWAY) == gateway
        }

    def create(
        self, name: str, flavor_id: str, image: str, network: str, user_data: str, metadata: dict[str, str]
    ) -> Any:
        def go() -> Any:
            img = self.conn.image.find_image(image, ignore_missing=False)
            args: dict[str, Any] = {
                "name": name,
                "flavor_id": flavor_id,
                "image_id": img.id,
                "metadata": metadata,
                "tags": [TAG],
                "user_data": base64.b64encode(user_data.encode()).decode(),
            }
            if network:
                net = self.conn.network.find_network(network, ignore_missing=False)
                args["networks"] = [{"uuid": net.id}]
            else:
                args["networks"] = "auto"
            return self.conn.compute.create_server(**args)

        return self.call(f"create server {name}", go)

    def delete(self, server_id: str) -> None:
        self.call(
            f"delete server {server_id}",
            lambda: self.conn.compute.delete_server(server_id, ignore_missing=True),
        )


# -- user data ------------------------------------------------------------------------------------


def template_path() -> Path:
    return Path(__file__).resolve().parents[1] / "hosting" / "cloudinit" / "burst-agent.yaml.j2"


def render_user_data(settings: Mapping[str, Any], row: BurstInstance, token: str) -> str:
    import jinja2

    path = template_path()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        autoescape=False,  # noqa: S701 - YAML, not HTML
        keep_trailing_newline=True,
    )
    config = {
        "gateway": agent_url(settings),
        "token": token,
        "instance": row.id,
        "heartbeat": float(settings.get("BURST_HEARTBEAT_INTERVAL", 5.0)),
        "cpus": row.vcpus,
        "gpus": row.gpus,
        "memory_mb": row.ram_mb,
        "workdir": "/var/lib/gateway-kit-agent",
    }
    return env.get_template(path.name).render(
        name=row.name,
        destination=row.destination,
        agent_config=config,
        install=str(settings.get("BURST_AGENT_INSTALL", "pip install gateway-kit")),
    )


# -- the pool ---------------------------------------------------------------------------------


class Pool:
    """One destination's pool (see the module docstring)."""

    def __init__(self, destination: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        self.destination = destination
        self.options = dict(options)
        self.settings = settings
        self.policy = self.configured = policy.PoolPolicy.from_options(options)
        self.cloud = PoolCloud(str(options.get("cloud") or cloud_name(settings, "burst")))
        self.gateway = gateway_id(settings)
        self.sessions = sessions(settings)
        self._flavors: list[policy.Flavor] | None = None

    def setting(self, key: str, default: float) -> float:
        return float(self.settings.get(key, default))

    def flavors(self) -> list[policy.Flavor]:
        if self._flavors is None:
            self._flavors = self.cloud.flavors(dict(self.options.get("flavor_su_per_hour", {})))
        return self._flavors

    # -- one pass ----------------------------------------------------------------------------

    def reconcile(self) -> None:
        with pool_lock(self.settings, self.destination), self.sessions() as session:
            self._apply_size(session)
            self._launch_pending(session)
            servers = self.cloud.servers(self.gateway)
            self._sync(session, servers)
            self._fence(session, servers)
            self._schedule(session)

    def _apply_size(self, session: Session) -> None:
        """An operator's resize (:class:`BurstPoolSize`) overrides the configured bounds."""
        size = session.get(BurstPoolSize, self.destination)
        if size is not None:
            self.policy = dataclasses.replace(
                self.configured, min_instances=size.min_instances, max_instances=size.max_instances
            )
        elif self.policy.min_instances != self.configured.min_instances or (
            self.policy.max_instances != self.configured.max_instances
        ):
            self.policy = self.configured

    def live(self, session: Session) -> list[BurstInstance]:
        return list(
            session.scalars(
                select(BurstInstance)
                .where(BurstInstance.destination == self.destination, BurstInstance.state.in_(LIVE_STATES))
                .order_by(BurstInstance.id)
            )
        )

    def reservations(self, session: Session, now: datetime) -> list[policy.Reservation]:
        """The destination's reservations (:mod:`gateway_kit.jobs.reservations`: a workshop's
        seats), for rule 7 of the policy; none outside an app context (no source to ask)."""
        from flask import current_app, has_app_context

        if not has_app_context():
            return []
        return [
            policy.Reservation(
                key=r.key,
                starts=r.starts.timestamp(),
                ends=r.ends.timestamp(),
                seat=policy.Need(key=None, cpus=r.cpus, memory_mb=r.memory_mb, gpus=r.gpus),
                pending=r.pending,
                seats=r.seats,
            )
            for r in reservations(current_app, session, self.destination, now)
        ]

    def _launch_pending(self, session: Session) -> None:
        """Create the servers of rows recorded as ``launching`` (a crash may have left some)."""
        for row in self.live(session):
            if row.state == "launching":
                self._create_server(session, row)

    def _create_server(self, session: Session, row: BurstInstance) -> None:
        existing = [s for s in self.cloud.servers(self.gateway).values() if s.name == row.name]
        if existing:  # created before a crash: adopt it
            row.server_id = existing[0].id
        else:
            token = new_token()
            row.token_hash = digest(token)
            # The first token must outlive the boot; renewals then give BURST_TOKEN_TTL.
            row.token_expires = utcnow() + timedelta(
                seconds=self.setting("BURST_BOOT_TIMEOUT", 900) + self.setting("BURST_TOKEN_TTL", 600)
            )
            session.commit()
            flavor = next((f for f in self.flavors() if f.name == row.flavor), None)
            if flavor is None:
                self._fail(session, row, f"flavor {row.flavor} no longer exists")
                return
            metadata = {
                META_KIND: "1",
                META_DEST: self.destination,
                META_GATEWAY: self.gateway,
                META_INSTANCE: str(row.id),
            }
            image = str(self.options.get("image") or self.settings.get("BURST_IMAGE"))
            network = str(self.options.get("network") or self.settings.get("BURST_NETWORK", ""))
            try:
                server = self.cloud.create(
                    row.name, flavor.id, image, network, render_user_data(self.settings, row, token), metadata
                )
            except CloudError as exc:
                self._fail(session, row, exc.user_message)
                return
            row.server_id = server.id
        row.state = "booting"
        session.commit()

    def _sync(self, session: Session, servers: Mapping[str, Any]) -> None:
        now = utcnow()
        boot_timeout = timedelta(seconds=self.setting("BURST_BOOT_TIMEOUT", 900))
        silent = timedelta(seconds=self.setting("BURST_HEARTBEAT_TIMEOUT", 60))
        for row in self.live(session):
            if row.state == "launching":
                continue
            server = servers.get(row.server_id or "")
            if server is None:
                self._fail(session, row, "its server disappeared from the cloud")
                continue
            if server.status == "ERROR":
                fault = (server.fault or {}).get("message", "") if isinstance(server.fault, dict) else ""
                self._fail(session, row, "its server went into ERROR" + (f": {fault}" if fault else ""))
                continue
            if server.status == "ACTIVE" and row.active_at is None:
                row.active_at = now
            if server.status == "ACTIVE" and not row.address:
                row.address = next(
                    (
                        str(a["addr"])
                        for net in (server.addresses or {}).values()
                        for a in net
                        if a.get("OS-EXT-IPS:type", "fixed") == "fixed"
                    ),
                    "",
                )
            created = aware(row.created_at) or now
            if row.state == "booting" and now - created > boot_timeout:
                self._fail(
                    session,
                    row,
                    (
                        f"its server never became ACTIVE within {boot_timeout.total_seconds():g} s"
                        if server.status in BOOTING
                        else f"its agent never reported within {boot_timeout.total_seconds():g} s"
                    ),
                )
                continue
            beat = aware(row.heartbeat_at)
            if row.state in ("ready", "draining") and beat is not None and now - beat > silent:
                self._fail(
                    session, row, f"its agent sent no heartbeat for {(now - beat).total_seconds():.0f} s"
                )
                continue
        session.commit()

    def _schedule(self, session: Session) -> None:
        now = utcnow()
        rows = self.live(session)
        jobs = list(
            session.scalars(
                select(BurstJob)
                .where(
                    BurstJob.destination == self.destination,
                    BurstJob.state.in_(("waiting", "assigned", "running")),
                )
                .order_by(BurstJob.job_id)
            )
        )
        for bj in jobs:
            if bj.cancel_requested and bj.state in ("waiting", "assigned"):
                self._finish_job(session, bj, "CANCELED", "canceled before it started")
        jobs = [b for b in jobs if b.state in ("waiting", "assigned", "running")]
        by_instance: dict[int, list[policy.Need]] = {}
        for bj in jobs:
            if bj.instance_id is not None:
                by_instance.setdefault(bj.instance_id, []).append(need_of(bj))
        instances = []
        for row in rows:
            flavor = policy.Flavor(row.flavor, row.vcpus, row.ram_mb, row.gpus, row.su_per_hour)
            state = {"launching": "booting"}.get(row.state, row.state)
            idle = aware(row.idle_since)
            born = aware(row.created_at)
            instances.append(
                policy.Instance(
                    key=row.id,
                    flavor=flavor,
                    state=state,
                    jobs=by_instance.get(row.id, []),
                    idle_since=idle.timestamp() if idle and not by_instance.get(row.id) else None,
                    launched_at=born.timestamp() if born else None,
                )
            )
        waiting = [need_of(b) for b in jobs if b.state == "waiting"]
        try:
            quota = self.cloud.quota()
            flavors = self.flavors()
        except CloudError as exc:
            for bj in jobs:
                if bj.state == "waiting":
                    bj.wait_reason = f"the cloud cannot be reached: {exc.user_message}"
            session.commit()
            return
        plan = policy.plan(
            self.policy, flavors, instances, waiting, quota, now.timestamp(), self.reservations(session, now)
        )
        for key, why in plan.short.items():
            log.warning("burst pool %s: %s: seats not warm: %s", self.destination, key, why)
        new_rows: dict[Any, BurstInstance] = {}
        for key, flavor in plan.launch:
            row = BurstInstance(
                destination=self.destination,
                flavor=flavor.name,
                vcpus=flavor.vcpus,
                ram_mb=flavor.ram_mb,
                gpus=flavor.gpus,
                su_per_hour=flavor.su_per_hour,
                state="launching",
                reason="",
                address="",
                created_at=now,
                idle_since=now,
                su_charged=0.0,
                settled=False,
                name="",
            )
            session.add(row)
            session.flush()
            row.name = f"gk-burst-{self.destination}-{row.id}"
            new_rows[key] = row
        session.commit()  # recorded before the servers exist: a crash leaves "launching" rows
        by_id = {b.job_id: b for b in jobs}
        for job_id, home in plan.place.items():
            row = new_rows.get(home) or next(r for r in rows if r.id == home)
            bj = by_id[job_id]
            bj.state, bj.instance_id, bj.wait_reason = "assigned", row.id, ""
            bj.instance_name, bj.flavor, bj.assigned_at = row.name, row.flavor, now
            row.idle_since = None
        for job_id, why in plan.wait.items():
            by_id[job_id].wait_reason = why
        for job_id, why in plan.reject.items():
            self._finish_job(session, by_id[job_id], "FAILED", why)
        session.commit()
        for row in new_rows.values():
            self._create_server(session, row)
        for key in plan.retire:
            row = next(r for r in rows if r.id == key)
            self.delete_instance(
                session,
                row,
                "idle: retired by the pool policy (idle timeout, "
                "no recent demand for it, or replaced at the maximum)"
                if row.state != "draining"
                else "drained",
            )

    # -- instance endings -----------------------------------------------------------------

    def _fail(self, session: Session, row: BurstInstance, reason: str) -> None:
        """Revoke, delete its server, requeue its jobs: those it was running once the server is
        gone (:meth:`_fence`; see the module docstring)."""
        log.warning("burst instance %s (%s) failed: %s", row.name, row.server_id, reason)
        row.state, row.reason = "failed", reason
        row.token_hash = None  # first: its agent can report nothing from now on
        session.commit()
        limit = int(self.settings.get("BURST_MAX_REQUEUES", 2))
        for bj in session.scalars(
            select(BurstJob).where(
                BurstJob.instance_id == row.id, BurstJob.state.in_(("assigned", "running"))
            )
        ):
            if bj.state == "running" and row.server_id:
                bj.wait_reason = f"instance {row.name} {reason}: requeued once its server is deleted"
            else:  # never started there: nothing of it can be running
                take_back(bj, row, f"instance {row.name} {reason}", limit)
        session.commit()
        self._delete_server(session, row)

    def _fence(self, session: Session, servers: Mapping[str, Any]) -> None:
        """Requeue the jobs of failed instances whose servers are gone; delete again a server
        that is still there and not being deleted (a delete that failed, the cloud being down)."""
        limit = int(self.settings.get("BURST_MAX_REQUEUES", 2))
        held = session.execute(
            select(BurstJob, BurstInstance)
            .join(BurstInstance, BurstJob.instance_id == BurstInstance.id)
            .where(
                BurstInstance.destination == self.destination,
                BurstInstance.state == "failed",
                BurstJob.state.in_(("assigned", "running")),
            )
        ).all()
        retried: set[int] = set()
        for bj, row in held:
            server = servers.get(row.server_id or "")
            if server is None:
                take_back(bj, row, f"instance {row.name} {row.reason}", limit)
            elif row.id not in retried and getattr(server, "task_state", None) != "deleting":
                retried.add(row.id)
                try:
                    self.cloud.delete(str(row.server_id))
                except CloudError as exc:
                    log.warning("burst instance %s: %s", row.name, exc.log_message)
        session.commit()

    def delete_instance(self, session: Session, row: BurstInstance, reason: str) -> None:
        row.state, row.reason, row.token_hash = "deleting", reason, None
        session.commit()
        self._delete_server(session, row)

    def _delete_server(self, session: Session, row: BurstInstance) -> None:
        if row.server_id:
            try:
                self.cloud.delete(row.server_id)
            except CloudError as exc:  # tried again by clean-orphans; charged meanwhile
                log.warning("burst instance %s: %s", row.name, exc.log_message)
        if row.state != "failed":
            row.state = "deleted"
        row.deleted_at = utcnow()
        self.settle(session, row)

    def settle(self, session: Session, row: BurstInstance) -> None:
        """Charge the instance's lifetime to the destination's project (once)."""
        if row.settled:
            return
        end = aware(row.deleted_at) or utcnow()
        start = aware(row.created_at) or end
        amount = round(max((end - start).total_seconds(), 0) / 3600 * row.su_per_hour, 6)
        row.su_charged, row.charged_until, row.settled = amount, end, True
        project = self._charge_project(session)
        if project is not None and amount > 0:
            alloc = session.scalars(select(Allocation).where(Allocation.project_id == project)).first()
            if alloc is not None:
                alloc.su_used += amount
                alloc.updated_at = utcnow()
            hours = (end - start).total_seconds() / 3600
            what = f"burst instance {row.name} ({row.flavor}, {hours:.3f} h) on {self.destination}"
            parts = self._job_parts(session, row, amount)
            for job_id, user_id, part in parts:
                session.add(
                    LedgerEntry(
                        project_id=project,
                        job_id=job_id,
                        user_id=user_id,
                        kind="charge",
                        amount=-part,
                        note=f"{what}: job {job_id}'s share",
                    )
                )
            idle = round(amount - sum(p for _, _, p in parts), 6)
            if idle > 0:
                session.add(
                    LedgerEntry(project_id=project, kind="charge", amount=-idle, note=f"{what}: idle time")
                )
        session.commit()

    def _job_parts(self, session: Session, row: BurstInstance, amount: float) -> list[tuple[int, int, float]]:
        """``(job id, its user, SUs)`` for the jobs that ran on ``row``: each its share (its CPU
        or GPU fraction for the time it ran, :func:`add_share`), scaled down if the shares exceed
        ``amount``; what is left is the instance's idle time, charged to no user."""
        shares = session.execute(
            select(BurstJob.job_id, BurstJob.su_share, Job.user_id)
            .join(Job, Job.id == BurstJob.job_id)  # sessions' ids (negative) have no job: left as idle
            .where(BurstJob.instance_name == row.name, BurstJob.su_share > 0)
            .order_by(BurstJob.job_id)
        ).all()
        total = sum(float(share) for _, share, _ in shares)
        scale = min(1.0, amount / total) if total > 0 else 0.0
        return [(job_id, user_id, round(float(share) * scale, 6)) for job_id, share, user_id in shares]

    def _charge_project(self, session: Session) -> int | None:
        from ..identity.models import Project

        name = str(self.options.get("charge_project", ""))
        if not name:
            return None
        found: int | None = session.scalar(select(Project.id).where(Project.name == name))
        return found

    # -- jobs ---------------------------------------------------------------------------

    def _finish_job(self, session: Session, bj: BurstJob, state: str, reason: str) -> None:
        finish_job(bj, state, reason)


def finish_job(bj: BurstJob, state: str, reason: str) -> None:
    """End ``bj`` in ``state`` (the queue's next poll sees it) with ``reason``."""
    started = aware(bj.started_at)
    bj.state = "done"
    bj.result = {
        "state": state,
        "exit_code": None,
        "reason": reason,
        "started": started.timestamp() if started else None,
        "finished": time.time(),
    }
    bj.finished_at = utcnow()
    bj.instance_id = None


def take_back(bj: BurstJob, row: BurstInstance, why: str, limit: int) -> None:
    """Take ``bj`` off instance ``row`` (its share of the instance so far charged to it): back to
    the pool's queue, or CANCELED if that was asked, or FAILED after ``limit`` requeues."""
    add_share(bj, row)
    if bj.cancel_requested:
        finish_job(bj, "CANCELED", "canceled")
    elif bj.requeues >= limit:
        finish_job(bj, "FAILED", f"{why}; the job was requeued {bj.requeues} times, which is the limit")
    else:
        bj.state, bj.instance_id, bj.requeues = "waiting", None, bj.requeues + 1
        bj.started_at = None
        bj.wait_reason = f"requeued: {why}"


def add_share(bj: BurstJob, row: BurstInstance) -> None:
    """Add the job's share of ``row``'s SUs for the time it ran there (by its CPU or GPU
    fraction of the flavor, whichever is larger)."""
    start = aware(bj.started_at) or aware(bj.assigned_at)
    if start is None:
        return
    seconds = max((utcnow() - start).total_seconds(), 0.0)
    spec = bj.spec or {}
    fraction = max(
        int(spec.get("cpus", 1)) / max(row.vcpus, 1), int(spec.get("gpus", 0)) / row.gpus if row.gpus else 0.0
    )
    bj.su_share = round(bj.su_share + seconds / 3600 * row.su_per_hour * min(fraction, 1.0), 6)


def store_spec(settings: Mapping[str, Any], spec: JobSpec) -> dict[str, Any]:
    """``spec`` as the ``burst_jobs`` row keeps it: its environment sealed (it may hold a secret:
    an interactive session's server token travels there), its destination options left out."""
    data = dataclasses.asdict(spec)
    data.pop("options", None)
    env = data.pop("env", None) or {}
    if env:
        data["env_sealed"] = seal(settings, json.dumps(env).encode())
    return data


def open_spec(settings: Mapping[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The spec an agent runs (:func:`store_spec` undone)."""
    data = dict(stored or {})
    sealed = data.pop("env_sealed", None)
    if sealed:
        data["env"] = json.loads(unseal(settings, str(sealed), "A burst job's environment"))
    return data


def need_of(bj: BurstJob) -> policy.Need:
    spec = bj.spec or {}
    arrived = aware(bj.created_at)
    return policy.Need(
        key=bj.job_id,
        cpus=int(spec.get("cpus", 1)),
        memory_mb=int(spec.get("memory_mb", 0)),
        gpus=int(spec.get("gpus", 0)),
        arrived=arrived.timestamp() if arrived else None,
    )


def job_panel(session: Session, job: Job) -> dict[str, Any] | None:
    """What the job page shows for a burst job: instance, flavor, cost, why it waits."""
    bj = session.get(BurstJob, job.id)
    return bj.to_json() if bj is not None else None
