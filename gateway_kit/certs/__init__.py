"""TLS certificates for the gateway's names: ACME DNS-01 through Designate, renewal, alerts.

Modules: :mod:`.names` (names that fit), :mod:`.authority` (the ACME CA), :mod:`.dns01`
(challenge records in Designate), :mod:`.sealing` (keys at rest), :mod:`.delivery` (load
balancer / Barbican), :mod:`.service` (issue, renew, revoke), :mod:`.renewal` (worker task),
:mod:`.feature` (console page, metrics), :mod:`.cli` (``gateway-kit certs``).
"""

from ..features import Command, Feature

FEATURE = Feature.standard(
    "certs",
    __name__,
    commands=[
        Command(
            "certs", ".cli:certs", "TLS certificates for the gateway's names (ACME DNS-01 through Designate)."
        )
    ],
    requires=("identity",),
    order=40,
)
