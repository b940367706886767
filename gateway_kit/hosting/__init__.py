"""Hosting: declarative deployments of service VMs, volumes, DNS records and load balancers.

A deployment is described by a TOML spec (:mod:`.spec`), turned into a list of desired cloud
resources (:mod:`.plan`), and reconciled against what the kit recorded in its database and what
the cloud really holds (:mod:`.engine`). Every call to OpenStack goes through :mod:`.cloud`, which
translates openstacksdk's exceptions into the kit's error tree.
"""

from ..features import Command, Feature

FEATURE = Feature.standard(
    "hosting",
    __name__,
    commands=[
        Command(
            "deploy",
            ".cli:deploy",
            "Declarative deployments: service VMs, volumes, DNS names and a load balancer.",
        ),
        Command("vm", ".day2_cli:vm", "Servers: list, show, and day-2 actions."),
        Command("volume", ".day2_cli:volume", "Volumes: list, extend, snapshot, and their snapshots."),
        Command("dns", ".day2_cli:dns", "DNS zones and records (Designate)."),
        Command("lb", ".day2_cli:lb", "Load balancers (Octavia)."),
    ],
    requires=("identity", "certs", "data"),
    order=60,
)
