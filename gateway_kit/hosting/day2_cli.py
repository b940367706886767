"""``gateway-kit vm | volume | dns | lb``: day-2 operations on the cloud.

These commands need the cloud's name and the waits' settings, not the app: they read the settings
(:func:`gateway_kit.cli.settings_only`) and import nothing of the web app, so that each costs
little more than its cloud calls (``bench/cli_day2.py``). Errors are one message (exit status 1;
2 for configuration errors).
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..cli import kit_errors, settings_only
from . import day2
from .cloud import Cloud, Timeouts


def _cloud() -> Cloud:
    config = settings_only()
    return Cloud(config["CLOUD_NAME"], Timeouts.from_config(config))


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# -- vm --------------------------------------------------------------------------------------


@click.group(name="vm")
def vm() -> None:
    """Servers: list, show, and day-2 actions."""


@vm.command("list")
@click.option("--deployment", default=None, help="Only this deployment's servers.")
@kit_errors
def vm_list(deployment: str | None) -> None:
    """Servers with status, flavor, addresses and deployment."""
    for v in day2.list_vms(_cloud(), deployment):
        click.echo(
            f"{v['name']}\t{v['status']}\t{v['flavor']}\t{','.join(v['addresses'])}\t"
            f"{v['deployment'] or '-'}" + ("\tlocked" if v["locked"] else "")
        )


@vm.command("show")
@click.argument("server")
@kit_errors
def vm_show(server: str) -> None:
    """Everything about SERVER (name or id) as JSON."""
    _echo_json(day2.show_vm(_cloud(), server))


def _vm_action(action: str) -> None:
    @vm.command(action, help=f"{action.capitalize()} SERVER and wait for the result.")
    @click.argument("server")
    @kit_errors
    def command(server: str) -> None:
        status = day2.vm_action(_cloud(), server, action)
        click.echo(f"{server}: {action} done ({status}).")


for _action in day2.VM_ACTIONS:
    _vm_action(_action)


@vm.command("resize")
@click.argument("server")
@click.argument("flavor")
@kit_errors
def vm_resize(server: str, flavor: str) -> None:
    """Resize SERVER to FLAVOR (resize, wait for VERIFY_RESIZE, confirm)."""
    day2.resize_vm(_cloud(), server, flavor)
    click.echo(f"{server} resized to {flavor}.")


@vm.command("snapshot")
@click.argument("server")
@click.argument("name")
@kit_errors
def vm_snapshot(server: str, name: str) -> None:
    """Snapshot SERVER into image NAME."""
    click.echo(day2.snapshot_vm(_cloud(), server, name))


@vm.command("console-log")
@click.argument("server")
@click.option("--lines", type=int, default=None, help="Only the last LINES lines.")
@kit_errors
def vm_console_log(server: str, lines: int | None) -> None:
    """SERVER's console output (boot messages, cloud-init), the last LINES lines with --lines."""
    click.echo(day2.console_log(_cloud(), server, lines))


# -- volume ----------------------------------------------------------------------------------


@click.group(name="volume")
def volume() -> None:
    """Volumes: list, extend, snapshot, and their snapshots."""


@volume.command("list")
@click.option("--deployment", default=None, help="Only this deployment's volumes.")
@kit_errors
def volume_list(deployment: str | None) -> None:
    """Volumes with size, status and deployment."""
    for v in day2.list_volumes(_cloud(), deployment):
        click.echo(f"{v['name']}\t{v['size']} GiB\t{v['status']}\t{v['deployment'] or '-'}")


@volume.command("extend")
@click.argument("name")
@click.argument("size", type=int)
@kit_errors
def volume_extend(name: str, size: int) -> None:
    """Grow volume NAME to SIZE GiB."""
    click.echo(f"{name}: {day2.extend_volume(_cloud(), name, size)} GiB.")


@volume.command("snapshot")
@click.argument("name")
@click.argument("snapshot")
@kit_errors
def volume_snapshot(name: str, snapshot: str) -> None:
    """Snapshot volume NAME into snapshot SNAPSHOT (works while attached); prints its id."""
    click.echo(day2.snapshot_volume(_cloud(), name, snapshot))


