"""The burst pool policy: pure functions, no I/O, no clock.

Both the ``burst`` executor (:mod:`gateway_kit.burst.pool`) and ``bench/burst_sim.py`` import
this module, so the simulation measures the code that runs.

Given the flavors, the pool's instances, the jobs waiting in arrival order, the project's quota
and the destination's :class:`PoolPolicy`, :func:`plan` decides, first come first served (a job
that must wait does not stop smaller jobs behind it: backfill), in two passes: every waiting job
first looks for a home by rule 1 -- so an instance that a job has just freed goes to the first
queued job it suits, rather than being deleted to launch one for a job it does not suit -- and
only then do rules 2-4 launch, pack, replace or make the rest wait (a job waiting
``overtake_limit`` s, default 20 min, is settled in the first pass: it cannot starve behind
jobs that keep taking the instances it does not suit):

1. **a home that costs nothing extra** -- a job goes to a live instance with room for it, a
   ready one before one still booting, the tightest fit first (big holes stay for big jobs),
   except: a CPU job never takes a GPU instance (it would hold a machine that costs 4x per
   vCPU, and keep it after its GPU job ends); an *idle* instance takes a job only if its flavor
   costs at most ``max_oversize`` (default 1) times the job's own (an idle 4-vCPU machine
   running one 1-vCPU job costs 4x for the whole run; a new right-sized boot costs ~1/7 of a
   run; 0: an idle instance is never reused); a booting
   instance takes a job only if it has been booting less than ``boot_patience`` s (past that a
   fresh boot is expected to be ready sooner: log-normal boots have a long tail).
2. **launch rather than queue** -- a job with no such home gets a new instance of the cheapest
   flavor (SUs per hour) that fits it -- right-sized, so no core is paid for unused -- unless the
   pool is at its maximum, the spend cap (SUs per hour of the live pool) would be passed, or the
   project's quota (instances, cores, RAM) is full.
3. **pack when slots are scarce** (off by default) -- with ``pack_reserve`` or fewer free slots
   (default 0: never; -1: a quarter of ``max_instances``), a CPU launch takes the smallest
   flavor of the same SUs per vCPU with ``pack_factor`` (3) times the job's CPUs, so that the
   next jobs start at once on its spare cores instead of waiting for the maximum to clear
   (equal price per vCPU: the only cost is cores left unused when its jobs end at different
   times: on the bench's trace more SUs than any policy that waits instead). Never with
   ``jobs_per_instance = 1`` (the spare cores could hold no job).
4. **when a launch is refused** -- the job takes room beside running jobs (paid for anyway),
   even on an instance booting past ``boot_patience``, or an idle instance within
   ``max_oversize`` (never a GPU instance for a CPU job); else, at the maximum or the spend cap,
   an idle instance (the most expensive first) is retired to launch one that fits (an idle
   instance of the wrong shape or much too big must not hold a slot); else, when nothing can
   be replaced, any room; else the job waits with the reason (quota full, spend cap, pool at
   maximum).
5. **retirement** -- an idle instance is deleted after ``idle_timeout`` s if the destination
   sets one. The default (``"auto"``) ties it to the boot time and the demand: an idle instance
   costs its rate per second, reusing it saves a boot (``boot_seconds`` at that rate), so it is
   worth keeping while ``arrival rate x boot_seconds >= 1`` for the jobs it could take (see
   :func:`demand_until`; the k-th most recently idle instance of a flavor needs k times that
   demand, since they compete for the same jobs), and never longer than ``boot_seconds``
   (ski rental: whatever comes, idling then booting costs at most twice the best choice). With
   ``billing_seconds`` (billing by the hour, say), an idle instance whose period is already paid
   is kept until just before the period ends: keeping it is free. Never below ``min_instances``;
   draining instances go when idle. :attr:`Plan.wake_at` says when to plan again for this.
6. **minimum** -- the pool is topped up to ``min_instances`` with ``warm_flavor`` (default 0:
   a warm instance costs its rate all day; in the simulation the bursts are ~30 min apart).
7. **reservations** (a workshop's seats: :class:`Reservation`) -- from ``prewarm_lead`` s before
   a reservation starts until it ends, its seats not yet taken are held on live instances as if
   they ran (room that costs nothing extra first), and instances are launched for the rest, the
   largest flavor of the seat's price per vCPU that the remaining seats fill, so that the
   students' sessions start on booted instances; held seats keep their instances from retiring,
   and so do idle instances that fit a seat, for up to ``seats`` seats, until the end (a
   student's job arrives a moment after the seat is taken; another may leave and come back).
   After the end rule 5 retires what is idle. :attr:`Plan.wake_at` includes the
   next warm-up and end.

Figures (``bench/burst_sim.py --seeds 1..5``, max 20 instances for every policy): SU overhead
11.5 % against 15.7 % for one instance per job, mean wait 213 s against 273 s, p95 699 s
against 884 s (before the two passes and with packing: 26.5 %, 93 s, 289 s). The trace peaks at
31-35 concurrent jobs, so at 20 slots jobs queue, and every instance a job frees and another
reuses saves a boot. Details: ``docs/src/performance.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Jetstream2's rates: SUs per vCPU-hour by flavor family (see ``gateway_kit.jobs.accounting``).
CPU_RATE = 1.0
LARGE_MEMORY_RATE = 2.0
GPU_RATE = 4.0


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    gpus: int = 0
    #: SUs charged per hour the instance exists.
    su_per_hour: float = 0.0
    id: str = ""


def gpu_count(extra_specs: Mapping[str, Any]) -> int:
    """GPUs a flavor provides, from Nova extra specs (``resources:VGPU``, ``resources:PGPU``,
    ``pci_passthrough:alias = "a100:1,t4:2"``); 0 for a CPU flavor."""
    total = 0
    for key in ("resources:VGPU", "resources:PGPU"):
        value = str(extra_specs.get(key, "0")).strip()
        total += int(value) if value.isdigit() else 0
    alias = str(extra_specs.get("pci_passthrough:alias", "")).strip()
    for part in filter(None, (p.strip() for p in alias.split(","))):
        _name, _, count = part.partition(":")
        total += int(count) if count.strip().isdigit() else 1
    return total


def flavor_rate(
    vcpus: int, gpus: int, extra_specs: Mapping[str, Any], overrides: Mapping[str, Any], name: str
) -> float:
    """SUs per hour of a flavor: an override by name, else vCPUs x the family's rate."""
    if name in overrides:
        return float(overrides[name])
    if gpus:
        return vcpus * GPU_RATE
    if str(extra_specs.get("hw:mem_page_size", "")) == "large":
        return vcpus * LARGE_MEMORY_RATE
    return vcpus * CPU_RATE


