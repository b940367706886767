"""Hosting settings: waits, polling and retries of cloud calls."""

from __future__ import annotations

from ..settings import Setting, at_least, positive

SETTINGS: list[Setting] = [
    Setting(
        "HOSTING_POLL_INTERVAL",
        float,
        2.0,
        "Seconds between two status reads while waiting for a cloud resource.",
        validate=positive(),
    ),
    Setting(
        "HOSTING_SERVER_TIMEOUT",
        float,
        900.0,
        "Seconds to wait for a server to become ACTIVE (or VERIFY_RESIZE, or deleted).",
        validate=positive(),
    ),
    Setting(
        "HOSTING_VOLUME_TIMEOUT",
        float,
        300.0,
        "Seconds to wait for a volume to become available, in-use or deleted.",
        validate=positive(),
    ),
    Setting(
        "HOSTING_LB_TIMEOUT",
        float,
        900.0,
        "Seconds to wait for a load balancer to leave PENDING_* (create, update, delete).",
        validate=positive(),
    ),
    Setting(
        "HOSTING_DNS_TIMEOUT",
        float,
        300.0,
        "Seconds to wait for a DNS zone or record set to become ACTIVE.",
        validate=positive(),
    ),
    Setting(
        "HOSTING_MEMBER_TIMEOUT",
        float,
        300.0,
        "Seconds to wait for a new pool member to be ONLINE during a rolling replace.",
        validate=positive(),
    ),
    Setting(
        "HOSTING_DRAIN_SECONDS",
        float,
        10.0,
        "Seconds a replaced web VM's pool member stays admin-down, ending the requests it is "
        "serving, before it leaves the pool and the VM is deleted (releases, rotations).",
        validate=at_least(0),
    ),
    Setting(
        "HOSTING_MEMBER_HEALTHY",
        list,
        ["ONLINE", "NO_MONITOR"],
        "Operating statuses that count as healthy for a new pool member (rolling replace).",
    ),
    Setting(
        "HOSTING_RETRY_ATTEMPTS",
        int,
        6,
        "Attempts of one cloud call when the cloud answers 5xx or 429 (then the call fails).",
        validate=positive(),
    ),
    Setting(
        "HOSTING_RETRY_MAX_WAIT",
        float,
        30.0,
        "Longest back-off, in seconds, between two attempts of a cloud call.",
        validate=at_least(0),
    ),
    Setting(
        "HOSTING_RETRY_BASE_WAIT",
        float,
        0.5,
        "First back-off, in seconds, after a 5xx or 429 (doubles each attempt).",
        validate=at_least(0),
    ),
]
