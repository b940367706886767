"""The hosting feature's use of the cloud boundary (:mod:`gateway_kit.cloud`).

Its waits and back-off come from the ``HOSTING_*`` settings, and its messages point at the
deployment commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .. import cloud as _cloud
from ..cloud import CloudConflict, CloudNotFound, RequestLog, ResourceFailed, WaitTimeout

__all__ = [
    "ADVICE",
    "Cloud",
    "CloudConflict",
    "CloudNotFound",
    "RequestLog",
    "ResourceFailed",
    "Timeouts",
    "WaitTimeout",
]

ADVICE = _cloud.Advice(
    quota="Free some {which} (gateway-kit deploy orphans, vm list), lower the spec's counts or sizes, "
    "or ask the cloud's support for a larger quota.",
    busy="Try again later; the deployment resumes where it stopped.",
    failed="Run `gateway-kit deploy apply` again to replace it, or `deploy destroy` to remove it.",
    timeout="The cloud may be slow or the resource stuck; run the command again to keep waiting, "
    "or `deploy destroy` to clean up.",
    config="Set {setting} or the spec's `cloud` to an entry of the file named by OS_CLIENT_CONFIG_FILE "
    "(see deploy/clouds.yaml.example).",
)


class Timeouts(_cloud.Timeouts):
    """Wait limits and back-off, from the ``HOSTING_*`` settings."""

    @classmethod
    def from_config(cls, config: Any) -> Timeouts:
        return cls(
            poll=config["HOSTING_POLL_INTERVAL"],
            server=config["HOSTING_SERVER_TIMEOUT"],
            volume=config["HOSTING_VOLUME_TIMEOUT"],
            load_balancer=config["HOSTING_LB_TIMEOUT"],
            dns=config["HOSTING_DNS_TIMEOUT"],
            member=config["HOSTING_MEMBER_TIMEOUT"],
            retry_attempts=config["HOSTING_RETRY_ATTEMPTS"],
            retry_base=config["HOSTING_RETRY_BASE_WAIT"],
            retry_max=config["HOSTING_RETRY_MAX_WAIT"],
            member_healthy=tuple(config["HOSTING_MEMBER_HEALTHY"]),
        )


class Cloud(_cloud.Cloud):
    """A :class:`gateway_kit.cloud.Cloud` whose messages give the deployment commands' advice."""

    def __init__(
        self,
        name: str,
        timeouts: _cloud.Timeouts | None = None,
        connection: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, timeouts, connection, sleep, advice=ADVICE)
