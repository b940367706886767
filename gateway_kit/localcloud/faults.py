"""Fault injection for the local cloud.

Faults are set through the control API (``/_control/...``, see :mod:`gateway_kit.localcloud.control`)
or the Python helper :class:`gateway_kit.localcloud.testing.LocalCloudController`. They live in memory
only: a restart of the local cloud clears them, as does ``POST /_control/reset``.

Three families:

* **request rules** (:class:`FaultRule`) match requests by service, method and path regex and either
  delay them (``delay``), or answer with an error status (``status``, e.g. 500 or 429 with a
  ``Retry-After`` header) at a given ``rate``, optionally only ``count`` times;
* **create failures**: "the next create of kind X ends in ERROR" (consumed by the service when it
  schedules the creation transition of a resource of that kind);
* **holds**: "keep resource X (or the next X created) in its transitional state" (BUILD, creating,
  PENDING_CREATE...) until released.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultRule:
    """One request rule.

    :param service: a service name (``"compute"``, ``"network"``, ``"dns"``...) or ``"*"``.
    :param method: an HTTP method or ``"*"``.
    :param path: a regular expression searched in the path below the service prefix, or ``""``.
    :param rate: probability (0..1) that a matching request is affected.
    :param status: the error status to answer with; 0 means "no error" (a pure delay rule).
    :param retry_after: seconds for the ``Retry-After`` header (sent with 429 and 503).
    :param delay: seconds to sleep before handling a matching request.
    :param count: how many more matching requests to affect; ``None`` for no limit.
    :param message: the error message.
    """

    service: str = "*"
    method: str = "*"
    path: str = ""
    rate: float = 1.0
    status: int = 0
    retry_after: int | None = None
    delay: float = 0.0
    count: int | None = None
    message: str = ""
    id: int = field(default=0)

    def matches(self, service: str, method: str, subpath: str) -> bool:
        if self.service not in ("*", service):
            return False
        if self.method not in ("*", method.upper()):
            return False
        return not self.path or re.search(self.path, subpath) is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultTable:
    """All faults currently injected into one local cloud. Thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._next_id = 1
        self.rules: list[FaultRule] = []
        self.create_failures: dict[str, int] = {}
        self.hold_next: dict[str, int] = {}

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            rule.method = rule.method.upper()
            re.compile(rule.path)
            self.rules.append(rule)
            return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if r.id != rule_id]
            return len(self.rules) != before

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.create_failures.clear()
            self.hold_next.clear()

    def pick(self, service: str, method: str, subpath: str) -> list[FaultRule]:
        """Return the rules that fire for this request (decrementing their counts)."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in list(self.rules):
                if not rule.matches(service, method, subpath):
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                fired.append(rule)
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
        return fired

    def fail_next_create(self, kind: str, times: int = 1) -> None:
        self._add(self.create_failures, kind, times)

    def take_create_failure(self, kind: str) -> bool:
        return self._take(self.create_failures, kind)

    def hold_next_create(self, kind: str, times: int = 1) -> None:
        self._add(self.hold_next, kind, times)

    def take_hold_next(self, kind: str) -> bool:
        return self._take(self.hold_next, kind)

    def _add(self, counts: dict[str, int], kind: str, times: int) -> None:
        with self._lock:
            counts[kind] = counts.get(kind, 0) + times

    def _take(self, counts: dict[str, int], kind: str) -> bool:
        """Use up one of ``kind``'s count; False when none is left."""
        with self._lock:
            left = counts.get(kind, 0)
            if left <= 0:
                return False
            counts[kind] = left - 1
            return True

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [r.to_dict() for r in self.rules],
                "fail_next_create": dict(self.create_failures),
                "hold_next_create": dict(self.hold_next),
            }
