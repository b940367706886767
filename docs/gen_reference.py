"""Generate the reference pages from the code: settings, the CLI and the REST API.

The MkDocs hook (``hooks.py``) calls :func:`pages` at build time, so the published reference is
always the code's. Run this file to write the pages into a folder and read them::

    python docs/gen_reference.py /tmp/reference
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def settings_page() -> str:
    from gateway_kit.settings import all_settings

    lines = [
        "# Settings reference",
        "",
        "Generated from the declared settings (`gateway_kit.settings.all_settings()`). Set them in "
        "the TOML file (`gateway.toml`, keys in lower case), as `GATEWAY_KIT_<NAME>` environment "
        "variables, or in the mapping passed to `create_app()`. `gateway-kit config show` prints "
        "each one's value and where it came from.",
        "",
        "| Setting | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for name, s in sorted(all_settings().items()):
        if s.secret:
            default = "*(secret)*"
        elif callable(s.default):
            default = "*(computed)*"
        else:
            default = f"`{s.default!r}`"
        extra = ""
        if s.choices:
            extra = " One of: " + ", ".join(f"`{c}`" for c in s.choices) + "."
        lines.append(f"| `{name}` | {s.type.__name__} | {_cell(default)} | {_cell(s.help)}{extra} |")
    return "\n".join(lines) + "\n"


def _commands(group: click.Group, ctx: click.Context) -> list[str]:
    return group.list_commands(ctx)


def cli_page() -> str:
    from gateway_kit.cli import main

    out = [
        "# Command-line reference",
        "",
        "Generated from the click commands of `gateway-kit` (`gateway_kit.cli.main`).",
        "",
    ]

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(cmd, info_name=path[-1], parent=parent)
        if cmd.hidden:
            return
        level = "#" * min(len(path) + 1, 4)
        out.append(f"{level} `{' '.join(path)}`")
        out.append("")
        out.append("```text")
        out.append(cmd.get_help(ctx).rstrip())
        out.append("```")
        out.append("")
        if isinstance(cmd, click.Group):
            for name in _commands(cmd, ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, [*path, name], ctx)

    # Flask's group tries to import an app to list its own commands; that noise is not ours.
    with contextlib.redirect_stderr(io.StringIO()):
        walk(main, ["gateway-kit"], None)
    return "\n".join(out) + "\n"


def openapi_document() -> dict[str, Any]:
    """The document the app serves at ``/api/openapi.json``, fetched with the test client."""
    from gateway_kit import create_app
    from gateway_kit.db import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"ENV": "testing", "PLUGINS": ["gateway_kit.jobs.examples"]},
            instance_path=str(Path(tmp) / "instance"),
        )
        upgrade(app)
        resp = app.test_client().get("/api/openapi.json")
        if resp.status_code != 200:
            raise RuntimeError(f"/api/openapi.json answered {resp.status_code}")
        doc: dict[str, Any] = resp.get_json()
        from gateway_kit.db import db

        db.engine(app).dispose()  # release the SQLite file before the folder goes
    return doc


def api_page(doc: dict[str, Any] | None = None) -> str:
    doc = doc or openapi_document()
    info = doc.get("info", {})
    out = [
        "# REST API reference",
        "",
        f"Generated from the OpenAPI {doc.get('openapi', '')} document the gateway serves at "
        "`/api/openapi.json` (this build: the kit with its example applications; your gateway's "
        "document also lists your applications' input schemas). A running gateway shows the "
        "same document at `/api/docs`.",
        "",
        f"**{_cell(info.get('title', ''))}** {info.get('version', '')}",
        "",
        "Authenticate with a personal access token, `Authorization: Bearer <token>`, holding the "
        "scopes listed for each operation (or a browser session plus its CSRF header). Errors "
        "are `application/problem+json`.",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in sorted(doc.get("paths", {}).items()):
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((path, method, op))
    tags = {t["name"]: t.get("description", "") for t in doc.get("tags", [])}
    for tag in sorted(by_tag):
        out += [f"## {tag}", ""]
        if tags.get(tag):
            out += [tags[tag], ""]
        out += ["| Method | Path | Summary | Scopes |", "|---|---|---|---|"]
        for path, method, op in by_tag[tag]:
            scopes = sorted({s for req in op.get("security", []) for v in req.values() for s in v})
            out.append(
                f"| {method.upper()} | `{path}` | {_cell(op.get('summary', ''))} | "
                f"{', '.join(f'`{s}`' for s in scopes)} |"
            )
        out.append("")
        for path, method, op in by_tag[tag]:
            if op.get("description"):
                out += [f"**{method.upper()} `{path}`**: {_cell(op['description'])}", ""]
    return "\n".join(out) + "\n"


def include(rel: str, title: str | None = None) -> str:
    """A file of the repository (ARCHITECTURE.md, auth/README.md) as a page."""
    text = (ROOT / rel).read_text(encoding="utf-8")
    # Relative links point into the repository, not the site: keep their text, name the path.
    text = re.sub(r"(?<!!)\[([^\]]+)\]\((?!https?:|mailto:|#)([^)\s]+)\)", r"\1 (`\2`)", text)
    note = f"\n\n*This page is `{rel}` from the repository, included when the docs are built.*\n"
    return (f"# {title}\n\n" if title else "") + text.rstrip() + note


def pages() -> dict[str, str]:
    """Every generated page by its path inside the docs source folder."""
    return {
        "reference/settings.md": settings_page(),
        "reference/cli.md": cli_page(),
        "reference/api.md": api_page(),
        "architecture.md": include("ARCHITECTURE.md"),
        "howto/identity-providers.md": include("auth/README.md"),
    }


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else ROOT / "docs" / "build-reference"
    for rel, text in pages().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
