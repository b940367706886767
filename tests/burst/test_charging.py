"""The per-state charging model (gateway_kit.burst.charging) and the simulator's shelved pool."""

from __future__ import annotations

from types import ModuleType

import pytest

from gateway_kit.burst import charging, policy
from gateway_kit.burst.settings import SETTINGS


def test_jetstream2_charges_while_the_host_is_held_and_nothing_shelved() -> None:
    rates = charging.state_charges()
    assert [rates[s] for s in ("BUILD", "ACTIVE", "SHUTOFF", "SUSPENDED")] == [1.0] * 4
    assert rates["SHELVED"] == rates["SHELVED_OFFLOADED"] == 0.0
    # An 8-SU/h flavor: half an hour ACTIVE is 4 SUs, shelved for a day nothing.
    assert charging.charge(8.0, "ACTIVE", 1800) == pytest.approx(4.0)
    assert charging.charge(8.0, "shelved_offloaded", 86400) == 0.0
    assert charging.charge(8.0, "RESCUE", 3600) == 8.0  # unknown: charged in full


def test_overrides_apply_and_bad_ones_say_what_is_valid() -> None:
    rates = charging.state_charges({"shutoff": 0.5})
    assert rates["SHUTOFF"] == 0.5 and rates["ACTIVE"] == 1.0
    assert charging.charge(4.0, "SHUTOFF", 3600, rates) == 2.0
    assert "unknown instance state 'HIBERNATED'" in str(charging.check_charges({"HIBERNATED": 0}))
    assert ">= 0" in str(charging.check_charges({"SHELVED": -1}))
    assert ">= 0" in str(charging.check_charges({"SHELVED": True}))
    assert "table" in str(charging.check_charges([1]))
    with pytest.raises(ValueError, match=r"BURST_STATE_CHARGES: .*SUSPENDED"):
        charging.state_charges({"SUSPENDED": "cheap"})
    setting = next(s for s in SETTINGS if s.name == "BURST_STATE_CHARGES")
    assert setting.default == charging.JETSTREAM2 and setting.validate is not None
    assert setting.validate({"SHELVED": 0.1}) is None and setting.validate({"X": 1})


def test_a_shelved_pool_unshelves_instead_of_booting(sim: ModuleType) -> None:
    jobs = sim.trace(2, 120)
    kit = policy.PoolPolicy(max_instances=20, boot_seconds=120.0)
    boot = (90.0, 300.0)
    deleted = sim.simulate(jobs, kit, boot, 2)
    # Unshelving as slow as a boot and free while shelved: the same SUs and waits, fewer boots.
    same = sim.simulate(jobs, kit, boot, 2, warm_state="shelved", unshelve=1.0)
    assert same.overhead == pytest.approx(deleted.overhead) and same.mean_wait == deleted.mean_wait
    assert same.instances < deleted.instances
    # Faster unshelves: shorter waits; charged in full while shelved: dearer than deleting.
    fast = sim.simulate(jobs, kit, boot, 2, warm_state="shelved", unshelve=0.5)
    assert fast.mean_wait < deleted.mean_wait and fast.overhead < deleted.overhead
    full = charging.state_charges({"SHELVED": 1.0})
    dear = sim.simulate(jobs, kit, boot, 2, warm_state="shelved", unshelve=1.0, charges=full)
    assert dear.overhead > deleted.overhead
