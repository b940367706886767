"""Burst: jobs on on-demand cloud instances, GPU flavors included.

* :mod:`.policy` -- the pure pool policy (flavor choice, placement, launches, waits, retirement),
  shared with ``bench/burst_sim.py``;
* :mod:`.pool` -- the mechanism: the cloud through openstacksdk, the database, failure handling,
  charging;
* :mod:`.executor` -- the ``burst`` executor (entry point ``gateway_kit.executors``);
* :mod:`.api` -- the agent API under ``/api/v1/agent`` (per-instance tokens);
* :mod:`.agent` -- ``gateway-kit agent``, which runs on the instance;
* :mod:`.feature` -- the worker task, the console page, ``gateway-kit burst``.
"""

from ..features import Command, Feature

FEATURE = Feature.standard(
    "burst",
    __name__,
    commands=[
        Command("burst", ".feature:burst_cli", "Burst pools: status, drain, clean orphans."),
        Command(
            "agent",
            ".agent:agent",
            "Run the burst agent on this instance (pulls and runs the gateway's jobs).",
        ),
    ],
    requires=("identity", "jobs", "data"),
    order=30,
)
