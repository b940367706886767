"""``gateway-kit certs``: issue, renew, list, show, revoke and export certificates."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ..cli import kit_errors
from . import service
from .settings import DIRECTORY_PRESETS


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if value is None:
        return "-"
    return str(value)


@click.group("certs")
def certs() -> None:
    """TLS certificates for the gateway's names (ACME DNS-01 through Designate).

    The CA is CERTS_DIRECTORY_URL (presets: letsencrypt, letsencrypt-staging, or any ACME
    directory URL); --staging uses CERTS_STAGING_DIRECTORY_URL instead.
    """


@certs.command("issue")
@click.argument("names", nargs=-1, required=True)
@click.option("--staging", is_flag=True, help="Use the staging CA (CERTS_STAGING_DIRECTORY_URL).")
@click.option(
    "--directory", default=None, help="ACME directory URL or preset (" + ", ".join(DIRECTORY_PRESETS) + ")."
)
@click.option(
    "--alias", is_flag=True, help="If no name fits the 64-character common name, add a short alias."
)
@click.option(
    "--load-balancer", default="", help="Deliver to this load balancer (TERMINATED_HTTPS listener on 443)."
)
@click.option(
    "--barbican", is_flag=True, help="Store the certificate as a Barbican secret for the VMs to fetch."
)
@click.option(
    "--agree-tos", is_flag=True, help="Agree to the CA's terms of service (same as CERTS_AGREE_TOS)."
)
@with_appcontext
@kit_errors
def issue_cmd(
    names: tuple[str, ...],
    staging: bool,
    directory: str | None,
    alias: bool,
    load_balancer: str,
    barbican: bool,
    agree_tos: bool,
) -> None:
    """Issue a certificate for NAMES (wildcards such as '*.example.org' allowed)."""
    app = _app()
    if agree_tos:
        app.config["CERTS_AGREE_TOS"] = True
    out = service.issue(
        app,
        list(names),
        directory=directory,
        staging=staging,
        alias=alias,
        load_balancer=load_balancer,
        barbican=barbican,
    )
    for warning in out.warnings:
        click.secho(f"Warning: {warning}", err=True, fg="yellow")
    click.echo(f"Issued {out.name} for {', '.join(out.names)}; expires {_fmt(out.not_after)}.")


@certs.command("renew")
@click.argument("name", required=False)
@click.option("--all", "all_due", is_flag=True, help="Renew every certificate due (what the worker does).")
@with_appcontext
@kit_errors
def renew_cmd(name: str | None, all_due: bool) -> None:
    """Renew certificate NAME now (or --all that are due)."""
    app = _app()
    if all_due:
        from . import renewal

        renewal.run(app)
        return
    if not name:
        raise click.UsageError("Give a certificate NAME or --all.")
    out = service.renew(app, name)
    for warning in out.warnings:
        click.secho(f"Warning: {warning}", err=True, fg="yellow")
    click.echo(f"Renewed {out.name}; expires {_fmt(out.not_after)}.")


@certs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
@kit_errors
def list_cmd(as_json: bool) -> None:
    """List certificates with their days left."""
    rows = service.list_certificates(_app())
    if as_json:
        click.echo(json.dumps(rows, default=_fmt, indent=2))
        return
    if not rows:
        click.echo("No certificates.")
        return
    for r in rows:
        days = "-" if r["days_left"] is None else f"{r['days_left']:.0f}d"
        flag = f"  WARNING: under {r['warning']} days" if r["warning"] else ""
        click.echo(f"{r['name']:<40} {r['status']:<8} {days:>6}  {_fmt(r['not_after'])}{flag}")


@certs.command("show")
@click.argument("name")
@click.option("--pem", is_flag=True, help="Print the certificate PEM too.")
@with_appcontext
@kit_errors
def show_cmd(name: str, pem: bool) -> None:
    """Show one certificate and its last attempts."""
    info = service.show(_app(), name)
    for key in (
        "name",
        "names",
        "status",
        "staging",
        "directory_url",
        "serial",
        "not_after",
        "days_left",
        "last_result",
        "next_attempt_at",
        "failures",
        "delivery",
    ):
        value = info[key]
        if key == "names":
            value = ", ".join(value)
        elif key == "days_left" and value is not None:
            value = f"{value:.1f}"
        elif key == "delivery":
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        click.echo(f"{key + ':':<16} {_fmt(value)}")
    click.echo("attempts:")
    for a in info["attempts"]:
        click.echo(
            f"  {_fmt(a['started_at'])}  {a['trigger']:<6} {'ok ' if a['ok'] else 'FAIL'} {a['message']}"
        )
    if pem:
        click.echo(info["certificate_pem"])


@certs.command("revoke")
@click.argument("name")
@click.option(
    "--reason",
    type=click.IntRange(0, 10),
    default=0,
    show_default=True,
    help="RFC 5280 reason code (1: key compromise, 4: superseded, 5: cessation).",
)
@click.confirmation_option(prompt="Revoke this certificate at the certificate authority?")
@with_appcontext
@kit_errors
def revoke_cmd(name: str, reason: int) -> None:
    """Revoke certificate NAME at the CA."""
    service.revoke(_app(), name, reason)
    click.echo(f"Revoked {name}.")


@certs.command("export")
@click.argument("name")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
@kit_errors
def export_cmd(name: str, directory: Path) -> None:
    """Write fullchain.pem and privkey.pem (mode 0600) of NAME into DIRECTORY."""
    app = _app()
    info = service.show(app, name)
    key = service.private_key_pem(app, name)
    directory.mkdir(parents=True, exist_ok=True)
    chain = service.chain_pem(app, name)
    (directory / "fullchain.pem").write_text(info["certificate_pem"] + chain)
    keyfile = directory / "privkey.pem"
    keyfile.touch(mode=0o600)
    keyfile.chmod(0o600)
    keyfile.write_bytes(key)
    click.echo(f"Wrote {directory / 'fullchain.pem'} and {keyfile}.")
