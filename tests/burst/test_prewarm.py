"""Rule 7 of the pool policy on a simulated clock: a 5-seat workshop's instances are launched
before it starts, its students' jobs land on them, and they are retired after it ends."""

from __future__ import annotations

from gateway_kit.burst import policy
from tests.burst.flavors import flavors

FLAVORS = flavors("m3.tiny", "m3.small", "m3.quad", "m3.medium")
POLICY = policy.PoolPolicy(max_instances=10, boot_seconds=100.0, idle_timeout=60.0)  # lead: 200 s


SEAT = policy.Need(key=None, cpus=1, memory_mb=2048)


def view(instances: dict[int, policy.Instance]) -> list[policy.Instance]:
    """What the pool passes: fresh copies, as it rebuilds them from its database."""
    return [
        policy.Instance(i.key, i.flavor, i.state, list(i.jobs), i.idle_since, i.launched_at)
        for i in instances.values()
    ]


def test_a_workshop_prewarms_before_its_start_and_releases_after() -> None:
    start, end = 1000.0, 4600.0
    live: dict[int, policy.Instance] = {}

    def run(now: float, taken: int = 0, waiting: tuple[policy.Need, ...] = ()) -> policy.Plan:
        res = policy.Reservation("workshop-1", start, end, SEAT, 5 - taken, 5)
        out = policy.plan(POLICY, FLAVORS, view(live), list(waiting), policy.Quota(), now, [res])
        for _key, flavor in out.launch:
            key = max(live, default=0) + 1
            live[key] = policy.Instance(key, flavor, "ready", [], now, now)
        for key in out.retire:
            del live[key]
        return out

    early = run(700.0)  # 300 s before: nothing yet, but the pool asks to be woken at 800
    assert early.launch == [] and early.wake_at == 800.0
    warm = run(800.0)
    # 5 one-CPU seats: a quad and a tiny (5 cores at the seat's price per core, none unused).
    assert sorted(f.name for _k, f in warm.launch) == ["m3.quad", "m3.tiny"]
    assert warm.held == {"workshop-1": 5} and not warm.short
    assert run(900.0).launch == []  # held, not launched again, not retired while it waits
    assert len(live) == 2
    # The students took their seats; their jobs are not in the pool yet: the idle warm instances
    # (idle for 150 s, past the 60 s timeout) stay for the workshop.
    assert run(950.0, taken=5).retire == []
    # At the start the 5 students' jobs arrive: each finds room on a warm instance.
    students = tuple(policy.Need(key=f"job-{i}", cpus=1, memory_mb=2048, arrived=start) for i in range(5))
    at_start = run(start, taken=5, waiting=students)
    assert at_start.launch == [] and set(at_start.place.values()) <= set(live)
    assert len(at_start.place) == 5 and at_start.held == {"workshop-1": 0}
    # After the end, with the students gone, the idle instances are retired (idle timeout 60 s).
    for inst in live.values():
        inst.jobs, inst.idle_since = [], end
    assert run(end + 30).retire == []
    assert sorted(run(end + 61).retire) == [1, 2] and not live


def test_a_full_pool_says_why_seats_are_not_warm() -> None:
    small = policy.PoolPolicy(max_instances=1, boot_seconds=100.0)
    res = policy.Reservation("w", 100.0, 200.0, SEAT, 5, 5)
    out = policy.plan(small, FLAVORS[:1], [], [], policy.Quota(), 50.0, [res])
    assert len(out.launch) == 1 and out.held == {"w": 1}
    assert out.short["w"].startswith(policy.POOL_AT_MAX)


def test_burst_sim_compares_a_told_pool_with_one_not_told() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [
            sys.executable,
            "bench/burst_sim.py",
            "--jobs",
            "60",
            "--seed",
            "3",
            "--workshop",
            "10",
            "--workshop-at",
            "30000",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    told = next(line for line in out.splitlines() if line.startswith("told (pre-warms)")).split()
    blind = next(line for line in out.splitlines() if line.startswith("not told")).split()
    # mean and max student waits: the warm pool's are shorter (its instances booted before the start).
    assert float(told[2]) < float(blind[2]) and float(told[3]) < float(blind[3]), out
