"""Fidelity check through python-openstackclient: the ``openstack`` CLI's own code, over HTTP.

openstacksdk's functional tests (:mod:`gateway_kit.localcloud.fidelity`) exercise the SDK;
operators and tools such as Ansible reach a cloud through ``openstack`` commands and their
plugins (octavia, designate, barbican), which send requests the SDK does not (trailing
slashes, ``os-security-groups``, ``os-interface``, instance actions, orders...). :data:`FLOWS`
is a list of such commands, run in order against a cloud named in a ``clouds.yaml``: servers
with security groups, ports, networks, events and diagnostics; volumes and snapshots; networks,
routers and floating IPs; load balancers; zones and recordsets; secrets, containers and orders.

Each step runs ``openstackclient.shell.main(argv)`` in this one process (the CLI's start-up
costs seconds, so the steps share it; a step as another cloud gets a process of its own) and
checks its exit status and output; a step may save its first output line for later steps
(``{name}`` in their arguments) and may be retried until it passes (a state reached by the
cloud's clock). Usage::

    python -m gateway_kit.localcloud.osc_fidelity --clouds-yaml PATH [--cloud local]

prints one line per step and exits 1 when a step failed. Needs the ``dev`` extra
(python-openstackclient and its octavia, designate and barbican plugins).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    """One ``openstack`` command and what it must answer.

    :param argv: the arguments after ``openstack`` (``{name}`` takes a saved value).
    :param expect: substrings the output must contain.
    :param refuse: substrings the output must not contain.
    :param fails: the command must fail (non-zero status); ``expect`` then checks its errors.
    :param save: keep the first line of the output under this name.
    :param until: retry for up to this many seconds until the step passes.
    :param cloud: the clouds.yaml entry to use (``None``: the run's cloud).
    """

    argv: tuple[str, ...]
    expect: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()
    fails: bool = False
    save: str | None = None
    until: float = 0.0
    cloud: str | None = None


def _s(command: str, **kw: Any) -> Step:
    """A step from a command line as a person would type it after ``openstack``."""
    return Step(tuple(shlex.split(command)), **kw)


IMAGE = "Featured-Ubuntu24"
ORDER_HREF = "-f value -c 'Order href'"
LB_ACTIVE = _s("loadbalancer show lb1 -f value -c provisioning_status", expect=("ACTIVE",), until=30)

#: The flows, in order (later steps use what earlier ones made).
FLOWS: list[Step] = [
    # -- servers: security groups by name, ports and networks, events, diagnostics ------------
    _s("security group create web -f value -c id", save="web_id"),
    _s("security group rule create web --protocol tcp --dst-port 80"),
    _s(
        f"server create --flavor m3.tiny --image {IMAGE} --network private --security-group {{web_id}}"
        " s1 -f value -c id",
        save="server",
    ),
    _s("server show s1 -f value -c status", expect=("ACTIVE",), until=30),
    # server show names the groups although the client sent an id
    _s("server show s1 -f json -c security_groups", expect=('"web"',), refuse=("{web_id}",)),
    _s("server add security group s1 default"),
    _s("server remove security group s1 web"),
    _s("server show s1 -f value -c security_groups", expect=("default",), refuse=("web",)),
    _s("server remove security group s1 web", fails=True, expect=("not associated",)),
    _s("port create --network private p1 -f value -c id", save="port"),
    _s("server add port s1 p1"),
    _s("port show p1 -f value -c device_owner", expect=("compute:nova",)),
    _s("server add network s1 private"),
    _s("server remove port s1 p1"),
    _s("port show p1 -f value -c device_owner", refuse=("compute:nova",)),
    _s(
        "server event list s1 -f value -c 'Request ID' -c Action",
        expect=("create", "attach_interface", "detach_interface"),
        save="event",
    ),
    _s("server event show s1 {event} -f json", expect=("detach_interface", "events")),
    _s("server show {server} --diagnostics", expect=("num_cpus",), cloud="local-admin"),
    _s("server show s1 --diagnostics", fails=True, expect=("os-server-diagnostics",)),
    _s("console log show s1", expect=("login:",)),
    _s("server delete s1"),
    _s("server list -f value -c Name", refuse=("s1",), until=30),
    # -- volumes and snapshots: a deleted snapshot stops blocking its volume by the clock -----
    _s("volume create --size 1 v1"),
    _s("volume show v1 -f value -c status", expect=("available",), until=30),
    _s("volume snapshot create --volume v1 snap1"),
    _s("volume snapshot show snap1 -f value -c status", expect=("available",), until=30),
    _s("volume snapshot delete snap1"),
    _s("volume delete v1", until=30),
    _s("volume list -f value -c Name", refuse=("v1",), until=30),
    # -- networks, routers, floating IPs -------------------------------------------------------
    _s("network create n1"),
    _s("subnet create --network n1 --subnet-range 10.9.0.0/24 n1-subnet"),
    _s("router create r1"),
    _s("router set --external-gateway public r1"),
    _s("router add subnet r1 n1-subnet"),
    _s("floating ip create public -f value -c floating_ip_address", save="fip"),
    _s("floating ip list -f value", expect=("{fip}",)),
    # -- load balancers (each change waits for the load balancer to be ACTIVE again) ----------
    _s("loadbalancer create --name lb1 --vip-subnet-id private-subnet"),
    LB_ACTIVE,
    _s("loadbalancer listener create --name l1 --protocol HTTP --protocol-port 80 lb1"),
    LB_ACTIVE,
    _s("loadbalancer pool create --name pool1 --lb-algorithm ROUND_ROBIN --listener l1 --protocol HTTP"),
    LB_ACTIVE,
    _s("loadbalancer member create --address 10.0.0.9 --protocol-port 8080 pool1"),
    LB_ACTIVE,
    _s("loadbalancer healthmonitor create --delay 5 --timeout 3 --max-retries 3 --type HTTP pool1"),
    LB_ACTIVE,
    _s("loadbalancer status show lb1", expect=('"pool1"', '"l1"')),
    _s("loadbalancer delete --cascade lb1"),
    _s("loadbalancer list -f value -c name", refuse=("lb1",), until=30),
    # -- zones and recordsets ------------------------------------------------------------------
    _s("zone create --email admin@example.org example.org."),
    _s("zone show example.org. -f value -c status", expect=("ACTIVE",), until=30),
    _s("recordset create --type A --record 192.0.2.5 example.org. www"),
    _s("recordset list example.org. -f value", expect=("www.example.org. A 192.0.2.5 ACTIVE",), until=30),
    _s("recordset delete example.org. www.example.org."),
    _s("zone delete example.org."),
    # -- secrets (posted to /secrets/ with the trailing slash), containers, orders ----------------
    _s("secret store --name s1 --payload hello -f value -c 'Secret href'", save="secret"),
    _s("secret get {secret} --payload -f value", expect=("hello",)),
    _s(
        "secret container create --name c1 --type generic --secret s={secret} -f value -c 'Container href'",
        save="container",
    ),
    _s("secret container get {container}", expect=("{secret}",)),
    _s(
        f"secret order create --name k1 --algorithm aes --bit-length 256 --mode cbc key {ORDER_HREF}",
        save="order",
    ),
    _s("secret order get {order} -f value -c Status", expect=("ACTIVE",), until=30),
    _s(f"secret order create --name k2 --algorithm rsa --bit-length 2048 asymmetric {ORDER_HREF}", save="k2"),
    _s("secret order get {k2} -f value", expect=("ACTIVE", "/containers/"), until=30),
    _s("secret order create --algorithm aes --bit-length 100 key", fails=True, expect=("bit_length",)),
    _s("secret delete {secret}"),
]


@dataclass
class Outcome:
    step: Step
    argv: list[str]
    ok: bool
    status: int
    output: str
    why: str = ""
    tries: int = 1
    seconds: float = 0.0
    saved: dict[str, str] = field(default_factory=dict)


def _run_cli(argv: list[str], own_process: bool = False) -> tuple[int, str]:
    if own_process:
        # The CLI keeps its first cloud's connection for the life of the process, so a step
        # as another cloud (an admin) runs in a process of its own.
        proc = subprocess.run(
            [sys.executable, "-c", _MAIN, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        return proc.returncode, proc.stdout + proc.stderr
    from openstackclient.shell import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = int(main(argv) or 0)
        except SystemExit as exc:  # argparse errors exit
            status = int(exc.code or 0) if isinstance(exc.code, int) else 2
    return status, out.getvalue() + err.getvalue()


_MAIN = "import sys; from openstackclient.shell import main; sys.exit(main(sys.argv[1:]))"


def _check(step: Step, status: int, output: str, values: dict[str, str]) -> str:
    """Why the step failed ("" when it passed)."""
    if step.fails and status == 0:
        return "succeeded but must fail"
    if not step.fails and status != 0:
        return f"exit status {status}"
    for text in step.expect:
        if text.format(**values) not in output:
            return f"output lacks {text.format(**values)!r}"
    for text in step.refuse:
        if text.format(**values) in output:
            return f"output has {text.format(**values)!r}"
    return ""


def run_flows(cloud: str, steps: list[Step] | None = None, echo: bool = True) -> list[Outcome]:
    """Run ``steps`` (default :data:`FLOWS`) against ``cloud``; stop at the first failure.

    ``OS_CLIENT_CONFIG_FILE`` must name the clouds.yaml.
    """
    values: dict[str, str] = {}
    outcomes: list[Outcome] = []
    for step in steps or FLOWS:
        argv = ["--os-cloud", step.cloud or cloud, *(a.format(**values) for a in step.argv)]
        start = time.monotonic()
        tries = 0
        while True:
            tries += 1
            status, output = _run_cli(argv, own_process=step.cloud not in (None, cloud))
            why = _check(step, status, output, values)
            if not why or time.monotonic() - start >= step.until:
                break
            time.sleep(0.2)
        outcome = Outcome(step, argv, not why, status, output, why, tries, time.monotonic() - start)
        if step.save and not why:
            values[step.save] = output.strip().splitlines()[0].split()[0] if output.strip() else ""
            outcome.saved = {step.save: values[step.save]}
        outcomes.append(outcome)
        if echo:
            mark = "ok  " if outcome.ok else "FAIL"
            print(
                f"osc-fidelity: {mark} openstack {' '.join(argv[2:])}  ({outcome.seconds:.1f} s)", flush=True
            )
            if not outcome.ok:
                print(f"osc-fidelity:      {why}\n{output[-3000:]}", flush=True)
        if not outcome.ok:
            break
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway_kit.localcloud.osc_fidelity")
    parser.add_argument("--clouds-yaml", required=True, help="the local cloud's clouds.yaml")
    parser.add_argument("--cloud", default="local", help="the cloud entry to use (default: local)")
    args = parser.parse_args(argv)
    os.environ["OS_CLIENT_CONFIG_FILE"] = args.clouds_yaml
    outcomes = run_flows(args.cloud)
    passed = sum(o.ok for o in outcomes)
    print(f"osc-fidelity: {passed} of {len(FLOWS)} openstackclient steps passed", flush=True)
    return 0 if passed == len(FLOWS) else 1


if __name__ == "__main__":
    sys.exit(main())
