"""What an instance costs in each Nova state: pure, no I/O.

A cloud charges an instance's flavor rate (SUs per hour, :attr:`policy.Flavor.su_per_hour`)
times a multiple that depends on the instance's state. :data:`JETSTREAM2` is the default
(setting ``BURST_STATE_CHARGES`` overrides any state): Jetstream2 charges an instance for as long
as it holds its resources on a hypervisor -- ACTIVE, and also SHUTOFF, SUSPENDED and PAUSED, since
stopping or suspending does not free the host (its instance management page: shelving is the way
to stop an instance's charges; "shelve/unshelve take a few minutes") -- and nothing once it is
SHELVED or SHELVED_OFFLOADED (the disk image stays; storage is charged apart from SUs).
An instance being built (BUILD) is charged from its launch, as the kit's accounting does.

``bench/burst_sim.py --warm-state shelved`` uses this to evaluate a pool that shelves idle
instances instead of deleting them and unshelves one for the next job of its flavor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Multiples of the flavor's SU rate by Nova status (Jetstream2).
JETSTREAM2: dict[str, float] = {
    "BUILD": 1.0,
    "ACTIVE": 1.0,
    "SHUTOFF": 1.0,
    "SUSPENDED": 1.0,
    "PAUSED": 1.0,
    "SHELVED": 0.0,
    "SHELVED_OFFLOADED": 0.0,
}


def check_charges(value: Any) -> str | None:
    """The setting's validator: None, or what would be valid."""
    if not isinstance(value, Mapping):
        return "a table of Nova status -> multiple of the flavor's SU rate, e.g. {SHUTOFF = 0.5}"
    for state, multiple in value.items():
        if str(state).upper() not in JETSTREAM2:
            return f"unknown instance state {state!r}; states: {', '.join(JETSTREAM2)}"
        if isinstance(multiple, bool) or not isinstance(multiple, int | float) or multiple < 0:
            return f"the multiple for {state} must be a number >= 0, not {multiple!r}"
    return None


def state_charges(overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Jetstream2's multiples with ``overrides`` (the setting; validated) applied."""
    error = check_charges(overrides or {})
    if error:
        raise ValueError(f"BURST_STATE_CHARGES: {error}")
    out = dict(JETSTREAM2)
    out.update({str(k).upper(): float(v) for k, v in (overrides or {}).items()})
    return out


def charge(
    su_per_hour: float, state: str, seconds: float, charges: Mapping[str, float] = JETSTREAM2
) -> float:
    """SUs for ``seconds`` in ``state`` of an instance whose flavor costs ``su_per_hour``.

    A state missing from ``charges`` is charged in full (an unknown state is assumed to hold
    the instance's resources).
    """
    return su_per_hour * charges.get(state.upper(), 1.0) * seconds / 3600
