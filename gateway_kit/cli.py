"""The ``gateway-kit`` command line (click, integrated with Flask's CLI).

Commands that need the app build it through :func:`gateway_kit.create_app`; a bad setting ends the
command with exit status 2 and one message naming the key and what would be valid. Errors from
the kit (``GatewayError``) are shown as ``click.ClickException`` messages, never as tracebacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .errors import ConfigError, GatewayError

if TYPE_CHECKING:
    from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])


def _config_failure(message: str) -> click.ClickException:
    """A configuration error: exit status 2, one line, no usage text."""
    from flask.cli import NoAppException

    class ConfigFailure(NoAppException):
        exit_code = 2

        def show(self, file: Any = None) -> None:
            click.secho(f"Error: {self.format_message()}", err=True, fg="red")

    return ConfigFailure(message)


class KitError(click.ClickException):
    def __init__(self, exc: GatewayError) -> None:
        super().__init__(exc.user_message)
        if isinstance(exc, ConfigError):
            self.exit_code = 2  # type: ignore[misc]


def _create_app() -> Flask:
    from . import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise _config_failure(exc.user_message) from exc


def settings_only() -> Mapping[str, Any]:
    """The settings, for a command that needs no app (no database, no blueprints): building the
    app would be most of its start-up. A caller that hands the CLI its own app
    (``ScriptInfo(create_app=...)`` as ``obj``, as tests do) gets that app's configuration.

    :raises ConfigError: a bad setting (``kit_errors`` makes it exit status 2).
    """
    ctx = click.get_current_context(silent=True)
    info = ctx.find_root().obj if ctx is not None else None
    if getattr(info, "create_app", _create_app) is not _create_app:
        config: Mapping[str, Any] = info.load_app().config  # type: ignore[union-attr]
        return config
    from .settings import alias_values, default_instance_path, load_settings

    loaded = load_settings(default_instance_path())
    return {**loaded.values, **alias_values(loaded.values)}


def kit_errors(fn: F) -> F:
    """Translate GatewayError into a ClickException (a clean message and exit code)."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GatewayError as exc:
            raise KitError(exc) from exc

    return wrapped  # type: ignore[return-value]


