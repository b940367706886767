"""Replay a seeded job trace against burst pool policies; print queue waits and SU overhead.

    python bench/burst_sim.py [--seed 7] [--jobs 400] [--boot-median 90] [--boot-p95 300]

The kit's policy is :func:`gateway_kit.burst.policy.plan` itself (imported, not copied), run at
every event with the simulated pool. Compared with one-instance-per-job (idle timeout 0, no
reuse) and a fixed pool (always ``--fixed`` CPU instances plus one GPU instance, never retired).
Boot times are log-normal with the given median and 95th percentile. SU overhead =
(instance SUs - job SUs) / job SUs, job SUs being each job's share of its flavor.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from dataclasses import dataclass

from gateway_kit.burst import policy

FLAVORS = [policy.make_flavor(f) for f in (
    {"name": "m3.tiny", "vcpus": 1, "ram": 3072}, {"name": "m3.small", "vcpus": 2, "ram": 6144},
    {"name": "m3.quad", "vcpus": 4, "ram": 15360}, {"name": "m3.medium", "vcpus": 8, "ram": 30720},
    {"name": "g3.small", "vcpus": 4, "ram": 15360, "extra_specs": {"resources:VGPU": "1"}},
    {"name": "g3.large", "vcpus": 16, "ram": 61440,
     "extra_specs": {"pci_passthrough:alias": "a100:1"}})]


@dataclass
class Job:
    key: int
    arrive: float
    run: float
    need: policy.Need
    start: float = -1.0


def trace(seed: int, n: int) -> list[Job]:
    """Bursts: quiet periods with sparse arrivals, then 10-40 jobs within minutes."""
    rng = random.Random(seed)
    jobs, t, key = [], 0.0, 0
    while key < n:
        t += rng.expovariate(1 / 1800)  # a burst every ~30 min
        for _ in range(rng.randint(10, 40)):
            if key >= n:
                break
            t += rng.expovariate(1 / 20)
            gpu = rng.random() < 0.2
            cpus = rng.choice([1, 2, 4]) if not gpu else rng.choice([2, 4])
            run = rng.lognormvariate(math.log(600), 0.8)
            jobs.append(Job(key, t, run, policy.Need(key, cpus, cpus * 2048, 1 if gpu else 0)))
            key += 1
    return jobs


def simulate(jobs: list[Job], pol: policy.PoolPolicy, boot: tuple[float, float], seed: int,
             fixed: bool = False) -> tuple[float, float, float]:
    rng = random.Random(seed)
    sigma = math.log(boot[1] / boot[0]) / 1.645
    insts: dict[object, policy.Instance] = {}
    born: dict[object, float] = {}
    ready_at: dict[object, float] = {}
    on: dict[object, list[tuple[float, Job]]] = {}
    waiting: list[Job] = []
    events: list[tuple[float, int, str, object]] = []
    seq = 0
    su_inst = su_job = 0.0
    serial = 0

    def push(t: float, kind: str, ref: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, ref))

    for j in jobs:
        push(j.arrive, "arrive", j)
    if fixed:  # the fixed pool: booted before the first job, never retired
        for flavor in [f for f in FLAVORS if f.name == pol.warm_flavor] * (pol.max_instances - 1) \
                + [f for f in FLAVORS if f.name == "g3.small"]:
            serial += 1
            iid = ("i", serial)
            insts[iid] = policy.Instance(iid, flavor, "ready", [], 0.0)
            born[iid] = 0.0
    end_time = 0.0
    horizon = jobs[-1].arrive + 30 * 86400
    by_key = {j.key: j for j in jobs}
    while events:
        now, _, kind, ref = heapq.heappop(events)
        if now > horizon:
            raise RuntimeError("jobs never finish under this policy")
        end_time = now
        if kind == "arrive":
            waiting.append(ref)  # type: ignore[arg-type]
        elif kind == "ready":
            insts[ref].state = "ready"
            for _t, j in on.get(ref, []):
                if j.start < 0:
                    j.start = now
                    push(now + j.run, "done", (ref, j))
        elif kind == "done":
            iid, j = ref  # type: ignore[misc]
            inst = insts[iid]
            inst.jobs.remove(j.need)
            flavor = inst.flavor
            frac = max(j.need.cpus / flavor.vcpus, j.need.gpus / flavor.gpus if flavor.gpus else 0)
            su_job += j.run / 3600 * flavor.su_per_hour * min(frac, 1)
            if not inst.jobs:
                inst.idle_since = now
        elif kind == "tick":
            pass
        live = list(insts.values())
        plan = policy.plan(pol, FLAVORS, live, [j.need for j in waiting], policy.Quota(), now)
        keymap: dict[object, object] = {}
        for key, flavor in plan.launch:
            serial += 1
            iid = ("i", serial)
            keymap[key] = iid
            insts[iid] = policy.Instance(iid, flavor, "booting", [], None)
            born[iid] = now
            ready_at[iid] = now + rng.lognormvariate(math.log(boot[0]), sigma)
            push(ready_at[iid], "ready", iid)
        for jkey, home in plan.place.items():
            iid = keymap.get(home, home)
            j = by_key[jkey]
            insts[iid].jobs.append(j.need)
            insts[iid].idle_since = None
            on.setdefault(iid, []).append((now, j))
            waiting.remove(j)
            if insts[iid].state == "ready":
                j.start = now
                push(now + j.run, "done", (iid, j))
        for iid in plan.retire:
            if fixed:
                continue
            inst = insts.pop(iid)
            su_inst += (now - born[iid]) / 3600 * inst.flavor.su_per_hour
        if fixed:
            continue  # placements happen at arrivals and ends; nothing changes in between
        idle = any(i.idle_since is not None for i in insts.values())
        if (waiting or idle) and (kind != "tick" or len(events) < 5):
            push(now + 30, "tick", None)
    for iid, inst in insts.items():
        su_inst += (end_time - born[iid]) / 3600 * inst.flavor.su_per_hour
    waits = sorted(j.start - j.arrive for j in jobs)
    p95 = waits[int(0.95 * (len(waits) - 1))]
    return statistics.mean(waits), p95, (su_inst - su_job) / su_job


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--boot-median", type=float, default=90.0)
    ap.add_argument("--boot-p95", type=float, default=300.0)
    ap.add_argument("--fixed", type=int, default=6, help="CPU instances of the fixed pool")
    args = ap.parse_args()
    jobs = trace(args.seed, args.jobs)
    boot = (args.boot_median, args.boot_p95)
    kit = policy.PoolPolicy(max_instances=20, idle_timeout=600)
    per_job = policy.PoolPolicy(max_instances=10_000, idle_timeout=0, jobs_per_instance=1)
    fixed = policy.PoolPolicy(min_instances=0, max_instances=args.fixed + 1,
                              warm_flavor="m3.medium", idle_timeout=float("inf"))
    print(f"{len(jobs)} jobs (seed {args.seed}, {sum(1 for j in jobs if j.need.gpus)} GPU), "
          f"boot median {boot[0]:g} s / p95 {boot[1]:g} s")
    print(f"{'policy':<28}{'mean wait s':>12}{'p95 wait s':>12}{'SU overhead':>13}")
    for name, pol, is_fixed in (("kit (max 20, idle 600 s)", kit, False),
                                ("one instance per job", per_job, False),
                                (f"fixed ({args.fixed} m3.medium+1 g3)", fixed, True)):
        for j in jobs:
            j.start = -1.0
        mean, p95, over = simulate(jobs, pol, boot, args.seed, fixed=is_fixed)
        print(f"{name:<28}{mean:>12.0f}{p95:>12.0f}{over:>12.0%}")


if __name__ == "__main__":
    main()
