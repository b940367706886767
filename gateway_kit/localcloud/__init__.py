"""The local cloud: an OpenStack-compatible cloud on loopback that the real openstacksdk drives.

See ``README.md`` in this package, :mod:`gateway_kit.localcloud.core` (service registration) and
:mod:`gateway_kit.localcloud.testing` (fault injection and the pytest fixture).
"""
