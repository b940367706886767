"""Replay a seeded job trace against burst pool policies; print queue waits and SU overhead.

    python bench/burst_sim.py [--seed 7 | --seeds 1..5] [--jobs 400] [--boot-median 90]
                              [--boot-p95 300] [--max-instances 20] [--idle-timeout auto]
                              [--pack-reserve 0] [--pack-factor 3] [--max-oversize 1]

``--seeds`` (``1..5``, ``1,2,7``) prints each seed's table, then the mean over the seeds.

The kit's policy is :func:`gateway_kit.burst.policy.plan` itself (imported, not copied). The
simulation is event-driven: it jumps from one event to the next (a job arrives, an instance
finishes booting, a job ends, the time ``plan`` asked to be woken at -- ``Plan.wake_at``, when an
idle instance comes due for retirement) and calls ``plan`` at each, as the executor's reconcile
loop does, with a fresh view of the pool (the executor also
rebuilds :class:`~gateway_kit.burst.policy.Instance` objects from its database every time).

The kit's pool is told the boot time's mean (``boot_seconds``), as an operator would configure
it for their cloud; its idle timeout is ``auto`` unless ``--idle-timeout`` gives seconds.

Compared with one-instance-per-job at the same maximum (``--max-instances``; ``jobs_per_instance=1``,
``max_oversize=1``, idle timeout 0: each job launches its own right-sized instance, deleted when
it ends; at the maximum a job waits for a slot, or takes an instance of its own flavor that
another job just freed) and a fixed pool (``--fixed`` m3.medium instances plus
``--fixed-gpu`` g3.small, all up from the first arrival to the last job's end, never retired;
``plan`` only places jobs on them). Boot times are log-normal with the given median and 95th percentile.

SU overhead = (instance SUs - job SUs) / job SUs; in brackets the parts of it spent booting and
with no job at all (the rest: cores unused beside running jobs). Instance SUs: each instance's
flavor rate x the time from its launch to its deletion (boot time and idle time included). Job SUs: each job's
run time x its share (the largest of its CPU, RAM and GPU fractions) of the cheapest flavor that
fits it -- the same for every policy, so the three rows share one denominator.

The last row, ``clairvoyant bound``, is the limit (:func:`clairvoyant_bound`): the least SU
overhead any schedule that starts every job on arrival can expect, even one that knows the whole
trace in advance (waits 0: it launches ahead of each arrival).

Every job must start under every policy; the script asserts it.

``--workshop SEATS`` adds a workshop to the trace (rule 7 of the policy, schedule-driven warm-up):
SEATS one-CPU students who join within a minute of its start, ``--workshop-at`` seconds after the
first arrival, each for 45 min, and prints the students' waits and the pool's SU overhead for the
kit pool told of the workshop (a :class:`~gateway_kit.burst.policy.Reservation`: it pre-warms)
next to the same pool not told (the students' jobs arrive unannounced).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_kit.burst import charging, policy

FLAVORS = [
    policy.make_flavor(f)
    for f in (
        {"name": "m3.tiny", "vcpus": 1, "ram": 3072},
        {"name": "m3.small", "vcpus": 2, "ram": 6144},
        {"name": "m3.quad", "vcpus": 4, "ram": 15360},
        {"name": "m3.medium", "vcpus": 8, "ram": 30720},
        {"name": "g3.small", "vcpus": 4, "ram": 15360, "extra_specs": {"resources:VGPU": "1"}},
        {"name": "g3.large", "vcpus": 16, "ram": 61440, "extra_specs": {"pci_passthrough:alias": "a100:1"}},
    )
]
BY_NAME = {f.name: f for f in FLAVORS}
#: The kit pool's settings unless a flag changes them: the policy's defaults.
DEFAULTS = policy.PoolPolicy()


@dataclass
class Job:
    key: int
    arrive: float
    run: float
    need: policy.Need
    start: float = -1.0


@dataclass
class Inst:
    """The simulation's own record of an instance (the policy sees a fresh copy each time)."""

    key: int
    flavor: policy.Flavor
    born: float
    state: str = "booting"
    jobs: list[Job] = field(default_factory=list)
    #: As the executor's database keeps it: set at launch and when the last job ends.
    idle_since: float | None = None
    #: When it finished booting; since when it has been up with no job (None: booting or busy).
    ready_at: float | None = None
    idle_from: float | None = None


