"""``gateway-kit devidp serve``: run the development OpenID provider (for development only)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

DEFAULT_USERS = Path(__file__).with_name("dev-users.toml")


@click.group(name="devidp")
def devidp() -> None:
    """The development OpenID provider (never for real accounts)."""


@devidp.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5556, show_default=True, type=int, help="Port (0: any free port).")
@click.option(
    "--users",
    "users_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_USERS,
    show_default=True,
    help="TOML file of users and clients.",
)
@click.option("--force", is_flag=True, help="Listen on a non-loopback address anyway.")
@click.option("--ready-file", type=click.Path(path_type=Path), default=None, hidden=True)
def serve(host: str, port: int, users_file: Path, force: bool, ready_file: Path | None) -> None:
    """Serve discovery, JWKS, authorize, token, userinfo and end_session on HOST:PORT."""
    from .app import BANNER, DevIdPConfigError, serve_devidp

    try:
        srv, issuer = serve_devidp(users_file, host, port, force=force)
    except DevIdPConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.secho(f"*** {BANNER} ***", fg="red", bold=True, err=True)
    click.echo(f"issuer {issuer}  (discovery: {issuer}/.well-known/openid-configuration)", err=True)
    if ready_file is not None:
        ready_file.write_text(issuer)
    with contextlib.suppress(KeyboardInterrupt):
        srv.serve_forever()
