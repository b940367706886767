"""Quickstart Gateway: what this gateway adds to gateway-kit.

gateway-kit calls ``init_app(app)`` because ``gateway.toml`` lists this module in ``plugins``.
Declare applications, pages and navigation entries here.

This is what ``gateway-kit new quickstart`` writes, plus one application (``hello``), declared
with :func:`gateway_kit.jobs.apps.register_application`. The same definition could live in a TOML
file listed in the ``jobs_application_files`` setting (see ``applications/hello.toml``).
"""

import sys
from pathlib import Path

from flask import Blueprint, Flask, render_template

from gateway_kit.jobs.apps import register_application
from gateway_kit.web import add_nav

bp = Blueprint("quickstart", __name__, template_folder="templates")

#: The program the ``hello`` application runs: a plain script shipped inside this package.
HELLO_SCRIPT = Path(__file__).with_name("hello.py")


@bp.route("/about")
def about() -> str:
    return render_template("about.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "quickstart.about", "About", role=None, order=90)
    register_application(
        app,
        {
            "id": "hello",
            "title": "Hello",
            "version": "1.0",
            "description": "Greets someone a few times and writes the greeting to hello.txt.",
            "inputs": [
                {
                    "name": "who",
                    "type": "string",
                    "label": "Whom to greet",
                    "min_length": 1,
                    "max_length": 100,
                    "default": "world",
                },
                {
                    "name": "times",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10,
                    "default": 3,
                    "help": "How many lines to print (1 to 10).",
                },
                {"name": "shout", "type": "boolean", "required": False, "help": "Greet in capital letters."},
            ],
            # What the job may ask for; a job asking for more is refused before it is queued.
            "resources": {"cpus": 1, "memory_mb": 128, "walltime": 60},
            # One argv element per item; user input is never seen by a shell.
            "command": [
                sys.executable,
                str(HELLO_SCRIPT),
                "{who}",
                "{times}",
                {"if": "shout", "args": ["--shout"]},
            ],
            "outputs": ["hello.txt"],
        },
    )