@dataclass
class Result:
    mean_wait: float
    p95_wait: float
    overhead: float
    instances: int
    events: int
    #: Parts of ``overhead``: instance time booting, and up with no job (the rest: cores unused
    #: beside running jobs, and flavors bigger than their jobs').
    boot: float = 0.0
    idle: float = 0.0


def trace(seed: int, n: int) -> list[Job]:
    """Bursts: quiet periods (~30 min), then 10-40 jobs ~20 s apart; 20 % GPU jobs."""
    rng = random.Random(seed)
    jobs: list[Job] = []
    t, key = 0.0, 0
    while key < n:
        t += rng.expovariate(1 / 1800)
        for _ in range(rng.randint(10, 40)):
            if key >= n:
                break
            t += rng.expovariate(1 / 20)
            gpu = rng.random() < 0.2
            cpus = rng.choice([1, 2, 4]) if not gpu else rng.choice([2, 4])
            run = rng.lognormvariate(math.log(600), 0.8)
            jobs.append(Job(key, t, run, policy.Need(key, cpus, cpus * 2048, 1 if gpu else 0, t)))
            key += 1
    return jobs


def job_sus(job: Job) -> float:
    flavor = policy.choose_flavor(FLAVORS, job.need)
    assert flavor is not None, f"no flavor fits job {job.key}"
    share = max(
        job.need.cpus / flavor.vcpus,
        job.need.memory_mb / flavor.ram_mb,
        job.need.gpus / flavor.gpus if flavor.gpus else 0.0,
    )
    return job.run / 3600 * flavor.su_per_hour * min(share, 1.0)


@dataclass
class Workshop:
    """A workshop in the trace: its students' jobs (keys) and its window."""

    starts: float
    ends: float
    students: list[Job]

    def reservation(self, now: float) -> policy.Reservation:
        joined = sum(1 for j in self.students if j.arrive <= now)
        seat = self.students[0].need
        return policy.Reservation(
            "workshop", self.starts, self.ends, seat, len(self.students) - joined, len(self.students)
        )


def workshop(jobs: list[Job], seats: int, at: float, seed: int) -> Workshop:
    """``seats`` students joining within a minute of ``at`` s after the first arrival (added to ``jobs``)."""
    rng = random.Random(seed * 7919)
    starts = (jobs[0].arrive if jobs else 0.0) + at
    students = []
    for n in range(seats):
        key = len(jobs) + n
        arrive = starts + rng.uniform(0, 60)
        students.append(Job(key, arrive, 45 * 60, policy.Need(key, 1, 2048, 0, arrive)))
    jobs.extend(students)
    jobs.sort(key=lambda j: j.arrive)
    return Workshop(starts, starts + 3600, students)


