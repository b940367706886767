"""Hosting: declarative deployments of service VMs, volumes, DNS records and load balancers.

A deployment is described by a TOML spec (:mod:`.spec`), turned into a list of desired cloud
resources (:mod:`.plan`), and reconciled against what the kit recorded in its database and what
the cloud really holds (:mod:`.engine`). Every call to OpenStack goes through :mod:`.cloud`, which
translates openstacksdk's exceptions into the kit's error tree.
"""
