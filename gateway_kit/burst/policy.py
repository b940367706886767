"""The burst pool policy: pure functions, no I/O, no clock.

Both the ``burst`` executor (:mod:`gateway_kit.burst.pool`) and ``bench/burst_sim.py`` import
this module, so the simulation measures the code that runs.

Given the flavors, the pool's instances, the jobs waiting in arrival order, the project's quota
and the destination's :class:`PoolPolicy`, :func:`plan` decides:

1. **placement** -- each waiting job goes, first come first served, to a live instance with room
   for it (a ready one first, then one still booting: reusing a warm instance beats launching);
2. **launches** -- a job that fits nowhere gets a new instance of the cheapest flavor (in SUs per
   hour) that fits it, unless the pool is at its maximum, the spend cap (SUs per hour of the live
   pool) would be passed, or the project's quota (instances, cores, RAM) is full: then the job
   waits with that reason, and smaller jobs behind it may still go (backfill);
3. **minimum** -- the pool is topped up to ``min_instances`` with ``warm_flavor``;
4. **retirement** -- an instance idle for ``idle_timeout`` seconds is deleted, unless that would
   take the pool below its minimum.
"""

from __future__ import annotations

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


def flavor_rate(vcpus: int, gpus: int, extra_specs: Mapping[str, Any],
                overrides: Mapping[str, Any], name: str) -> float:
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
    return Flavor(name=name, vcpus=int(doc["vcpus"]), ram_mb=int(doc["ram"]), gpus=gpus,
                  su_per_hour=flavor_rate(int(doc["vcpus"]), gpus, specs, overrides or {}, name),
                  id=str(doc.get("id", "")))


@dataclass(frozen=True)
class Need:
    """What a job asks for."""

    key: Any
    cpus: int
    memory_mb: int
    gpus: int = 0


def fits(flavor: Flavor, need: Need) -> bool:
    return (flavor.vcpus >= need.cpus and flavor.ram_mb >= need.memory_mb
            and flavor.gpus >= need.gpus)


def choose_flavor(flavors: Sequence[Flavor], need: Need,
                  allowed: Sequence[str] = ()) -> Flavor | None:
    """The cheapest flavor (SUs per hour) that fits ``need``; GPU flavors only for GPU jobs.

    Ties go to the smaller flavor (fewer vCPUs, less RAM), then the name.
    """
    pool = [f for f in flavors if (not allowed or f.name in allowed) and fits(f, need)
            and (need.gpus > 0 or f.gpus == 0)]
    if not pool:
        return None
    return min(pool, key=lambda f: (f.su_per_hour, f.vcpus, f.ram_mb, f.name))


@dataclass(frozen=True)
class PoolPolicy:
    """A destination's pool settings (the ``pool`` options of a burst destination)."""

    min_instances: int = 0
    max_instances: int = 4
    #: Seconds an instance may sit idle before it is deleted.
    idle_timeout: float = 300.0
    #: Most SUs per hour the live pool may cost (0: no cap).
    su_per_hour_cap: float = 0.0
    #: Most jobs at once on one instance (0: as many as its CPUs, RAM and GPUs allow).
    jobs_per_instance: int = 0
    #: Flavor of the warm instances kept for ``min_instances`` ("" = the cheapest CPU flavor).
    warm_flavor: str = ""
    #: Flavors the pool may use (empty: all).
    flavors: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PoolPolicy:
        return cls(min_instances=int(options.get("min_instances", 0)),
                   max_instances=int(options.get("max_instances", 4)),
                   idle_timeout=float(options.get("idle_timeout", 300.0)),
                   su_per_hour_cap=float(options.get("su_per_hour_cap", 0.0)),
                   jobs_per_instance=int(options.get("jobs_per_instance", 0)),
                   warm_flavor=str(options.get("warm_flavor", "")),
                   flavors=tuple(str(f) for f in options.get("flavors", ())))


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

    def free(self) -> tuple[int, int, int]:
        return (self.flavor.vcpus - sum(j.cpus for j in self.jobs),
                self.flavor.ram_mb - sum(j.memory_mb for j in self.jobs),
                self.flavor.gpus - sum(j.gpus for j in self.jobs))

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
        checks = (("instances", self.instances, self.used_instances + extra[0], 1),
                  ("cores", self.cores, self.used_cores + extra[1], flavor.vcpus),
                  ("RAM (MiB)", self.ram_mb, self.used_ram_mb + extra[2], flavor.ram_mb))
        for what, limit, used, want in checks:
            if limit >= 0 and used + want > limit:
                return (f"the cloud project's quota is full: {what} {used} in use + {want} "
                        f"for a {flavor.name} > {limit}")
        return None


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
    #: instance keys to delete (idle past the timeout).
    retire: list[Any] = field(default_factory=list)
    #: job key -> why it can never run here.
    reject: dict[Any, str] = field(default_factory=dict)


