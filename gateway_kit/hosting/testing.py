"""Helpers for testing a deployment spec against the local cloud (see
:mod:`gateway_kit.localcloud.testing`)::

    from gateway_kit.hosting.testing import FAST_SETTINGS

    app = create_app({**FAST_SETTINGS, "ENV": "testing"}, instance_path=...)
"""

from __future__ import annotations

from typing import Any

__all__ = ["FAST_SETTINGS"]

#: Hosting settings for a local cloud whose resources settle in hundredths of a second: short
#: polls, waits of 20 s, quick retries, no drain before a member's VM is replaced.
FAST_SETTINGS: dict[str, Any] = {
    "HOSTING_POLL_INTERVAL": 0.02,
    "HOSTING_SERVER_TIMEOUT": 20.0,
    "HOSTING_VOLUME_TIMEOUT": 20.0,
    "HOSTING_LB_TIMEOUT": 20.0,
    "HOSTING_DNS_TIMEOUT": 20.0,
    "HOSTING_MEMBER_TIMEOUT": 20.0,
    "HOSTING_RETRY_BASE_WAIT": 0.01,
    "HOSTING_RETRY_MAX_WAIT": 0.05,
    "HOSTING_DRAIN_SECONDS": 0.0,
}