def clairvoyant_bound(jobs: list[Job], boot_mean: float) -> Result:
    """The least expected SU overhead of any schedule that starts every job when it arrives.

    Why it is a lower bound, for this flavor table (within a family every flavor costs the same
    per vCPU, and a GPU costs at least a g3.small's rate): an instance running jobs costs at
    least the sum of their job rates (:func:`job_sus` per hour), so

    * every job's own SUs are paid (the denominator of the overhead: nothing saved there);
    * at the moment the job rates running at once peak, the live instances cost at least that
      peak rate, and each of them was launched once and paid its boot at its rate; a boot's
      time is a draw with mean ``boot_mean`` whatever the scheduler knows, so the boots cost at
      least ``boot_mean x peak rate`` in expectation;
    * idle time and unused cores cost nothing more (the clairvoyant packs perfectly and
      launches each instance exactly one boot ahead of the work it takes).

    Waits are 0 (launched ahead). A schedule that makes jobs wait may pay less (fewer
    instances at the peak): compare the bound's overhead with the policies' waits beside it.
    ``instances`` is the fewest live at the peak: one per GPU job, CPUs over the largest flavor.
    """
    most_cpus = max(f.vcpus for f in FLAVORS)
    edges: list[tuple[float, int, float, int, int]] = []
    for j in jobs:
        rate = job_sus(j) * 3600 / j.run if j.run > 0 else 0.0
        gpu = 1 if j.need.gpus else 0
        # Ends sort before starts at the same instant (-1 < 1): a job ending as another
        # arrives can hand it its instance.
        edges += [(j.arrive, 1, rate, j.need.cpus, gpu), (j.arrive + j.run, -1, -rate, -j.need.cpus, -gpu)]
    edges.sort(key=lambda e: (e[0], e[1]))
    rate = peak_rate = 0.0
    cpus = gpus = peak_inst = 0
    for _t, _k, d_rate, d_cpus, d_gpus in edges:
        rate, cpus, gpus = rate + d_rate, cpus + d_cpus, gpus + d_gpus
        peak_rate = max(peak_rate, rate)
        peak_inst = max(peak_inst, gpus, math.ceil(cpus / most_cpus))
    su_job = sum(job_sus(j) for j in jobs)
    overhead = boot_mean / 3600 * peak_rate / su_job
    return Result(0.0, 0.0, overhead, peak_inst, 0, boot=overhead)


