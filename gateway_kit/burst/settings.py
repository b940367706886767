"""Burst settings: the cloud, how instances reach the gateway, timeouts and retries.

Per-destination pool policy (minimum/maximum instances, idle timeout, spend cap, jobs per
instance, flavors) lives in the destination's table in ``JOBS_DESTINATIONS_MAP``; see
:class:`gateway_kit.burst.policy.PoolPolicy`.
"""

from __future__ import annotations

from typing import Any

from ..settings import Setting, at_least, positive
from .charging import JETSTREAM2, check_charges


def _url(value: Any) -> str | None:
    if not value or str(value).startswith(("https://", "http://")):
        return None
    return "an http(s):// URL of this gateway as instances reach it, or empty"


SETTINGS: list[Setting] = [
    Setting(
        "BURST_CLOUD_NAME",
        str,
        "",
        "clouds.yaml entry of the cloud burst instances run in (empty: CLOUD_NAME; a destination "
        "may set 'cloud' instead).",
        aliases=("BURST_CLOUD",),
    ),
    Setting(
        "BURST_AGENT_URL",
        str,
        "",
        "Base URL of this gateway as burst instances reach it (https:// on a real cloud). "
        "Empty: PUBLIC_URL if set, else http://127.0.0.1:5000.",
        validate=_url,
    ),
    Setting(
        "BURST_IMAGE",
        str,
        "Featured-Ubuntu24",
        "Image (name or id) burst instances boot from (a destination may set 'image').",
    ),
    Setting(
        "BURST_NETWORK",
        str,
        "",
        "Network (name or id) for burst instances; empty: the project's only network.",
    ),
    Setting(
        "BURST_AGENT_INSTALL",
        str,
        "pip install gateway-kit",
        "Shell command that installs the kit on an instance whose image lacks it.",
    ),
    Setting(
        "BURST_TOKEN_TTL",
        float,
        600.0,
        "Seconds an agent token lives; the agent renews it at half-life.",
        validate=positive(),
    ),
    Setting("BURST_HEARTBEAT_INTERVAL", float, 5.0, "Seconds between agent heartbeats.", validate=positive()),
    Setting(
        "BURST_HEARTBEAT_TIMEOUT",
        float,
        60.0,
        "An instance whose agent is silent this long is replaced and its jobs requeued.",
        validate=positive(),
    ),
    Setting(
        "BURST_BOOT_TIMEOUT",
        float,
        900.0,
        "Seconds from launch until the agent's first heartbeat before the instance counts "
        "as failed (never ACTIVE, or its agent never started).",
        validate=positive(),
    ),
    Setting(
        "BURST_MAX_REQUEUES",
        int,
        2,
        "Times a job is requeued after its instance failed before it FAILS.",
        validate=at_least(0),
    ),
    Setting(
        "BURST_RECONCILE_INTERVAL",
        float,
        5.0,
        "Seconds between passes of the pool reconciler (worker task).",
        validate=positive(),
    ),
    Setting(
        "BURST_GATEWAY_ID",
        str,
        "",
        "This gateway's id in instance metadata, to tell its orphans from another "
        "gateway's instances in the same project (empty: derived from SECRET_KEY).",
    ),
    Setting(
        "BURST_STATE_CHARGES",
        dict,
        dict(JETSTREAM2),
        "Multiple of a flavor's SU rate an instance costs per Nova status (default Jetstream2's: "
        "1 while it holds its host, ACTIVE, SHUTOFF, SUSPENDED; 0 SHELVED); used by bench/burst_sim.py.",
        validate=check_charges,
    ),
]
