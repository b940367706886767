"""The pool policy's rules (gateway_kit.burst.policy: pure, no cloud needed)."""

from __future__ import annotations

import pytest

from gateway_kit.burst import policy
from gateway_kit.burst.policy import Instance, Need, Plan, PoolPolicy, Quota
from tests.burst.flavors import flavors

FLAVORS = flavors("m3.tiny", "m3.small", "m3.quad", "m3.medium", "g3.small")
F = {f.name: f for f in FLAVORS}
NOW = 10_000.0


def job(key: str, cpus: int = 1, gpus: int = 0, arrived: float | None = None) -> Need:
    return Need(key, cpus, cpus * 2048, gpus, arrived)


def inst(
    key: str,
    flavor: str,
    state: str = "ready",
    jobs: tuple[Need, ...] = (),
    idle_since: float | None = None,
    launched_at: float | None = NOW - 1000,
) -> Instance:
    return Instance(
        key,
        F[flavor],
        state,
        list(jobs),
        None if jobs else (NOW if idle_since is None else idle_since),
        launched_at,
    )


def run(pol: PoolPolicy, instances: list[Instance], waiting: list[Need], now: float = NOW) -> Plan:
    return policy.plan(pol, FLAVORS, instances, waiting, Quota(), now)


def launched(out: Plan) -> list[str]:
    return [f.name for _key, f in out.launch]


def test_launches_a_right_sized_flavor_rather_than_an_idle_big_one() -> None:
    # An idle 8-vCPU machine would cost 8x for the 1-vCPU job's whole run.
    out = run(PoolPolicy(max_instances=4), [inst("big", "m3.medium")], [job("a")])
    assert launched(out) == ["m3.tiny"] and out.place["a"] == ("new", 1)


def test_reuses_a_warm_idle_instance_of_the_right_size_first() -> None:
    pool = [inst("tiny", "m3.tiny"), inst("small", "m3.small")]
    out = run(PoolPolicy(max_instances=4), pool, [job("a")])
    assert out.place == {"a": "tiny"} and not out.launch
    # By default an idle instance takes only jobs of its own price: a 1-vCPU job gets an
    # m3.tiny rather than an idle m3.small ...
    out = run(PoolPolicy(max_instances=4), [inst("small", "m3.small")], [job("a")])
    assert launched(out) == ["m3.tiny"]
    # ... within max_oversize (2x) it takes the idle 2-vCPU instance.
    out = run(PoolPolicy(max_instances=4, max_oversize=2), [inst("small", "m3.small")], [job("a")])
    assert out.place == {"a": "small"} and not out.launch


def test_shares_a_busy_instance_with_room() -> None:
    pool = [inst("quad", "m3.quad", jobs=(job("x", 2),))]
    out = run(PoolPolicy(max_instances=4), pool, [job("a", 2)])
    assert out.place == {"a": "quad"} and not out.launch


def test_a_cpu_job_never_takes_a_gpu_instance() -> None:
    pool = [inst("gpu", "g3.small", jobs=(job("g", 2, gpus=1),))]
    out = run(PoolPolicy(max_instances=4), pool, [job("a", 2)])
    assert launched(out) == ["m3.small"]
    # Not even when the pool is full: the job waits instead of holding a GPU machine.
    out = run(PoolPolicy(max_instances=1), pool, [job("a", 2)])
    assert not out.place and out.wait["a"].startswith(policy.POOL_AT_MAX)


def test_joins_a_booting_instance_only_within_boot_patience() -> None:
    pol = PoolPolicy(max_instances=4, boot_patience=280)
    young = inst("quad", "m3.quad", "booting", jobs=(job("x", 2),), launched_at=NOW - 60)
    assert run(pol, [young], [job("a")]).place == {"a": "quad"}
    old = inst("quad", "m3.quad", "booting", jobs=(job("x", 2),), launched_at=NOW - 400)
    out = run(pol, [old], [job("a")])
    assert launched(out) == ["m3.tiny"] and out.place["a"] == ("new", 1)
    # ... but when no launch is possible, any room beats waiting.
    out = run(PoolPolicy(max_instances=1, boot_patience=280), [old], [job("a")])
    assert out.place == {"a": "quad"}


def test_packs_when_few_slots_are_left() -> None:
    pol = PoolPolicy(max_instances=8, pack_reserve=2, pack_factor=3)
    busy = [inst(f"t{n}", "m3.tiny", jobs=(job(f"x{n}"),)) for n in range(4)]
    # 4 live + 1 <= 8 - 2: right-sized.
    assert launched(run(pol, busy, [job("a")])) == ["m3.tiny"]
    # 6 live + 1 > 8 - 2: the smallest same-price flavor with 3x the job's vCPUs, shared.
    busy = [inst(f"t{n}", "m3.tiny", jobs=(job(f"x{n}"),)) for n in range(6)]
    out = run(pol, busy, [job("a"), job("b")])
    assert launched(out) == ["m3.quad"] and out.place == {"a": ("new", 1), "b": ("new", 1)}
    # A GPU job is never packed (no flavor has a second GPU at the same price).
    out = run(pol, busy, [job("g", 2, gpus=1)])
    assert launched(out) == ["g3.small"]
    assert policy.packing_flavor(FLAVORS, F["m3.quad"], job("c", 4)) == F["m3.medium"]


