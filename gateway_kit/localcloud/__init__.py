"""The local cloud: an OpenStack-compatible cloud on loopback that the real openstacksdk drives.

See ``README.md`` in this package, :mod:`gateway_kit.localcloud.core` (service registration) and
:mod:`gateway_kit.localcloud.testing` (fault injection and the pytest fixture).
"""

from ..features import Command, Feature

FEATURE = Feature(
    "localcloud",
    __name__,
    commands=[
        Command(
            "localcloud",
            ".cli:localcloud",
            "An OpenStack-compatible cloud on loopback (Keystone, Nova, Glance, Cinder, ...).",
        )
    ],
)
