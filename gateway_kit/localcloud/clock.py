"""Time in the local cloud: delayed state transitions, evaluated lazily.

A resource that is "becoming" something (a server in BUILD, a volume ``creating``, a zone
``PENDING``, a load balancer ``PENDING_UPDATE``) carries a queue of *steps* in its internal
``"_lc"`` key. Each step is a mapping of fields to set, optionally with a ``"_hook"`` naming a
registered function to call when the step fires (for side effects such as "delete the server's
ports" or "mark the zone's recordsets ACTIVE"). Steps fire in order:

* in ``"time"`` mode, each step fires ``delay`` seconds after the previous one (or after it was
  scheduled);
* in ``"poll"`` mode, each step fires on the ``polls``-th read of the resource after the previous.

Nothing runs in the background: in ``"time"`` mode every due transition is applied before
each request the cloud answers (:meth:`gateway_kit.localcloud.core.LocalCloud.settle_due`), so
a state never waits for someone to read that resource; in ``"poll"`` mode transitions advance
when the resource is read through :meth:`gateway_kit.localcloud.core.LocalCloud.get` /
``.list``. A *held* resource never advances until released (fault injection). Because the
queue is part of the document, a restart keeps pending transitions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]


@dataclass
class ClockConfig:
    """How fast the local cloud's world moves.

    :param mode: ``"time"`` (wall-clock delays) or ``"poll"`` (advance per read).
    :param delay: seconds per transition step in ``"time"`` mode.
    :param polls: reads per transition step in ``"poll"`` mode.
    """

    mode: str = "time"
    delay: float = 0.5
    polls: int = 1

    def validate(self) -> None:
        if self.mode not in ("time", "poll"):
            raise ValueError(f"clock mode must be 'time' or 'poll', not {self.mode!r}")
        if self.delay < 0:
            raise ValueError("clock delay must be >= 0")
        if self.polls < 1:
            raise ValueError("clock polls must be >= 1")


def lc(doc: Doc) -> dict[str, Any]:
    """Return (creating it) the internal bookkeeping block of a document."""
    block: dict[str, Any] = doc.setdefault("_lc", {})
    block.setdefault("queue", [])
    block.setdefault("since", time.time())
    block.setdefault("polls", 0)
    block.setdefault("held", False)
    return block


def enqueue(doc: Doc, steps: list[dict[str, Any]], now: float | None = None) -> None:
    """Append transition steps to a document's queue."""
    block = lc(doc)
    if not block["queue"]:
        block["since"] = time.time() if now is None else now
        block["polls"] = 0
    block["queue"].extend(dict(s) for s in steps)


def pending(doc: Doc) -> bool:
    """Whether the document has transitions still to fire."""
    return bool(doc.get("_lc", {}).get("queue"))


def due_steps(doc: Doc, config: ClockConfig, observe: bool) -> list[dict[str, Any]]:
    """Pop and return the steps that are due now (without applying them).

    :param observe: count this call as a read (``"poll"`` mode).
    """
    block = doc.get("_lc")
    if not block or not block.get("queue") or block.get("held"):
        return []
    now = time.time()
    fired: list[dict[str, Any]] = []
    if config.mode == "poll":
        if observe:
            block["polls"] = block.get("polls", 0) + 1
        if block["polls"] >= config.polls:
            fired.append(block["queue"].pop(0))
            block["polls"] = 0
            block["since"] = now
        return fired
    while block["queue"]:
        step_delay = float(block["queue"][0].get("_delay", config.delay))
        if now - block["since"] < step_delay:
            break
        fired.append(block["queue"].pop(0))
        block["since"] = block["since"] + step_delay
    return fired