@volume.group("snapshots", invoke_without_command=True)
@click.option("--volume", "volume_name", default=None, help="Only this volume's snapshots.")
@click.option("--deployment", default=None, help="Only the snapshots of this deployment's volumes.")
@click.pass_context
@kit_errors
def volume_snapshots(ctx: click.Context, volume_name: str | None, deployment: str | None) -> None:
    """List volume snapshots (name, volume, size, status, created); `snapshots delete NAME` deletes one."""
    if ctx.invoked_subcommand is not None:
        return
    snaps = day2.list_snapshots(_cloud(), volume_name, deployment)
    for snap in snaps:
        click.echo(
            f"{snap['name'] or '-'}\t{snap['volume']}\t{snap['size']} GiB\t{snap['status']}\t"
            f"{snap['created_at']}\t{snap['id']}"
        )
    if not snaps:
        click.echo("No volume snapshots.")


@volume_snapshots.command("delete")
@click.argument("snapshots", nargs=-1, required=True)
@kit_errors
def volume_snapshot_delete(snapshots: tuple[str, ...]) -> None:
    """Delete each snapshot (name or id) in SNAPSHOTS and wait until it is gone."""
    cloud = _cloud()
    for snap in snapshots:
        click.echo(f"snapshot {day2.delete_snapshot(cloud, snap)} deleted.")


# -- dns -------------------------------------------------------------------------------------


@click.group(name="dns")
def dns() -> None:
    """DNS zones and records (Designate)."""


@dns.command("zones")
@kit_errors
def dns_zones() -> None:
    """This project's DNS zones with status and TTL."""
    for z in day2.list_zones(_cloud()):
        click.echo(f"{z['name']}\t{z['status']}\tttl={z['ttl']}")


@dns.command("records")
@click.argument("zone")
@kit_errors
def dns_records(zone: str) -> None:
    """The record sets of ZONE (name, type, records, TTL, status)."""
    for r in day2.list_records(_cloud(), zone):
        click.echo(f"{r['name']}\t{r['type']}\t{' '.join(r['records'])}\tttl={r['ttl']}\t{r['status']}")


@dns.command("add")
@click.argument("zone")
@click.argument("name")
@click.argument("rtype")
@click.argument("records", nargs=-1, required=True)
@click.option("--ttl", type=int, default=None, help="Time to live in seconds (default: the zone's).")
@kit_errors
def dns_add(zone: str, name: str, rtype: str, records: tuple[str, ...], ttl: int | None) -> None:
    """Create or replace record NAME of type RTYPE (A, AAAA, CNAME, TXT, CAA...) in ZONE."""
    day2.add_record(_cloud(), zone, name, rtype, list(records), ttl)
    click.echo(f"{name} {rtype.upper()} {' '.join(records)}")


@dns.command("rm")
@click.argument("zone")
@click.argument("name")
@click.argument("rtype")
@kit_errors
def dns_rm(zone: str, name: str, rtype: str) -> None:
    """Delete record set NAME of type RTYPE from ZONE."""
    n = day2.remove_record(_cloud(), zone, name, rtype)
    click.echo(f"{n} record set(s) removed.")


# -- lb --------------------------------------------------------------------------------------


@click.group(name="lb")
def lb() -> None:
    """Load balancers (Octavia)."""


@lb.command("status")
@click.argument("name", required=False)
@kit_errors
def lb_status(name: str | None) -> None:
    """Listeners, pools and members with their operating status."""
    for item in day2.lb_status(_cloud(), name):
        click.echo(
            f"{item['name']} {item['vip_address']} {item['provisioning_status']}/{item['operating_status']}"
        )
        for li in item["listeners"]:
            click.echo(f"  listener {li['name']} {li['protocol']}:{li['port']} {li['operating_status']}")
        for p in item["pools"]:
            click.echo(f"  pool {p['name']} {p['algorithm']} {p['operating_status']}")
            for m in p["members"]:
                click.echo(f"    member {m['name']} {m['address']}:{m['port']} {m['operating_status']}")