def test_an_idle_instance_of_the_wrong_shape_makes_way_at_the_maximum() -> None:
    pool = [inst("busy", "m3.tiny", jobs=(job("x"),)), inst("idle", "m3.tiny")]
    out = run(PoolPolicy(max_instances=2, idle_timeout=600), pool, [job("g", 2, gpus=1)])
    assert out.retire == ["idle"] and launched(out) == ["g3.small"]
    assert out.place == {"g": ("new", 1)}
    # A fixed pool (never retired) keeps its instances: the job waits.
    out = run(PoolPolicy(max_instances=2, idle_timeout=float("inf")), pool, [job("g", 2, gpus=1)])
    assert not out.retire and out.wait["g"].startswith(policy.POOL_AT_MAX)


def test_an_idle_instance_much_too_big_makes_way_at_the_maximum() -> None:
    # An idle m3.quad would cost 4x for the 1-vCPU job's whole run; one boot of an m3.tiny
    # costs a fraction of that: replace it rather than run the job on it.
    pool = [inst("busy", "m3.tiny", jobs=(job("x"),)), inst("idle", "m3.quad")]
    out = run(PoolPolicy(max_instances=2, idle_timeout=600), pool, [job("a")])
    assert out.retire == ["idle"] and launched(out) == ["m3.tiny"] and out.place == {"a": ("new", 1)}
    # Within max_oversize it is taken as it is.
    out = run(PoolPolicy(max_instances=2, idle_timeout=600, max_oversize=4), pool, [job("a")])
    assert out.place == {"a": "idle"} and not out.launch and not out.retire
    # A pool that never replaces its instances: the big one beats waiting.
    out = run(PoolPolicy(max_instances=2, idle_timeout=float("inf")), pool, [job("a")])
    assert out.place == {"a": "idle"} and not out.launch and not out.retire


def test_one_job_per_instance_never_packs() -> None:
    # The spare cores of a bigger flavor could hold no other job: right-sized even when few
    # slots are left.
    pol = PoolPolicy(max_instances=8, pack_reserve=2, jobs_per_instance=1)
    busy = [inst(f"t{n}", "m3.tiny", jobs=(job(f"x{n}"),)) for n in range(6)]
    out = run(pol, busy, [job("a"), job("b")])
    assert launched(out) == ["m3.tiny", "m3.tiny"]


def test_auto_idle_timeout_retires_at_once_without_recent_demand() -> None:
    pol = PoolPolicy(max_instances=4, boot_seconds=120, demand_window=300)
    assert pol.idle_timeout is None and pol.idle_limit == 120
    out = run(pol, [inst("tiny", "m3.tiny", idle_since=NOW - 5)], [])
    assert out.retire == ["tiny"] and out.wake_at is None


def test_auto_idle_timeout_keeps_an_instance_while_jobs_it_fits_arrive() -> None:
    # 300 s window / 120 s boot: 3 recent arrivals that it could take keep it.
    pol = PoolPolicy(max_instances=10, boot_seconds=120, demand_window=300)
    recent = tuple(job(f"x{n}", arrived=NOW - 100 + 10 * n) for n in range(3))
    others = [inst(f"b{n}", "m3.tiny", jobs=(need,)) for n, need in enumerate(recent)]
    idle = inst("tiny", "m3.tiny", idle_since=NOW - 5)
    out = run(pol, [*others, idle], [])
    assert out.retire == []
    # Kept until the ski-rental limit (idle 120 s) or the demand leaving the window, if sooner.
    assert out.wake_at == pytest.approx(min(NOW - 5 + 120, NOW - 100 + 300))
    # Jobs it could not take (GPU, or bigger than it) are no demand for it.
    gpu = tuple(job(f"g{n}", 2, gpus=1, arrived=NOW - 50) for n in range(3))
    others = [inst(f"g{n}", "g3.small", jobs=(need,)) for n, need in enumerate(gpu)]
    assert run(pol, [*others, idle], []).retire == ["tiny"]
    # Past the limit it goes even with demand.
    out = run(
        pol,
        [
            *[inst(f"b{n}", "m3.tiny", jobs=(need,)) for n, need in enumerate(recent)],
            inst("tiny", "m3.tiny", idle_since=NOW - 121),
        ],
        [],
    )
    assert out.retire == ["tiny"]