def simulate(
    jobs: list[Job],
    pol: policy.PoolPolicy,
    boot: tuple[float, float],
    seed: int,
    fixed: tuple[str, ...] = (),
    workshops: tuple[Workshop, ...] = (),
    warm_state: str = "deleted",
    unshelve: float = 1.0,
    charges: Mapping[str, float] = charging.JETSTREAM2,
) -> Result:
    """Run the trace; ``fixed``: flavors of a pool that is up from the first arrival, for good;
    ``workshops``: reservations the pool is told of.

    ``warm_state="shelved"``: a retired instance is shelved rather than deleted (charged at
    ``charges["SHELVED"]`` from then on), and a launch of its flavor unshelves it instead of
    booting a new one, in ``unshelve`` times a boot's time. ``instances`` counts boots only."""
    rng = random.Random(seed)
    sigma = math.log(boot[1] / boot[0]) / 1.645
    for j in jobs:
        j.start = -1.0
    insts: dict[int, Inst] = {}
    waiting: list[Job] = []
    events: list[tuple[float, int, str, object]] = []
    seq = serial = 0
    su_inst = su_boot = su_idle = 0.0
    launched = 0
    shelf: dict[str, list[float]] = {}  # flavor name -> when each shelved instance was shelved

    def shelved_sus(flavor: policy.Flavor, since: float, until: float) -> float:
        return charging.charge(flavor.su_per_hour, "SHELVED", until - since, charges)

    wakes: set[float] = set()

    def push(t: float, kind: str, ref: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, ref))

    def rated(inst: Inst, seconds: float) -> float:
        return charging.charge(inst.flavor.su_per_hour, "ACTIVE", seconds, charges)

    def settle(inst: Inst, now: float) -> None:
        """``inst`` goes: its whole life, its boot and its last idle stretch are charged."""
        nonlocal su_inst, su_boot, su_idle
        su_inst += rated(inst, now - inst.born)
        su_boot += rated(inst, (now if inst.ready_at is None else inst.ready_at) - inst.born)
        if inst.idle_from is not None:
            su_idle += rated(inst, now - inst.idle_from)

    def start(inst: Inst, job: Job, now: float) -> None:
        nonlocal su_idle
        if inst.idle_from is not None:
            su_idle += rated(inst, now - inst.idle_from)
            inst.idle_from = None
        job.start = now
        push(now + job.run, "done", (inst.key, job))

    for j in jobs:
        push(j.arrive, "arrive", j)
    t0 = jobs[0].arrive if jobs else 0.0
    for name in fixed:
        serial += 1
        insts[serial] = Inst(serial, BY_NAME[name], t0, "ready", idle_since=t0, ready_at=t0, idle_from=t0)
    launched = len(insts)
    now = t0
    steps = 0
    while events:
        now = events[0][0]
        while events and events[0][0] == now:  # everything that happens at this instant
            _t, _s, kind, ref = heapq.heappop(events)
            steps += 1
            if steps > 50 * len(jobs) + 10_000:
                raise RuntimeError(f"the simulation is not converging ({steps} events)")
            if kind == "arrive":
                assert isinstance(ref, Job)
                waiting.append(ref)
            elif kind == "ready":
                assert isinstance(ref, int)
                if ref not in insts:  # retired while booting (an unused warm instance)
                    continue
                inst = insts[ref]
                inst.state = "ready"
                inst.ready_at = now
                inst.idle_from = None if inst.jobs else now
                for j in inst.jobs:
                    start(inst, j, now)
            elif kind == "done":
                assert isinstance(ref, tuple)
                done_on: int = ref[0]
                done_job: Job = ref[1]
                inst = insts[done_on]
                inst.jobs.remove(done_job)
                if not inst.jobs:
                    inst.idle_since = inst.idle_from = now
            # "expire": nothing to do but plan again (plan retires what has idled long enough)
        view = [
            policy.Instance(
                i.key,
                i.flavor,
                i.state,
                [j.need for j in i.jobs],
                i.idle_since if not i.jobs else None,
                launched_at=i.born,
            )
            for i in insts.values()
        ]
        booked = [w.reservation(now) for w in workshops]
        out = policy.plan(pol, FLAVORS, view, [j.need for j in waiting], policy.Quota(), now, booked)
        new: dict[object, Inst] = {}
        for key, flavor in out.launch:
            assert not fixed, "a fixed pool never launches"
            serial += 1
            took = rng.lognormvariate(math.log(boot[0]), sigma)
            if shelf.get(flavor.name):
                su_inst += shelved_sus(flavor, shelf[flavor.name].pop(), now)
                took *= unshelve
            else:
                launched += 1
            inst = new[key] = insts[serial] = Inst(serial, flavor, now, idle_since=now)
            push(now + took, "ready", serial)
        by_key = {j.key: j for j in waiting}
        for jkey, home in out.place.items():
            inst = new.get(home) or insts[home]
            j = by_key[jkey]
            inst.jobs.append(j)
            inst.idle_since = None
            if inst.state == "ready":
                start(inst, j, now)
        placed = set(out.place)
        waiting = [j for j in waiting if j.key not in placed]
        assert not out.reject, out.reject
        for iid in out.retire:
            if fixed:
                continue
            settle(insts.pop(iid), now)
            if warm_state == "shelved":
                shelf.setdefault(inst.flavor.name, []).append(now)
        if not fixed and out.wake_at is not None and out.wake_at > now:
            # A hair past it, so that float rounding cannot make plan see it short. A pool
            # plan keeps past every timeout (its minimum) gets no wake-up: only another event
            # (an arrival, an end, a retirement) can change that.
            due = out.wake_at + 1e-6
            if due not in wakes:
                wakes.add(due)
                push(due, "expire", None)
    for inst in insts.values():  # still up at the end (the fixed pool): charged until then
        settle(inst, now)
    for name, times in shelf.items():  # shelved at the end: charged until then, then deleted
        su_inst += sum(shelved_sus(BY_NAME[name], since, now) for since in times)
    unstarted = [j.key for j in jobs if j.start < 0]
    assert not unstarted, f"{len(unstarted)} jobs never started: {unstarted[:10]}"
    assert not waiting
    waits = sorted(j.start - j.arrive for j in jobs)
    assert waits[0] >= 0
    p95 = waits[min(len(waits) - 1, math.ceil(0.95 * len(waits)) - 1)]
    su_job = sum(job_sus(j) for j in jobs)
    return Result(
        statistics.mean(waits),
        p95,
        (su_inst - su_job) / su_job,
        launched,
        steps,
        su_boot / su_job,
        su_idle / su_job,
    )


