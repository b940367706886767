"""The local cloud's data plane: instances that really run, as local process groups.

Off by default (the fidelity suites want a control plane only). Turn it on with
``gateway-kit localcloud serve --dataplane``, with ``running_local_cloud(..., dataplane=True)`` /
the ``local_cloud_dataplane`` fixture of :mod:`gateway_kit.localcloud.testing`, or with
:func:`enable` -- ``enable(server.cloud, root=Path(...))`` on a
:class:`~gateway_kit.localcloud.server.LocalCloudServer`.

=====================  ==========================================================================
module                 owns
=====================  ==========================================================================
``instances.py``       :class:`DataPlane`: an instance's address, directory, user script and
                       processes following Nova's status; the console log
``cloudconfig.py``     user data: base64, ``## template: jinja`` rendering with cloud-init's
                       instance data, ``#cloud-config`` keys, ``packages`` checked against dpkg
``systemd.py``         the unit supervisor behind each instance's ``systemctl``/``journalctl``
``systemctl.py``       the client those shims run
``traffic.py``         the asyncio loop holding every listening socket; floating IPs forwarding
                       to instances as security groups allow; privileged port mapping
``balancer.py``        Octavia listeners carrying traffic, health monitors probing
``volumes.py``         Cinder volumes as directories linked into instances; snapshots; quota
``names.py``           ``gateway-kit localcloud resolve``: DNS answers and curl/Chromium hints
``procs.py``           /proc bookkeeping: an instance's processes, ending process groups
``blocks.py``          the cloud's block of loopback space, claimed per machine (``flock``)
=====================  ==========================================================================

**What an instance is.** When Nova reports a server ACTIVE (the ``compute.boot_hooks``
extension point), the data plane:

1. gives it a loopback address of its own, ``127.100.<block>.y`` (Linux routes all of ``127/8``
   to ``lo`` without configuration; the block is the cloud's, see
   :func:`.instances.cloud_block`), and makes Neutron's port -- hence Nova's ``addresses`` and
   the SDK's ``server.private_v4`` -- report that address as the server's fixed IP;
2. makes a directory ``ROOT/<server id>/`` whose ``rootfs/`` stands in for the instance's file
   system (``console.log``, ``journal/``, ``systemd/``, ``bin/`` beside it);
3. reads the server's user data (base64, as Nova stores it), renders it when its first line is
   ``## template: jinja`` (``{{ v1.local_ipv4 }}`` is the instance's address, see
   :mod:`.cloudconfig`), and runs it as **cloud-config**;
4. starts the units enabled in ``/etc/systemd/system/*.wants`` (see :mod:`.systemd`).

**Cloud-config keys honoured:**

* ``write_files``: each ``path`` is written under ``rootfs/`` (``/etc/x`` -> ``rootfs/etc/x``) with
  ``content`` (``encoding: b64`` / ``base64`` honoured), ``permissions`` (octal string) and
  ``append``; ``owner`` is ignored (everything belongs to the user running the cloud) and
  ``defer`` too (every file is written before the commands run).
* ``runcmd``: the items become one ``/bin/sh`` script, as cloud-init writes them (a string is a
  shell line; a list is an argv, each item shell-quoted). The script is the leader of a process
  group of its own, with its working directory ``rootfs/``, output appended to
  ``ROOT/<id>/console.log`` (what ``openstack console log show`` answers), and this
  environment only: ``PATH`` (the instance's ``bin/`` with ``systemctl`` and ``journalctl``, then
  the directory of the Python running the cloud, so that ``gateway-kit`` is found), ``HOME`` and
  ``INSTANCE_ROOT`` (``rootfs/``), ``INSTANCE_ID``, ``INSTANCE_NAME``, ``INSTANCE_IP`` (the
  loopback address), ``INSTANCE_FLAVOR``, ``LANG``, and ``INSTANCE_NAMESERVER`` (``HOST:PORT`` of
  the cloud's DNS server, when it runs one: instances use the host's resolver, which does not
  know the Designate zones; ``gateway-kit localcloud hostaddr`` pins a name's address from it).
  One template serves a real cloud and this one when it writes its services as systemd units
  and binds them to ``{{ v1.local_ipv4 }}``; ``${INSTANCE_ROOT:-}`` remains for ad-hoc
  ``runcmd`` paths.
* ``bootcmd``: run like ``runcmd``, before it, in the same script.
* ``packages``: each name the host's dpkg does not list as installed is reported in the console
  log (the instance shares the host's software; nothing is installed).
* ``mounts``: an entry naming an attached volume's device puts the volume at its mount point
  (see :mod:`.volumes`).
* A user data that starts with ``#!`` is run as that script (no cloud-config parsing).

**Ignored** (named in the console log): ``package_update``, ``package_upgrade``, ``apt``,
``yum_repos``, ``snap``, ``users``, ``groups``, ``ssh_*``, ``chpasswd``, ``disk_setup``, ``fs_setup``,
``power_state``, ``final_message``, ``timezone``, ``hostname``, ``manage_etc_hosts``
and anything else.

**Lifecycle.** The data plane follows Nova's status (a background thread also applies due state
transitions, so an instance boots without anybody polling it):

=====================================  ==========================================================
status                                 processes
=====================================  ==========================================================
ACTIVE (boot, start, unshelve, reboot)  running; a power-on after SHUTOFF/SHELVED/REBOOT starts the
                                       enabled units and runs the user data again (``runcmd``
                                       must therefore be idempotent, as ``systemctl enable --now``
                                       is)
SUSPENDED, PAUSED                      its processes are stopped with SIGSTOP; resume: SIGCONT
SHUTOFF, SHELVED*, REBOOT, ERROR       units stopped, the group ended (SIGTERM, 3 s, SIGKILL)
deleted (``compute.destroy_hooks``)    its processes are ended and the address freed; the directory
                                       stays until the cloud is reset (for post-mortems)
=====================================  ==========================================================

An instance's processes are its user script's process group plus every descendant the
background thread has seen (it walks ``/proc`` each pass), so a program that starts a session of
its own -- the job runner does -- is still stopped, continued and ended with its instance. Units
are children of the cloud process and are stopped by the supervisor. :func:`disable` (and the
end of ``serve``) ends them all.
"""

from __future__ import annotations

from gateway_kit.localcloud.dataplane.cloudconfig import decode_user_data, parse_cloud_config, render
from gateway_kit.localcloud.dataplane.instances import (
    ADDRESS_PREFIX,
    EXTENSION_KEY,
    KIND,
    DataPlane,
    address_for,
    disable,
    enable,
)

__all__ = [
    "ADDRESS_PREFIX",
    "EXTENSION_KEY",
    "KIND",
    "DataPlane",
    "address_for",
    "decode_user_data",
    "disable",
    "enable",
    "parse_cloud_config",
    "render",
]