def test_auto_idle_timeout_shares_the_demand_among_idle_instances() -> None:
    pol = PoolPolicy(max_instances=10, boot_seconds=120, demand_window=300)
    recent = tuple(job(f"x{n}", arrived=NOW - 10 * n) for n in range(3))
    busy = [inst(f"b{n}", "m3.tiny", jobs=(need,)) for n, need in enumerate(recent)]
    idle = [inst("older", "m3.tiny", idle_since=NOW - 20), inst("newer", "m3.tiny", idle_since=NOW - 10)]
    # Enough demand for one idle tiny: the most recently idle stays.
    assert run(pol, busy + idle, []).retire == ["older"]


def test_explicit_idle_timeout_is_honoured() -> None:
    pol = PoolPolicy(max_instances=4, idle_timeout=600)
    out = run(pol, [inst("tiny", "m3.tiny", idle_since=NOW - 300)], [])
    assert out.retire == [] and out.wake_at == pytest.approx(NOW + 300)
    assert run(pol, [inst("tiny", "m3.tiny", idle_since=NOW - 600)], []).retire == ["tiny"]


def test_hourly_billing_keeps_a_paid_idle_instance_until_its_period_ends() -> None:
    pol = PoolPolicy(max_instances=4, idle_timeout=60, billing_seconds=3600)
    # Launched 1000 s ago, idle 100 s: the hour is paid; kept until 60 s before it ends.
    tiny = inst("tiny", "m3.tiny", idle_since=NOW - 100, launched_at=NOW - 1000)
    out = run(pol, [tiny], [])
    assert out.retire == [] and out.wake_at == pytest.approx(NOW - 1000 + 3600 - 60)
    tiny = inst("tiny", "m3.tiny", idle_since=NOW - 100, launched_at=NOW - 3580)
    assert run(pol, [tiny], []).retire == ["tiny"]


def test_minimum_is_kept_and_topped_up() -> None:
    pol = PoolPolicy(min_instances=1, max_instances=4, warm_flavor="m3.small")
    out = run(pol, [], [])
    assert launched(out) == ["m3.small"]
    out = run(pol, [inst("warm", "m3.small", idle_since=NOW - 10_000)], [])
    assert out.retire == [] and not out.launch


def test_options_default_to_auto_idle_timeout() -> None:
    assert PoolPolicy.from_options({}).idle_timeout is None
    assert PoolPolicy.from_options({"idle_timeout": "auto"}).idle_timeout is None
    pol = PoolPolicy.from_options(
        {"idle_timeout": 30, "max_instances": 20, "billing_seconds": 3600, "pack_factor": 2}
    )
    assert (pol.idle_timeout, pol.idle_limit, pol.reserve) == (30.0, 30.0, 0)
    assert pol.billing_seconds == 3600 and pol.pack_factor == 2
    # The defaults the bench adopted: never pack, an idle instance reused only at its own price.
    assert (pol.pack_reserve, pol.max_oversize) == (0, 1.0) == (PoolPolicy().pack_reserve, 1.0)
    assert PoolPolicy.from_options({"max_instances": 20, "pack_reserve": -1}).reserve == 5


def test_a_freed_instance_goes_to_a_queued_job_it_suits_before_any_replacement() -> None:
    # At the maximum, "a" (first in the queue) needs an m3.quad; the m3.small that just
    # became idle suits "b" behind it: "b" takes it (no boot) and "a" waits, rather than the
    # m3.small being deleted to boot an m3.quad for "a" and "b" waiting for another slot.
    def pool() -> list[Instance]:
        return [inst("busy", "m3.quad", jobs=(job("x", 4),)), inst("freed", "m3.small")]

    out = run(PoolPolicy(max_instances=2, idle_timeout=0), pool(), [job("a", 4), job("b", 2)])
    assert out.place == {"b": "freed"} and not out.launch and not out.retire
    assert out.wait["a"].startswith(policy.POOL_AT_MAX)
    # ... unless "a" has waited overtake_limit: then the freed m3.small is replaced for it.
    late = [job("a", 4, arrived=NOW - 1300), job("b", 2, arrived=NOW - 10)]
    out = run(PoolPolicy(max_instances=2, idle_timeout=0, overtake_limit=1200), pool(), late)
    assert out.retire == ["freed"] and launched(out) == ["m3.quad"] and out.place == {"a": ("new", 1)}
    assert out.wait["b"].startswith(policy.POOL_AT_MAX)
    # Below the maximum "a" gets its launch as before.
    out = run(PoolPolicy(max_instances=3, idle_timeout=0), pool(), [job("a", 4), job("b", 2)])
    assert out.place == {"a": ("new", 1), "b": "freed"} and launched(out) == ["m3.quad"]
