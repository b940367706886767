"""The demo's local mail outbox: an SMTP server on loopback that keeps every message it gets as
a file, and ``/demo/mail``, where the demo's users read them.

``gateway-kit demo`` starts it (:func:`start_outbox`, from the jobs demo part) when no SMTP server
is configured and aiosmtpd is installed (the kit's test mail server, ``pip install aiosmtpd``),
and points ``JOBS_SMTP_HOST``/``JOBS_SMTP_PORT`` at it and ``JOBS_DEMO_MAILBOX`` at its folder.
The page shows a user the messages addressed to their e-mail address (an administrator: all).
Nothing leaves the machine.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from flask.typing import ResponseReturnValue

from ..identity.access import current_user, login_required

bp = Blueprint("mailbox", __name__)
#: Messages shown (the newest).
SHOWN = 100
_counter = itertools.count()


class _Keeper:
    """aiosmtpd handler: each message into ``folder`` as ``<time>-<n>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time():.6f}-{next(_counter)}.eml"
        part = self.folder / (name + ".part")
        part.write_bytes(envelope.original_content or envelope.content)
        part.replace(self.folder / name)  # readers never see half a message
        return "250 OK"


def start_outbox(folder: Path, host: str, port: int) -> Any:
    """Start the SMTP server (a thread); returns its controller (``.stop()``), or None when
    aiosmtpd is not installed."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Keeper(folder), hostname=host, port=port)
    controller.start()
    return controller


@dataclass
class Mail:
    sender: str
    to: str
    subject: str
    date: str
    body: str


def read_mail(folder: Path, address: str | None) -> list[Mail]:
    """The newest messages first; only those to ``address`` unless it is None (all)."""
    out: list[Mail] = []
    for path in sorted(folder.glob("*.eml"), reverse=True):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        to = str(msg.get("To", ""))
        if address is not None and address.lower() not in to.lower():
            continue
        part = msg.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        out.append(
            Mail(str(msg.get("From", "")), to, str(msg.get("Subject", "")), str(msg.get("Date", "")), body)
        )
        if len(out) >= SHOWN:
            break
    return out


@bp.get("/demo/mail")
@login_required
def page() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    folder = Path(current_app.config["JOBS_DEMO_MAILBOX"])
    mine = None if user.is_admin else (user.email or "\0")
    return render_template(
        "jobs/mailbox.html", mails=read_mail(folder, mine) if folder.is_dir() else [], everyone=mine is None
    )


def init_app(app: Flask) -> None:
    if app.config["JOBS_DEMO_MAILBOX"]:
        app.register_blueprint(bp)