def make_flavor(doc: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Flavor:
    """A :class:`Flavor` from an SDK/Nova flavor mapping (``name, vcpus, ram, extra_specs``)."""
    specs = dict(doc.get("extra_specs") or {})
    gpus = gpu_count(specs)
    name = str(doc["name"])
    return Flavor(
        name=name,
        vcpus=int(doc["vcpus"]),
        ram_mb=int(doc["ram"]),
        gpus=gpus,
        su_per_hour=flavor_rate(int(doc["vcpus"]), gpus, specs, overrides or {}, name),
        id=str(doc.get("id", "")),
    )


@dataclass(frozen=True)
class Need:
    """What a job asks for."""

    key: Any
    cpus: int
    memory_mb: int
    gpus: int = 0
    #: When the job was submitted (seconds, the clock of ``plan``'s ``now``); None: unknown.
    #: The recent arrivals are the demand that rule 5 keeps idle instances for.
    arrived: float | None = None


def fits(flavor: Flavor, need: Need) -> bool:
    return flavor.vcpus >= need.cpus and flavor.ram_mb >= need.memory_mb and flavor.gpus >= need.gpus


def choose_flavor(flavors: Sequence[Flavor], need: Need, allowed: Sequence[str] = ()) -> Flavor | None:
    """The cheapest flavor (SUs per hour) that fits ``need``; GPU flavors only for GPU jobs.

    Ties go to the smaller flavor (fewer vCPUs, less RAM), then the name.
    """
    pool = [
        f
        for f in flavors
        if (not allowed or f.name in allowed) and fits(f, need) and (need.gpus > 0 or f.gpus == 0)
    ]
    if not pool:
        return None
    return min(pool, key=lambda f: (f.su_per_hour, f.vcpus, f.ram_mb, f.name))


@dataclass(frozen=True)
class PoolPolicy:
    """A destination's pool settings (the ``pool`` options of a burst destination)."""

    min_instances: int = 0
    max_instances: int = 4
    #: Seconds an instance may sit idle before it is deleted; None (``"auto"``, the default):
    #: ``boot_seconds``, the break-even of rule 5.
    idle_timeout: float | None = None
    #: Most SUs per hour the live pool may cost (0: no cap).
    su_per_hour_cap: float = 0.0
    #: Most jobs at once on one instance (0: as many as its CPUs, RAM and GPUs allow).
    jobs_per_instance: int = 0
    #: Flavor of the warm instances kept for ``min_instances`` ("" = the cheapest CPU flavor).
    warm_flavor: str = ""
    #: Flavors the pool may use (empty: all).
    flavors: tuple[str, ...] = ()
    #: Expected seconds from launch until an instance takes work (the boot time's mean).
    boot_seconds: float = 120.0
    #: A job joins a booting instance only if it has been booting for less than this; after
    #: that a fresh launch is expected to be ready sooner (for log-normal boots with median
    #: 90 s / p95 300 s the expected remaining boot time passes a fresh boot's mean at ~280 s).
    boot_patience: float = 280.0
    #: Billing granularity of an instance in seconds (0: billed by the second).
    billing_seconds: float = 0.0
    #: An idle instance takes a job only if its flavor costs at most this many times the
    #: job's own (cheapest fitting) flavor.
    max_oversize: float = 1.0
    #: With this few free pool slots left (0: never; -1: a quarter of ``max_instances``), a CPU
    #: launch takes a bigger flavor of the same SUs per vCPU, so that later jobs share it (rule 3).
    pack_reserve: int = 0
    #: ... the smallest such flavor with this many times the job's CPUs (else the largest).
    pack_factor: float = 3.0
    #: Seconds of recent arrivals that estimate the demand for an idle instance (rule 5).
    demand_window: float = 300.0
    #: Seconds before a reservation starts that its instances are launched (rule 7; -1: twice
    #: ``boot_seconds``, for the boot time's long tail).
    prewarm_lead: float = -1.0
    #: A job that has waited this many seconds is settled in the first pass, ahead of the
    #: jobs behind it: a freed instance it does not suit is replaced for it rather than handed
    #: to a later job, so that no job waits for ever behind a stream of others that reuse.
    overtake_limit: float = 1200.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PoolPolicy:
        idle = options.get("idle_timeout", "auto")
        return cls(
            min_instances=int(options.get("min_instances", 0)),
            max_instances=int(options.get("max_instances", 4)),
            idle_timeout=None if idle in (None, "auto") else float(idle),
            su_per_hour_cap=float(options.get("su_per_hour_cap", 0.0)),
            jobs_per_instance=int(options.get("jobs_per_instance", 0)),
            warm_flavor=str(options.get("warm_flavor", "")),
            flavors=tuple(str(f) for f in options.get("flavors", ())),
            boot_seconds=float(options.get("boot_seconds", 120.0)),
            boot_patience=float(options.get("boot_patience", 280.0)),
            billing_seconds=float(options.get("billing_seconds", 0.0)),
            max_oversize=float(options.get("max_oversize", 1.0)),
            pack_reserve=int(options.get("pack_reserve", 0)),
            pack_factor=float(options.get("pack_factor", 3.0)),
            demand_window=float(options.get("demand_window", 300.0)),
            prewarm_lead=float(options.get("prewarm_lead", -1.0)),
            overtake_limit=float(options.get("overtake_limit", 1200.0)),
        )

    @property
    def idle_limit(self) -> float:
        """Seconds an idle instance is kept (``idle_timeout``, or ``boot_seconds`` if auto)."""
        return self.boot_seconds if self.idle_timeout is None else self.idle_timeout

    @property
    def lead(self) -> float:
        """Seconds before a reservation's start that its warm-up begins (rule 7)."""
        return 2 * self.boot_seconds if self.prewarm_lead < 0 else self.prewarm_lead

    @property
    def reserve(self) -> int:
        return self.max_instances // 4 if self.pack_reserve < 0 else self.pack_reserve


@dataclass
class Instance:
    """A live pool instance as the policy sees it."""

    key: Any
    flavor: Flavor
    #: ``booting`` (no agent yet), ``ready`` or ``draining`` (takes no new jobs).
    state: str
    #: Jobs on it (assigned or running), as needs.
    jobs: list[Need] = field(default_factory=list)
    #: When it last became idle (seconds, any clock); None while it runs jobs.
    idle_since: float | None = None
    #: When it was launched (same clock); None if unknown (then it counts as just launched).
    launched_at: float | None = None

    def free(self) -> tuple[int, int, int]:
        return (
            self.flavor.vcpus - sum(j.cpus for j in self.jobs),
            self.flavor.ram_mb - sum(j.memory_mb for j in self.jobs),
            self.flavor.gpus - sum(j.gpus for j in self.jobs),
        )

    def room_for(self, need: Need, jobs_per_instance: int) -> bool:
        if self.state == "draining":
            return False
        if jobs_per_instance and len(self.jobs) >= jobs_per_instance:
            return False
        cpus, ram, gpus = self.free()
        return cpus >= need.cpus and ram >= need.memory_mb and gpus >= need.gpus


@dataclass(frozen=True)
class Quota:
    """The project's compute limits and what it uses now (-1: unlimited)."""

    instances: int = -1
    cores: int = -1
    ram_mb: int = -1
    used_instances: int = 0
    used_cores: int = 0
    used_ram_mb: int = 0

    def blocks(self, flavor: Flavor, extra: tuple[int, int, int] = (0, 0, 0)) -> str | None:
        """Why launching ``flavor`` would pass the quota (None if it fits)."""
        checks = (
            ("instances", self.instances, self.used_instances + extra[0], 1),
            ("cores", self.cores, self.used_cores + extra[1], flavor.vcpus),
            ("RAM (MiB)", self.ram_mb, self.used_ram_mb + extra[2], flavor.ram_mb),
        )
        for what, limit, used, want in checks:
            if limit >= 0 and used + want > limit:
                return (
                    f"the cloud project's quota is full: {what} {used} in use + {want} "
                    f"for a {flavor.name} > {limit}"
                )
        return None


@dataclass(frozen=True)
class Reservation:
    """Seats booked for a time window (a workshop): rule 7 keeps room for them."""

    key: Any
    #: Start and end of the window (the same clock as ``now``).
    starts: float
    ends: float
    #: What one seat needs (its ``key`` is unused).
    seat: Need
    #: Seats not taken yet.
    pending: int = 0
    #: All its seats (taken or not): until it ends, idle instances that fit a seat are kept for
    #: this many seats (a student who joins late, or leaves and comes back).
    seats: int = 0

    def active(self, policy: PoolPolicy, now: float) -> bool:
        return self.starts - policy.lead <= now < self.ends

    def shape(self, need: Need) -> bool:
        """Whether ``need`` is one of its seats (a student's job or session)."""
        s = self.seat
        return (need.cpus, need.memory_mb, need.gpus) == (s.cpus, s.memory_mb, s.gpus)


# Wait reasons (the first words are stable: tests and the console match them).
QUOTA_FULL = "quota full"
SPEND_CAP = "spend cap"
POOL_AT_MAX = "pool at maximum"
NO_FLAVOR = "no flavor"


@dataclass
class Plan:
    #: job key -> instance key (an existing one, or a ``("new", n)`` key of a launch).
    place: dict[Any, Any] = field(default_factory=dict)
    #: (new instance key, flavor) to launch.
    launch: list[tuple[Any, Flavor]] = field(default_factory=list)
    #: job key -> why it waits.
    wait: dict[Any, str] = field(default_factory=dict)
    #: instance keys to delete (idle past the timeout, drained, or replaced).
    retire: list[Any] = field(default_factory=list)
    #: job key -> why it can never run here.
    reject: dict[Any, str] = field(default_factory=dict)
    #: The next time (same clock as ``now``) at which this plan would change with nothing else
    #: happening (an idle instance comes due for retirement, a reservation warms up or ends);
    #: None: no such time.
    wake_at: float | None = None
    #: reservation key -> seats held on live or launched instances (rule 7).
    held: dict[Any, int] = field(default_factory=dict)
    #: reservation key -> why some of its seats have no instance (the pool is full...).
    short: dict[Any, str] = field(default_factory=dict)


def pool_rate(instances: Sequence[Instance]) -> float:
    return sum(i.flavor.su_per_hour for i in instances)


def same_rate_cpu_flavors(
    flavors: Sequence[Flavor], fit: Flavor, need: Need, allowed: Sequence[str] = ()
) -> list[Flavor]:
    """The allowed CPU flavors that hold ``need`` at ``fit``'s SUs per vCPU (``fit`` a CPU flavor)."""
    per_cpu = fit.su_per_hour / fit.vcpus
    return [
        f
        for f in flavors
        if (not allowed or f.name in allowed)
        and fits(f, need)
        and f.gpus == 0
        and f.vcpus
        and abs(f.su_per_hour / f.vcpus - per_cpu) < 1e-9
    ]


def packing_flavor(
    flavors: Sequence[Flavor], fit: Flavor, need: Need, allowed: Sequence[str] = (), factor: float = 3.0
) -> Flavor:
    """A CPU flavor at ``fit``'s SUs per vCPU with room for later jobs (rule 3): the smallest
    with ``factor`` times the CPUs ``need`` asks for, else the largest; ``fit`` for a GPU job."""
    if fit.gpus or not fit.vcpus:
        return fit
    same = same_rate_cpu_flavors(flavors, fit, need, allowed)
    big = [f for f in same if f.vcpus >= factor * need.cpus]
    if big:
        return min(big, key=lambda f: (f.vcpus, f.ram_mb, f.name))
    return max(same, key=lambda f: (f.vcpus, -f.ram_mb, f.name), default=fit)


def seat_flavor(
    flavors: Sequence[Flavor], fit: Flavor, need: Need, seats: int, allowed: Sequence[str] = ()
) -> Flavor:
    """The flavor to launch for ``seats`` seats like ``need`` (rule 7): the largest at ``fit``'s
    SUs per vCPU that the seats fill (no core paid for unused), ``fit`` for GPU seats."""
    if fit.gpus or not fit.vcpus or seats <= 1:
        return fit
    filled = [
        f
        for f in same_rate_cpu_flavors(flavors, fit, need, allowed)
        if f.vcpus <= seats * need.cpus
        and (not need.memory_mb or f.ram_mb // need.memory_mb >= f.vcpus // max(need.cpus, 1))
    ]
    return max(filled, key=lambda f: (f.vcpus, -f.ram_mb, f.name), default=fit)


def paid_until(policy: PoolPolicy, inst: Instance, now: float) -> float:
    """End of the billing period ``inst`` is in at ``now`` (``now`` if billed by the second)."""
    g = policy.billing_seconds
    if g <= 0 or inst.launched_at is None:
        return now
    periods = max(1, math.ceil((now - inst.launched_at) / g - 1e-9))
    return inst.launched_at + periods * g


def demand_until(
    policy: PoolPolicy,
    flavors: Sequence[Flavor],
    inst: Instance,
    arrivals: Sequence[Need],
    now: float,
    rank: int = 1,
) -> float:
    """Until when recent arrivals justify keeping the idle ``inst`` (rule 5, auto mode).

    An idle instance costs its rate every second; reusing it saves a boot, ``boot_seconds`` at
    the same rate. With jobs it could take arriving at rate ``lam``, a second of idling buys a
    ``lam`` chance of that saving: worth it while ``lam * boot_seconds >= 1``. ``lam`` is
    estimated from the jobs that arrived within the last ``demand_window`` seconds and would be
    placed on ``inst`` (they fit, and it is not too big for them): at least
    ``demand_window / boot_seconds`` of them keep it, until the oldest needed leaves the window.
    """
    if policy.boot_seconds <= 0 or policy.demand_window <= 0:
        return now
    times = []
    for need in arrivals:
        if need.arrived is None or need.arrived <= now - policy.demand_window:
            continue
        fit = choose_flavor(flavors, need, policy.flavors)
        if (
            fit is not None
            and fits(inst.flavor, need)
            and (need.gpus > 0) == (inst.flavor.gpus > 0)
            and inst.flavor.su_per_hour <= policy.max_oversize * fit.su_per_hour
        ):
            times.append(need.arrived)
    wanted = rank * max(1, math.ceil(policy.demand_window / policy.boot_seconds - 1e-9))
    if len(times) < wanted:
        return now
    times.sort()
    return times[len(times) - wanted] + policy.demand_window


def retire_at(policy: PoolPolicy, inst: Instance, now: float, demand: float | None = None) -> float:
    """When the idle ``inst`` is due for retirement (rule 5); ``demand``: see
    :func:`demand_until` (auto mode only)."""
    assert inst.idle_since is not None
    due = inst.idle_since + policy.idle_limit
    if demand is not None:
        due = min(due, max(demand, now))
    if policy.billing_seconds > 0 and inst.launched_at is not None:
        # Already paid to the end of the period: keep it (free) until just before that end.
        margin = min(60.0, policy.billing_seconds / 4)
        due = max(due, paid_until(policy, inst, max(due, now)) - margin)
    return due


def plan(
    policy: PoolPolicy,
    flavors: Sequence[Flavor],
    instances: Sequence[Instance],
    waiting: Sequence[Need],
    quota: Quota,
    now: float,
    reservations: Sequence[Reservation] = (),
) -> Plan:
    """Decide placements, launches, waits and retirements (see the module docstring)."""
    out = Plan()
    pool = list(instances)
    launched = 0
    extra = [0, 0, 0]  # quota used by this plan's launches
    replaced: set[Any] = set()
    existing = {i.key for i in instances}

    def live() -> list[Instance]:
        return [i for i in pool if i.state != "draining" and i.key not in replaced]

    def can_launch(flavor: Flavor) -> str | None:
        up = live()
        if len(up) >= policy.max_instances:
            return f"{POOL_AT_MAX}: {len(up)} of {policy.max_instances} instances are busy"
        rate = pool_rate([i for i in pool if i.key not in replaced])
        if policy.su_per_hour_cap > 0 and rate + flavor.su_per_hour > policy.su_per_hour_cap + 1e-9:
            return (
                f"{SPEND_CAP}: the pool costs {rate:g} SU/h; a {flavor.name} "
                f"({flavor.su_per_hour:g} SU/h) would pass the cap of "
                f"{policy.su_per_hour_cap:g} SU/h"
            )
        blocked = quota.blocks(flavor, (extra[0], extra[1], extra[2]))
        return f"{QUOTA_FULL}: {blocked}" if blocked else None

    def add(flavor: Flavor) -> Instance:
        nonlocal launched
        launched += 1
        inst = Instance(
            key=("new", launched), flavor=flavor, state="booting", idle_since=now, launched_at=now
        )
        pool.append(inst)
        out.launch.append((inst.key, flavor))
        extra[0] += 1
        extra[1] += flavor.vcpus
        extra[2] += flavor.ram_mb
        return inst

    def good(inst: Instance, need: Need, fit: Flavor) -> bool:
        """Rule 1: a home that costs (almost) nothing extra and does not delay the job."""
        if need.gpus == 0 and inst.flavor.gpus > 0:
            return False  # a CPU job would hold a GPU machine
        if (
            not inst.jobs
            and inst.flavor.su_per_hour > policy.max_oversize * fit.su_per_hour
            and not any(r.active(policy, now) and r.shape(need) for r in reservations)
        ):
            # An idle machine much bigger than the job: a right-sized one is cheaper (unless it
            # was warmed for this job's workshop: rule 7).
            return False
        if inst.state == "booting":
            started = now if inst.launched_at is None else inst.launched_at
            return now - started < policy.boot_patience
        return True

    def replace(fit: Flavor) -> Instance | None:
        """Rule 4: at the maximum (or the cap), an idle instance of the wrong shape (or much too
        big) makes way for one that fits."""
        spare = sorted(
            (
                i
                for i in live()
                if not i.jobs and i.state != "draining" and i.idle_since is not None and i.key in existing
            ),
            key=lambda i: -i.flavor.su_per_hour,
        )
        for victim in spare:
            replaced.add(victim.key)
            if can_launch(fit) is None:
                out.retire.append(victim.key)
                return add(fit)
            replaced.discard(victim.key)
        return None

    def roomy(inst: Instance, need: Need, fit: Flavor) -> bool:
        """Rule 4: room beside running jobs (paid for anyway), or an idle instance not too big."""
        if need.gpus == 0 and inst.flavor.gpus > 0:
            return False
        return bool(inst.jobs) or inst.flavor.su_per_hour <= policy.max_oversize * fit.su_per_hour

    def rank(inst: Instance, need: Need) -> tuple[int, int, float]:
        # Ready before booting; then the tightest fit (leaves big holes for big jobs); then cost.
        return (
            {"ready": 0, "booting": 1}.get(inst.state, 2),
            inst.free()[0] - need.cpus,
            inst.flavor.su_per_hour,
        )

    def settle(need: Need, launching: bool) -> None:
        """Rules 1-4 for ``need``: a home; else, if ``launching``, a launch, room or a wait."""
        fit = choose_flavor(flavors, need, policy.flavors)
        if fit is None:
            out.reject[need.key] = (
                f"{NO_FLAVOR}: no flavor has {need.cpus} CPUs, {need.memory_mb} MiB and {need.gpus} GPUs"
            )
            return
        rooms = [i for i in pool if i.key not in replaced and i.room_for(need, policy.jobs_per_instance)]
        homes = sorted((i for i in rooms if good(i, need, fit)), key=lambda i: rank(i, need))
        home: Instance | None = homes[0] if homes else None
        if home is None:
            if not launching:
                return
            flavor = fit
            if policy.jobs_per_instance != 1 and len(live()) + 1 > policy.max_instances - policy.reserve:
                flavor = packing_flavor(flavors, fit, need, policy.flavors, policy.pack_factor)
                if flavor is not fit and can_launch(flavor):
                    flavor = fit
            why = can_launch(flavor)
            if why is None:
                home = add(flavor)
            elif cheap := [i for i in rooms if roomy(i, need, fit)]:
                home = min(cheap, key=lambda i: rank(i, need))  # rule 4: room beats waiting
            else:
                if not why.startswith(QUOTA_FULL) and math.isfinite(policy.idle_limit):
                    home = replace(fit)
                if home is None and (rooms := [i for i in rooms if need.gpus > 0 or i.flavor.gpus == 0]):
                    # Rule 4: nothing can be replaced; a too-big idle instance beats waiting.
                    home = min(rooms, key=lambda i: rank(i, need))
            if home is None:
                out.wait[need.key] = why or POOL_AT_MAX
                return
        home.jobs.append(need)
        home.idle_since = None
        out.place[need.key] = home.key

    # Two passes, each first come first served: every job first takes a home that costs
    # nothing extra -- an instance a job has just freed goes to the first queued job it suits
    # rather than being replaced for one it does not suit -- then launches, packing and rule 4
    # for the others; a job waiting ``overtake_limit`` or longer gets all of that in the first.
    for launching in (False, True):
        for need in waiting:
            if need.key not in out.place and need.key not in out.reject:
                overdue = need.arrived is not None and now - need.arrived >= policy.overtake_limit
                settle(need, launching or overdue)

    def wake(at: float) -> None:
        if at > now:
            out.wake_at = at if out.wake_at is None else min(out.wake_at, at)

    for res in reservations:  # rule 7, after the jobs: a real job takes a warm seat first
        if not res.active(policy, now):
            wake(res.starts - policy.lead)
            continue
        wake(res.ends)
        held = 0
        for n in range(res.pending):
            seat = dataclasses.replace(res.seat, key=(res.key, n), arrived=None)
            fit = choose_flavor(flavors, seat, policy.flavors)
            if fit is None:
                out.short[res.key] = f"{NO_FLAVOR}: no flavor fits a seat"
                break
            rooms = [
                i
                for i in pool
                if i.key not in replaced
                and i.room_for(seat, policy.jobs_per_instance)
                and (seat.gpus > 0 or i.flavor.gpus == 0)
            ]
            if rooms:
                home = min(rooms, key=lambda i: rank(i, seat))
            else:
                flavor = seat_flavor(flavors, fit, seat, res.pending - n, policy.flavors)
                if can_launch(flavor) is not None:
                    flavor = fit
                why = can_launch(flavor)
                if why is not None:
                    out.short[res.key] = why
                    break
                home = add(flavor)
            home.jobs.append(seat)
            home.idle_since = None
            held += 1
        out.held[res.key] = held
    arrivals = list({j.key: j for j in [*waiting, *(j for i in pool for j in i.jobs)]}.values())
    up = live()
    if len(up) < policy.min_instances:
        warm = next((f for f in flavors if f.name == policy.warm_flavor), None) or choose_flavor(
            flavors, Need(key=None, cpus=1, memory_mb=0), policy.flavors
        )
        while warm is not None and len(up) < policy.min_instances and can_launch(warm) is None:
            up.append(add(warm))
    keep = len(up)
    # Rule 7: seats of running reservations keep idle instances that fit them (until the end).
    kept_for = {r.key: r.seats for r in reservations if r.active(policy, now)}
    idle = [
        i
        for i in instances
        if not i.jobs and i.idle_since is not None and i.state != "draining" and i.key not in replaced
    ]
    for inst in sorted(instances, key=lambda i: i.idle_since or now):
        if inst.jobs or inst.idle_since is None or inst.key in replaced:
            continue  # (a held seat of rule 7 counts as a job)
        if inst.state == "draining":
            out.retire.append(inst.key)
            continue
        if keep <= policy.min_instances or not math.isfinite(policy.idle_limit):
            continue
        held_by = next(
            (
                r
                for r in reservations
                if kept_for.get(r.key, 0) > 0
                and fits(inst.flavor, r.seat)
                and (r.seat.gpus > 0) == (inst.flavor.gpus > 0)
            ),
            None,
        )
        if held_by is not None:
            room = inst.flavor.vcpus // max(held_by.seat.cpus, 1) if not held_by.seat.gpus else 1
            kept_for[held_by.key] -= max(room, 1)
            continue
        since = inst.idle_since
        nth = 1 + sum(
            1
            for o in idle
            if o.flavor.name == inst.flavor.name and o.idle_since is not None and o.idle_since > since
        )
        demand = (
            demand_until(policy, flavors, inst, arrivals, now, nth) if policy.idle_timeout is None else None
        )
        due = retire_at(policy, inst, now, demand)
        if due <= now + 1e-9:
            out.retire.append(inst.key)
            keep -= 1
        else:
            wake(due)
    return out
