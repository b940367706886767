"""Every ``gateway-kit`` command (lazy feature commands included) says what it does in ``--help``."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from gateway_kit.cli import main


def walk(
    group: click.Group, ctx: click.Context, path: str = "gateway-kit"
) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{path} {name} is listed but cannot be loaded"
        if command.hidden:
            continue
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            sub = click.Context(command, info_name=name, parent=ctx)
            yield from walk(command, sub, f"{path} {name}")


def test_every_command_has_help() -> None:
    root = click.Context(main, info_name="gateway-kit")
    commands = dict(walk(main, root))
    assert {
        "gateway-kit deploy destroy",
        "gateway-kit volume snapshots delete",
        "gateway-kit vm list",
    } <= set(commands)
    missing = sorted(path for path, cmd in commands.items() if not (cmd.help or cmd.short_help or "").strip())
    assert missing == [], f"commands without help text: {missing}"
    # Options and arguments are explained too (an option without help is a guess for the reader).
    bare = sorted(
        f"{path} {param.opts[0]}"
        for path, cmd in commands.items()
        for param in cmd.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    )
    assert bare == [], f"options without help text: {bare}"


def test_top_level_help_lists_the_kit_not_flask() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    for flask_only in ("routes ", "shell ", " run ", "-e, --env-file", "-A, --app"):
        assert flask_only not in out, flask_only
    assert "volume " in out and "deploy " in out