def kit_policy(max_instances: int, boot: tuple[float, float], **knobs: Any) -> policy.PoolPolicy:
    """The kit's pool as an operator would set it up: the policy's defaults (``knobs`` change
    some), told the boot time's mean (``boot``: median, 95th percentile) as ``boot_seconds``."""
    sigma = math.log(boot[1] / boot[0]) / 1.645
    return policy.PoolPolicy(
        max_instances=max_instances, boot_seconds=boot[0] * math.exp(sigma * sigma / 2), **knobs
    )


def per_job_policy(max_instances: int, reuse: bool = False) -> policy.PoolPolicy:
    """One instance per job: each job boots its own right-sized instance, deleted when the job
    ends; at the maximum a job waits for a slot (``max_oversize`` 0: an instance another job
    freed is never reused). ``reuse``: a freed instance goes to a queued job of its flavor."""
    return policy.PoolPolicy(
        max_instances=max_instances, idle_timeout=0, jobs_per_instance=1, max_oversize=1 if reuse else 0
    )


def idle_arg(text: str) -> float | None:
    return None if text == "auto" else float(text)


def parse_seeds(text: str) -> list[int]:
    """``1..5`` or ``1,2,7`` (or a mix: ``1..3,7``)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, dots, hi = part.partition("..")
        seeds.extend(range(int(lo), int(hi) + 1) if dots else [int(lo)])
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds")
    return seeds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--seeds",
        type=parse_seeds,
        default=None,
        help="several seeds (1..5 or 1,2,7): each seed's rows, then their mean",
    )
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--boot-median", type=float, default=90.0)
    ap.add_argument("--boot-p95", type=float, default=300.0)
    ap.add_argument("--max-instances", type=int, default=20, help="the kit pool's maximum")
    ap.add_argument(
        "--idle-timeout",
        type=idle_arg,
        default=None,
        help="the kit pool's, seconds, or auto (the default: the boot time's mean)",
    )
    ap.add_argument(
        "--pack-reserve",
        type=int,
        default=DEFAULTS.pack_reserve,
        help="the kit pool's pack_reserve (0, the default: never pack; -1: a quarter of the maximum)",
    )
    ap.add_argument(
        "--pack-factor", type=float, default=DEFAULTS.pack_factor, help="the kit pool's pack_factor"
    )
    ap.add_argument(
        "--max-oversize", type=float, default=DEFAULTS.max_oversize, help="the kit pool's max_oversize"
    )
    ap.add_argument("--fixed", type=int, default=6, help="m3.medium instances of the fixed pool")
    ap.add_argument("--fixed-gpu", type=int, default=1, help="g3.small instances of the fixed pool")
    ap.add_argument(
        "--warm-state",
        choices=("deleted", "shelved"),
        default="deleted",
        help="shelved: also print the kit pool shelving retired instances and unshelving them",
    )
    ap.add_argument(
        "--unshelve-fraction",
        type=float,
        default=1.0,
        help="an unshelve's time as a fraction of a boot's (Jetstream2: 'a few minutes', like a boot)",
    )
    ap.add_argument("--workshop", type=int, default=0, help="seats of a workshop in the trace (0: none)")
    ap.add_argument(
        "--workshop-at", type=float, default=3600.0, help="its start, seconds after the first arrival"
    )
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    began = time.monotonic()
    boot = (args.boot_median, args.boot_p95)
    kit = kit_policy(
        args.max_instances,
        boot,
        idle_timeout=args.idle_timeout,
        pack_reserve=args.pack_reserve,
        pack_factor=args.pack_factor,
        max_oversize=args.max_oversize,
    )
    per_job, reused = per_job_policy(args.max_instances), per_job_policy(args.max_instances, reuse=True)
    fixed_flavors = ("m3.medium",) * args.fixed + ("g3.small",) * args.fixed_gpu
    fixed = policy.PoolPolicy(
        min_instances=len(fixed_flavors), max_instances=len(fixed_flavors), idle_timeout=float("inf")
    )
    idle = "auto" if args.idle_timeout is None else f"{args.idle_timeout:g} s"
    names = (
        f"kit (max {args.max_instances}, idle {idle})",
        f"one instance per job (max {args.max_instances})",
        f"one job per instance, reused (max {args.max_instances})",
        f"fixed ({args.fixed} m3.medium + {args.fixed_gpu} g3.small)",
        *((f"kit shelved (unshelve {args.unshelve_fraction:g}x)",) if args.warm_state == "shelved" else ()),
        "clairvoyant bound",
    )
    seeds = args.seeds or [args.seed]
    header = (
        f"{'policy':<38}{'mean wait s':>12}{'p95 wait s':>12}{'SU overhead':>13}"
        f"{'(boot':>8}{'idle)':>7}{'instances':>11}"
    )

    def row(name: str, r: Result) -> str:
        return (
            f"{name:<38}{r.mean_wait:>12.0f}{r.p95_wait:>12.0f}{r.overhead:>12.1%}"
            f"{r.boot:>8.1%}{r.idle:>7.1%}{r.instances:>11.0f}"
        )

    results: list[list[Result]] = []
    for seed in seeds:
        jobs = trace(seed, args.jobs)
        gpus = sum(1 for j in jobs if j.need.gpus)
        span = (jobs[-1].arrive - jobs[0].arrive) / 3600 if jobs else 0.0
        print(
            f"{len(jobs)} jobs over {span:.1f} h (seed {seed}; {len(jobs) - gpus} CPU, "
            f"{gpus} GPU), boot median {boot[0]:g} s / p95 {boot[1]:g} s"
        )
        print(header)
        rs = [
            simulate(jobs, pol, boot, seed, fixed=flavors)
            for pol, flavors in ((kit, ()), (per_job, ()), (reused, ()), (fixed, fixed_flavors))
        ]
        if args.warm_state == "shelved":
            rs.append(simulate(jobs, kit, boot, seed, warm_state="shelved", unshelve=args.unshelve_fraction))
        rs.append(clairvoyant_bound(jobs, kit.boot_seconds))
        for name, r in zip(names, rs, strict=True):
            print(row(name, r))
        results.append(rs)
    if len(seeds) > 1:
        print(f"mean over {len(seeds)} seeds ({', '.join(map(str, seeds))})")
        print(header)
        for k, name in enumerate(names):
            rs = [r[k] for r in results]
            print(
                row(
                    name,
                    Result(
                        *(
                            statistics.mean(getattr(r, f) for r in rs)
                            for f in (
                                "mean_wait",
                                "p95_wait",
                                "overhead",
                                "instances",
                                "events",
                                "boot",
                                "idle",
                            )
                        )
                    ),
                )
            )  # type: ignore[arg-type]
    if args.workshop > 0:
        print(
            f"workshop: {args.workshop} students at +{args.workshop_at:g} s for 1 h (seed {seeds[0]}), "
            f"kit pool (max {args.max_instances})"
        )
        print(f"{'kit pool':<30}{'mean wait s':>12}{'max wait s':>12}{'SU overhead':>13}{'instances':>11}")
        for told in (True, False):
            jobs = trace(seeds[0], args.jobs)
            ws = workshop(jobs, args.workshop, args.workshop_at, seeds[0])
            r = simulate(jobs, kit, boot, seeds[0], workshops=(ws,) if told else ())
            waits = [j.start - j.arrive for j in ws.students]
            name = "told (pre-warms)" if told else "not told"
            print(
                f"{name:<30}{statistics.mean(waits):>12.0f}{max(waits):>12.0f}"
                f"{r.overhead:>12.0%}{r.instances:>11.0f}"
            )
    print(f"every job started under every policy ({time.monotonic() - began:.1f} s)")


if __name__ == "__main__":
    main()
