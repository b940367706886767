"""``gateway-kit slurm ...``: SLURM's ResumeProgram / SuspendProgram for elastic cloud nodes.

In slurm.conf (see deploy/slurm/README.md)::

    ResumeProgram=/opt/gateway/bin/slurm-resume      # runs: gateway-kit slurm resume "$1"
    SuspendProgram=/opt/gateway/bin/slurm-suspend    # runs: gateway-kit slurm suspend "$1"
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..cli import kit_errors
from .elastic import ElasticNodes
from .executor import build_transport


def _elastic(log_file: str | None) -> ElasticNodes:
    from .. import cloud

    settings = current_app.config
    if log_file:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("gateway_kit.slurm").addHandler(handler)
        logging.getLogger("gateway_kit.slurm").setLevel(logging.INFO)
    conn = cloud.connect(settings, "slurm").conn
    transport = build_transport("elastic", {}, settings)
    return ElasticNodes(conn, transport, settings, report=click.echo)


def _finish(actions: list[Any]) -> None:
    failed = [a for a in actions if not a.ok]
    if failed:
        click.echo(
            f"{len(failed)} node(s) failed: " + "; ".join(f"{a.node}: {a.message}" for a in failed), err=True
        )
        sys.exit(1)


def _node_command(func: Callable[..., None]) -> Callable[..., None]:
    """What SLURM's ResumeProgram and SuspendProgram are called with: a NODELIST, and our
    ``--log-file``; run in the app's context, kit errors as click messages."""
    for decorate in (
        kit_errors,
        with_appcontext,
        click.option(
            "--log-file",
            type=click.Path(dir_okay=False),
            default=None,
            help="Also append what was done to this file.",
        ),
        click.argument("nodelist"),
    ):
        func = decorate(func)
    return func


@click.group()
def slurm() -> None:
    """SLURM: elastic cloud nodes (ResumeProgram / SuspendProgram)."""


@slurm.command()
@_node_command
def resume(nodelist: str, log_file: str | None) -> None:
    """Create one cloud server per node of NODELIST (e.g. 'cloud[1-3]') and point SLURM at it."""
    _finish(_elastic(log_file).resume(nodelist))


@slurm.command()
@_node_command
def suspend(nodelist: str, log_file: str | None) -> None:
    """Delete the cloud server of every node of NODELIST."""
    _finish(_elastic(log_file).suspend(nodelist))
