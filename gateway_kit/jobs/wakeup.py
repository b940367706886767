"""Waking the worker when there is something to do, instead of waiting for its next poll.

A worker sleeps ``JOBS_POLL_INTERVAL`` between passes; three events cut that sleep short:

- **a submission**: on PostgreSQL the submitting transaction sends ``NOTIFY gateway_kit_jobs``
  (delivered at COMMIT, to workers on any host, which ``LISTEN`` on a connection of their own);
  on SQLite (one host by nature) the web process sends a datagram to each worker's socket;
- **a local job starting or ending**: its supervisor sends the same datagram
  (:func:`gateway_kit.jobs.executors.runner.poke`);
- nothing else: the poll interval still bounds how late a worker notices anything (SLURM and
  burst jobs, a lost wake-up).

Each worker binds a Unix datagram socket in :func:`wake_dir` (a folder only the gateway's user
can enter); a wake-up carries no data, so a stray one costs one early pass and nothing more.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from ..db import db
from .executors.runner import poke

log = logging.getLogger("gateway_kit.jobs.wakeup")

#: The PostgreSQL channel a submission notifies.
CHANNEL = "gateway_kit_jobs"
_NOTIFY = text(f"NOTIFY {CHANNEL}")
#: Longest socket path that fits in ``sockaddr_un`` with room for the socket's own name.
_MAX_DIR = 80


def wake_dir(settings: Mapping[str, Any]) -> Path:
    """The folder of the workers' wake-up sockets for this ``JOBS_DIR``.

    ``JOBS_DIR/.wake`` when that path is short enough for a Unix socket address (108 bytes),
    else a per-user folder in the temporary directory named by a hash of ``JOBS_DIR``.
    """
    root = Path(settings["JOBS_DIR"]).absolute()
    preferred = root / ".wake"
    if len(os.fsencode(preferred)) <= _MAX_DIR:
        return preferred
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gateway-kit-wake-{os.getuid()}-{digest}"


def announce(session: Session) -> None:
    """Inside a submitting transaction: tell PostgreSQL listeners at COMMIT (no-op elsewhere)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY)


def wake_local(app: Flask) -> None:
    """After a submission committed on SQLite: wake this host's workers."""
    if db.engine(app).dialect.name != "postgresql":
        poke(_wake_dir_of(str(app.config["JOBS_DIR"])))


@functools.lru_cache(maxsize=16)
def _wake_dir_of(jobs_dir: str) -> Path:
    """:func:`wake_dir` by ``JOBS_DIR`` (worked out once, not at every submission)."""
    return wake_dir({"JOBS_DIR": jobs_dir})


class Waker:
    """A worker's end: file descriptors to wait on, readable when a wake-up arrived."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.dir = wake_dir(app.config)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        self._pg: Any = None
        self._listen = db.engine(app).dialect.name == "postgresql"
        self._listen_failed = False
        self._connect()

    def _connect(self) -> None:
        if not self._listen or self._pg is not None:
            return
        engine = db.engine(self.app)
        try:
            cargs, cparams = engine.dialect.create_connect_args(engine.url)
            conn = engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:  # the poll interval still applies; retried next wait
            if not self._listen_failed:  # said once, not at every wait while the database is down
                log.warning("cannot LISTEN for job submissions (%s); polling only", type(exc).__name__)
            self._listen_failed = True
            return
        if self._listen_failed:
            log.warning("listening for job submissions again")
        self._listen_failed = False
        self._pg = conn

    def filenos(self) -> list[int]:
        self._connect()
        fds = [self.sock.fileno()]
        if self._pg is not None:
            fds.append(self._pg.pgconn.socket)
        return fds

    def drain(self) -> None:
        """Consume every pending wake-up (they are only a signal to look)."""
        while True:
            try:
                self.sock.recv(64)
            except (BlockingIOError, InterruptedError):
                break
        if self._pg is not None:
            try:
                pgconn = self._pg.pgconn
                pgconn.consume_input()
                while pgconn.notifies() is not None:
                    pass
            except Exception as exc:
                log.warning("the LISTEN connection failed (%s); reconnecting", type(exc).__name__)
                self._close_pg()

    def _close_pg(self) -> None:
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception as exc:  # already broken: nothing left to release
                log.debug("closing the LISTEN connection: %s", exc)
            self._pg = None

    def close(self) -> None:
        self._close_pg()
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
