"""The database extension: SQLAlchemy 2 engine and sessions, Alembic migrations.

``db = Database()`` is created unbound; :meth:`Database.init_app` attaches an engine to an app
(stored in ``app.extensions["gateway_kit.db"]``). Inside a request or app context, ``db.session`` is
one session per context, closed at teardown. Outside (workers, CLI) use ``with db.session_scope():``.

SQLite runs in WAL mode with foreign keys on and a busy timeout; PostgreSQL through psycopg 3.
Migrations: the core's revisions live in ``gateway_kit/migrations/versions``, each feature's in its
package (``gateway_kit/jobs/migrations``: one branch per feature, labelled with its name, found
through its declaration); :func:`upgrade` applies every head of the installed features.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast, overload

from flask import Flask, current_app, g
from sqlalchemy import Table, create_engine, event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import instance_dict

from .errors import ConfigError, DatabaseError

log = logging.getLogger("gateway_kit.db")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base of every model in the kit."""


def utcnow() -> datetime:
    """Now, in UTC: every time column stores UTC."""
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """``value`` in UTC: SQLite returns naive datetimes for timezone-aware columns, which hold UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def utc_iso(value: datetime | None) -> str | None:
    """A stored timestamp as RFC 3339 text (the API's ``date-time``), or None."""
    return None if value is None else aware(value).isoformat()


@dataclass
class _State:
    engine: Engine
    factory: sessionmaker[Session]


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """Create an engine for ``url`` with the kit's per-dialect settings."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"Setting DATABASE_URL is not a valid database URL: expected e.g. "
            f"sqlite:///path/to/gateway.db or postgresql+psycopg://user:pass@host/db ({exc})."
        ) from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError) as exc:
        raise ConfigError(
            f"Setting DATABASE_URL uses an unsupported database {parsed.drivername!r}: "
            "expected sqlite:/// or postgresql+psycopg://."
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


T = TypeVar("T")


def table_of(cls: type[Base]) -> Table:
    """The table of a mapped class, for Core statements prebuilt against it (executed on a
    connection they skip the ORM's bulk insert/update layer)."""
    return cast(Table, cls.__table__)


def as_loaded(session: Session, cls: type[T], values: Mapping[str, Any]) -> T:
    """An instance of the mapped ``cls`` holding ``values`` (its columns by key), persistent in
    ``session`` as if a query had loaded it, without SQL and without the ORM's per-row loading.

    For hot paths that read or write a row with a prebuilt Core statement and then hand an
    object to the rest of the code. Columns missing from ``values`` are loaded on first access.
    An instance with the same primary key already in the session is returned instead.
    """
    mapper = sa_inspect(cls)
    key = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    existing = session.identity_map.get(key)
    if existing is not None:
        found: T = existing
        return found
    obj: T = mapper.class_manager.new_instance()
    instance_dict(obj).update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


class Database:
    """Unbound database extension; see the module docstring."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"], app.config.get("DB_POOL_SIZE", 5))
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        app.extensions["gateway_kit.db"] = _State(engine, factory)
        app.teardown_appcontext(self._teardown)

    @staticmethod
    def _state(app: Flask | None = None) -> _State:
        state: _State = (app or current_app).extensions["gateway_kit.db"]
        return state

    def engine(self, app: Flask | None = None) -> Engine:
        return self._state(app).engine

    @property
    def session(self) -> Session:
        """The session of the current app context (created on first use)."""
        if "gk_db_session" not in g:
            g.gk_db_session = self._state().factory()
        sess: Session = g.gk_db_session
        return sess

    def _teardown(self, _exc: BaseException | None) -> None:
        sess = g.pop("gk_db_session", None)
        if sess is not None:
            try:
                sess.close()
            except DBAPIError:
                # The server went away mid-request (a restart): the answer is already made
                # (a 503 when the request needed the database); drop the dead connection.
                log.warning("database connection lost while closing a session; discarded")
                with contextlib.suppress(DBAPIError):
                    sess.invalidate()

    @contextlib.contextmanager
    def session_scope(self, app: Flask | None = None) -> Iterator[Session]:
        """A session committed on success and rolled back on error (for workers and CLI)."""
        sess = self._state(app).factory()
        try:
            yield sess
            sess.commit()
        except BaseException:
            sess.rollback()
            raise
        finally:
            sess.close()

    def ping(self, app: Flask | None = None) -> None:
        """Raise :class:`DatabaseError` when the database cannot answer ``SELECT 1``."""
        try:
            with self.engine(app).connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise DatabaseError(
                "The database is not reachable.", log_message=f"database ping failed: {exc}"
            ) from exc


db = Database()


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    from .features import installed

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    folders = [MIGRATIONS_DIR / "versions", *filter(None, (f.migrations_dir() for f in installed()))]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in folders))
    cfg.attributes["engine"] = engine
    return cfg


#: The PostgreSQL advisory lock key that serialises migrations (the bytes of "gk-migr").
MIGRATION_LOCK = int.from_bytes(b"gk-migr", "big")


def upgrade(app: Flask, revision: str = "heads") -> None:
    """Apply every migration (all branch heads) to the app's database.

    On PostgreSQL the run holds the advisory lock :data:`MIGRATION_LOCK`: concurrent runs (two web
    VMs booting a release) wait for each other instead of racing, and the later ones change nothing.
    """
    from alembic import command

    engine = db.engine(app)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(
            f"Cannot connect to the database at {url}: {exc.__class__.__name__}: "
            f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip().splitlines()[0]}. "
            "Check DATABASE_URL and that the server is running."
        ) from exc
    if engine.dialect.name != "postgresql":
        # SQLite lives on one machine and serialises writers itself.
        command.upgrade(alembic_config(engine), revision)
        return
    # Several VMs of a release start at once and each runs `gateway-kit db upgrade` before it
    # serves: a session-level advisory lock makes them take turns, so the first migrates and the
    # others find every head applied and do nothing (no race on CREATE TABLE or alembic_version).
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        lock.commit()
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            lock.commit()


def current_heads(app: Flask) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with db.engine(app).connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