def with_appcontext(fn: F) -> F:
    """Flask's ``with_appcontext``, imported when the command runs (so that listing commands does
    not import Flask)."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from flask.cli import with_appcontext as flask_with_appcontext

        return flask_with_appcontext(fn)(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


class LazyGroup(click.Group):
    """A group whose feature commands are imported only when one of them runs.

    The commands come from the features' declarations (:class:`gateway_kit.features.Command`):
    ``--help`` lists them with their declared help line and imports none of them.
    """

    def _lazy(self, ctx: click.Context) -> dict[str, Any]:
        from .features import installed

        prefix = "" if ctx.parent is None else f"{ctx.info_name} "
        found: dict[str, Any] = {}
        for feature in installed():
            for command in feature.commands:
                if command.path.startswith(prefix) and " " not in command.path[len(prefix) :]:
                    found[command.path[len(prefix) :]] = (feature, command)
        if ctx.parent is None:  # Flask's own commands: available, not listed
            from .features import Command

            for name in ("routes", "shell"):
                found[name] = (None, Command(name, f"flask.cli:{name}_command", "", hidden=True))
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        lazy = self._lazy(ctx).get(cmd_name)
        if lazy is None:
            return None
        feature, command = lazy
        if feature is None:
            import importlib

            modname, _, attr = command.target.partition(":")
            loaded: click.Command = getattr(importlib.import_module(modname), attr)
        else:
            loaded = feature.attribute(command.target)
        return loaded

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(map(len, self.list_commands(ctx)), default=0)
        rows = [
            (name, cmd.get_short_help_str(limit)) for name, cmd in self.commands.items() if not cmd.hidden
        ]
        rows += [(name, c.help) for name, (_, c) in self._lazy(ctx).items() if not c.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is None and ctx.obj is None:
            # What Flask's commands (and with_appcontext) use to build the app.
            from flask.cli import ScriptInfo

            ctx.obj = ScriptInfo(create_app=_create_app, set_debug_flag=False, load_dotenv_defaults=False)
        return super().invoke(ctx)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="gateway-kit")
def main() -> None:
    """gateway-kit: build and host science gateways on OpenStack research clouds."""
    use_project_settings()


def use_project_settings() -> None:
    """Every command of a gateway project reads its ``./gateway.toml`` (as ``demo`` does), unless
    ``GATEWAY_KIT_CONFIG`` names another file."""
    gateway_toml = Path.cwd() / "gateway.toml"
    if gateway_toml.is_file():
        import os

        os.environ.setdefault("GATEWAY_KIT_CONFIG", str(gateway_toml))


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--debug/--no-debug", default=False, help="Werkzeug's interactive debugger (never in production)."
)
@with_appcontext
def serve(host: str, port: int, debug: bool) -> None:
    """Run the development web server (use gunicorn in production; see the Procfile)."""
    from flask import current_app
    from werkzeug.serving import run_simple

    # Not app.run(): under the Flask CLI (FLASK_RUN_FROM_CLI) it returns without serving.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if debug and (app.config["ENV"] == "production" or not _is_loopback(host)):
        # The debugger runs Python typed into an error page: only for the developer's own machine.
        raise click.UsageError(
            "--debug runs Werkzeug's interactive debugger (it executes code sent from the browser): "
            f"only on a loopback address (not {host!r}) and never with ENV=production."
        )
    run_simple(host, port, app, use_reloader=False, use_debugger=debug, threaded=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Web port (0: any free).")
@click.option(
    "--instance",
    "instance",
    type=click.Path(path_type=Path),
    default=None,
    help="Instance folder (default: ./instance).",
)
@click.option("--only", multiple=True, help="Start only these parts (repeatable).")
@click.option("--ready-file", type=click.Path(path_type=Path), default=None, hidden=True)
@kit_errors
def demo(host: str, port: int, instance: Path | None, only: tuple[str, ...], ready_file: Path | None) -> None:
    """Start the whole gateway on the embedded defaults and print the URL to open."""
    from .demo import run_demo
    from .settings import default_instance_path

    inst = (instance or default_instance_path()).resolve()
    config: dict[str, Any] = {}
    run_demo(host, port, inst, config, list(only) or None, ready_file)


@main.group(name="db", cls=LazyGroup)
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="Alembic revision to upgrade to.")
@with_appcontext
@kit_errors
def db_upgrade(revision: str) -> None:
    """Apply the database migrations."""
    from flask import current_app

    from .db import upgrade

    upgrade(current_app._get_current_object(), revision)  # type: ignore[attr-defined]
    click.echo("Database is up to date.")


@main.group(name="config")
def config_group() -> None:
    """Inspect settings."""


@config_group.command("show")
@kit_errors
def config_show() -> None:
    """Print every setting with its value, where the value came from, and its help."""
    from rich.console import Console
    from rich.table import Table

    from .settings import all_settings, default_instance_path, load_settings, mask

    loaded = load_settings(default_instance_path())
    table = Table("setting", "value", "source", "help", show_lines=False)
    for name, s in all_settings().items():
        table.add_row(name, mask(s, loaded.values[name]), loaded.sources[name], s.help)
    Console(width=200).print(table)


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Gateway name (default: from the folder name).")
@kit_errors
def new(path: Path, name: str | None) -> None:
    """Create a new gateway project in PATH (which must not exist or be empty)."""
    from .scaffold import create_project

    created = create_project(path, name)
    click.echo(f"Created {created.name} in {path}.")
    click.echo(
        f"Next: cd {path} && python -m venv .venv && .venv/bin/pip install --find-links wheels -e '.[test]' "
        "&& .venv/bin/gateway-kit demo"
    )


@main.command()
@click.option("--once", is_flag=True, help="Run every task once and exit.")
@with_appcontext
def worker(once: bool) -> None:
    """Run the background worker (job queue, renewals, backups)."""
    import signal
    import threading

    from flask import current_app

    from .worker import run_worker, tasks

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    names = ", ".join(t.name for t in tasks(app)) or "none"
    click.echo(f"worker started; tasks: {names}", err=True)
    run_worker(app, stop, once=once)