def pool_rate(instances: Sequence[Instance]) -> float:
    return sum(i.flavor.su_per_hour for i in instances)


def plan(policy: PoolPolicy, flavors: Sequence[Flavor], instances: Sequence[Instance],
         waiting: Sequence[Need], quota: Quota, now: float) -> Plan:
    """Decide placements, launches, waits and retirements (see the module docstring)."""
    out = Plan()
    pool = list(instances)
    launched = 0
    extra = [0, 0, 0]  # quota used by this plan's launches

    def can_launch(flavor: Flavor) -> str | None:
        live = [i for i in pool if i.state != "draining"]
        if len(live) >= policy.max_instances:
            return f"{POOL_AT_MAX}: {len(live)} of {policy.max_instances} instances are busy"
        if policy.su_per_hour_cap > 0 and (pool_rate(pool) + flavor.su_per_hour
                                           > policy.su_per_hour_cap + 1e-9):
            return (f"{SPEND_CAP}: the pool costs {pool_rate(pool):g} SU/h; a {flavor.name} "
                    f"({flavor.su_per_hour:g} SU/h) would pass the cap of "
                    f"{policy.su_per_hour_cap:g} SU/h")
        blocked = quota.blocks(flavor, (extra[0], extra[1], extra[2]))
        return f"{QUOTA_FULL}: {blocked}" if blocked else None

    def add(flavor: Flavor) -> Instance:
        nonlocal launched
        launched += 1
        inst = Instance(key=("new", launched), flavor=flavor, state="booting", idle_since=now)
        pool.append(inst)
        out.launch.append((inst.key, flavor))
        extra[0] += 1
        extra[1] += flavor.vcpus
        extra[2] += flavor.ram_mb
        return inst

    order = {"ready": 0, "booting": 1}
    for need in waiting:
        flavor = choose_flavor(flavors, need, policy.flavors)
        if flavor is None:
            out.reject[need.key] = (f"{NO_FLAVOR}: no flavor has {need.cpus} CPUs, "
                                    f"{need.memory_mb} MiB and {need.gpus} GPUs")
            continue
        homes = sorted((i for i in pool if i.room_for(need, policy.jobs_per_instance)),
                       key=lambda i: (order.get(i.state, 2), i.flavor.su_per_hour))
        # A CPU job on a GPU instance would hold an expensive machine: only when nothing else.
        homes.sort(key=lambda i: (need.gpus == 0 and i.flavor.gpus > 0))
        if homes:
            home = homes[0]
        else:
            why = can_launch(flavor)
            if why:
                out.wait[need.key] = why
                continue
            home = add(flavor)
        home.jobs.append(need)
        home.idle_since = None
        out.place[need.key] = home.key
    live = [i for i in pool if i.state != "draining"]
    if len(live) < policy.min_instances:
        warm = next((f for f in flavors if f.name == policy.warm_flavor), None) or choose_flavor(
            flavors, Need(key=None, cpus=1, memory_mb=0), policy.flavors)
        while warm is not None and len(live) < policy.min_instances and can_launch(warm) is None:
            live.append(add(warm))
    keep = len(live)
    for inst in sorted(instances, key=lambda i: i.idle_since or now):
        if inst.jobs or inst.idle_since is None:
            continue
        idle = now - inst.idle_since
        if inst.state == "draining" or (idle >= policy.idle_timeout
                                        and keep > policy.min_instances):
            out.retire.append(inst.key)
            if inst.state != "draining":
                keep -= 1
    return out
