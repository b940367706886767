"""Jetstream2's flavors as Nova describes them, for the pool policy's pure tests."""

from __future__ import annotations

from gateway_kit.burst import policy

JETSTREAM2 = {
    "m3.tiny": {"vcpus": 1, "ram": 3072},
    "m3.small": {"vcpus": 2, "ram": 6144},
    "m3.quad": {"vcpus": 4, "ram": 15360},
    "m3.medium": {"vcpus": 8, "ram": 30720},
    "g3.small": {"vcpus": 4, "ram": 15360, "extra_specs": {"resources:VGPU": "1"}},
    "g3.large": {"vcpus": 16, "ram": 61440, "extra_specs": {"pci_passthrough:alias": "a100:1"}},
}


def flavors(*names: str) -> list[policy.Flavor]:
    """The named flavors, in the order given."""
    return [policy.make_flavor({"name": name, **JETSTREAM2[name]}) for name in names]
