"""The local cloud's services, one module each; see "SERVICE REGISTRATION" in
:mod:`gateway_kit.localcloud.core`."""
