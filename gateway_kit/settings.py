"""Settings: declared once, loaded in layers.

Every setting is a :class:`Setting` with a type, a default, help text and optional validation.
Feature modules declare theirs in a module-level ``SETTINGS`` list, named by the feature's
declaration (:class:`gateway_kit.features.Feature`); the core's are :data:`CORE_SETTINGS` and
:data:`CORE_SETTING_MODULES`. Values are loaded in this order, each layer overriding the one before:

1. the declared defaults;
2. an instance TOML file -- the path in ``GATEWAY_KIT_CONFIG``, else ``<instance>/gateway.toml``.
   Keys are the setting names, case-insensitive; a table flattens with ``_``
   (``[jobs] max_concurrent = 4`` is ``JOBS_MAX_CONCURRENT``), except a table that is itself a
   ``dict`` setting (``[identity.project_map]`` is the value of ``IDENTITY_PROJECT_MAP``);
3. ``GATEWAY_KIT_<NAME>`` environment variables (strings, parsed by the setting's type);
4. the mapping a caller passes to :func:`gateway_kit.create_app` (tests, the demo).

Unknown keys, unparsable values and failed validation raise :class:`~gateway_kit.errors.ConfigError`
naming the key, the bad value and what would be valid. Nothing here runs at import time except the
declarations themselves.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger("gateway_kit.settings")

ENV_PREFIX = "GATEWAY_KIT_"
#: Environment variables with the prefix that are not settings.
RESERVED_ENV = {"GATEWAY_KIT_CONFIG", "GATEWAY_KIT_INSTANCE", "GATEWAY_KIT_LIFELINE_FD"}
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"

Validator = Callable[[Any], str | None]


@dataclass(frozen=True)
class Setting:
    """One declared setting.

    :param name: upper-case key, e.g. ``DATABASE_URL``.
    :param type: one of ``str``, ``int``, ``float``, ``bool``, ``list`` (of str), ``dict``.
    :param default: the default value (already of ``type``), or a callable taking the partial
        settings mapping and returning the default (for defaults that depend on the instance path).
    :param help: one line shown by ``gateway-kit config show``.
    :param secret: mask the value wherever it is shown.
    :param choices: the only valid values, if any.
    :param validate: returns an error message (what would be valid) or ``None``; the factories
        below (:func:`positive`, :func:`at_least`, :func:`between`, :func:`host_port_list`) make
        the common ones.
    :param minimum: the smallest valid number, if any (same message as :func:`at_least`).
    :param aliases: deprecated earlier names still accepted in every layer (with a warning in the
        log); the app's config also holds the value under them (:func:`alias_values`), so code
        that reads an old name keeps working. The current name wins over an alias given in the
        same layer.
    """

    name: str
    type: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[Any, ...] | None = None
    validate: Validator | None = None
    minimum: float | None = None
    aliases: tuple[str, ...] = ()


def _number(n: float) -> str:
    return f"{n:g}" if isinstance(n, float) else str(n)


def positive() -> Validator:
    """Validator: a number greater than 0."""

    def check(value: Any) -> str | None:
        return None if value > 0 else "a number greater than 0"

    return check


def at_least(n: float) -> Validator:
    """Validator: a number of ``n`` or more."""

    def check(value: Any) -> str | None:
        return None if value >= n else f"a number of {_number(n)} or more"

    return check


def between(low: float, high: float, *, unit: str = "") -> Validator:
    """Validator: a number greater than ``low`` and at most ``high`` (``low < value <= high``);
    ``unit`` (e.g. ``"MB"``) is named in the message."""
    what = f"a number of {unit}" if unit else "a number"

    def check(value: Any) -> str | None:
        if low < value <= high:
            return None
        return f"{what} greater than {_number(low)} and at most {_number(high)}"

    return check


def host_port_list(what: str = "") -> Validator:
    """Validator for a list of ``HOST:PORT`` strings (port digits); ``what`` names the items,
    e.g. ``"nameserver"``."""
    items = f"{what} addresses" if what else "addresses"

    def check(value: Any) -> str | None:
        for item in value:
            host, _, port = str(item).rpartition(":")
            if not host or not port.isdigit():
                return f"a list of HOST:PORT {items} ({item!r} is not)"
        return None

    return check


def fernet_key(value: Any) -> str | None:
    """Validator: empty, or a Fernet key."""
    if not value:
        return None
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        return (
            "a Fernet key (32 url-safe base64 bytes; make one with: python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    return None


CORE_SETTINGS: list[Setting] = [
    Setting(
        "ENV",
        str,
        "development",
        "Run mode; production enforces safe settings.",
        choices=("development", "production", "testing"),
    ),
    Setting(
        "SECRET_KEY",
        str,
        DEV_SECRET_KEY,
        "Key that signs session cookies and CSRF tokens (32+ random characters in production).",
        secret=True,
    ),
    Setting(
        "DATABASE_URL",
        str,
        lambda s: f"sqlite:///{Path(s['INSTANCE_PATH']) / 'gateway.db'}",
        "SQLAlchemy URL of the database (SQLite file in the instance folder by default; "
        "postgresql+psycopg://user:pass@host/db for PostgreSQL).",
        secret=True,
    ),
    Setting(
        "INSTANCE_PATH",
        str,
        "",
        "Instance folder for the database, uploads and job files "
        "(set by the app factory; shown for reference).",
    ),
    Setting("GATEWAY_NAME", str, "Science Gateway", "Name shown in page titles and navigation."),
    Setting("PUBLIC_URL", str, "", "External base URL of the gateway (e.g. https://portal.example.org)."),
    Setting("LOG_LEVEL", str, "INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("LOG_FORMAT", str, "text", "Request log format.", choices=("text", "json")),
    Setting(
        "PLUGINS",
        list,
        [],
        "Importable modules whose init_app(app) extends the gateway (e.g. its applications).",
    ),
    Setting(
        "CLOUD_NAME",
        str,
        "local",
        "clouds.yaml entry of the cloud the gateway uses (a feature's <FEATURE>_CLOUD_NAME overrides it).",
    ),
    Setting(
        "ENCRYPTION_KEY",
        str,
        "",
        "Fernet key that encrypts secrets at rest (private keys, database passwords; empty: "
        "derived from SECRET_KEY; set it explicitly in production).",
        secret=True,
        validate=fernet_key,
        aliases=("CERTS_ENCRYPTION_KEY",),
    ),
    Setting("DB_POOL_SIZE", int, 5, "Connection pool size (PostgreSQL).", validate=positive()),
]

#: Core modules (not features) that declare a ``SETTINGS`` list.
CORE_SETTING_MODULES: list[str] = ["gateway_kit.web.settings"]


def all_settings() -> dict[str, Setting]:
    """Every declared setting by name (core first, then feature modules)."""
    import importlib

    from .features import installed

    modules = [importlib.import_module(name) for name in CORE_SETTING_MODULES]
    modules += [f.module(f.settings) for f in installed() if f.settings]
    found: dict[str, Setting] = {s.name: s for s in CORE_SETTINGS}
    for module in modules:
        for s in getattr(module, "SETTINGS", []):
            if s.name in found:
                raise RuntimeError(f"setting {s.name} declared twice")  # programming error
            found[s.name] = s
    return found


def alias_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each deprecated alias with its setting's loaded value (for code that reads an old name)."""
    return {alias: values[s.name] for s in all_settings().values() for alias in s.aliases if s.name in values}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _describe(s: Setting) -> str:
    if s.choices:
        return "one of " + ", ".join(repr(c) for c in s.choices)
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list of strings (TOML array, or comma-separated in the environment)",
        dict: "a table (TOML) or a JSON object (environment)",
    }.get(s.type, s.type.__name__)


def coerce(s: Setting, value: Any, *, from_env: bool = False, given_as: str | None = None) -> Any:
    """Parse and validate ``value`` for setting ``s``; raise ConfigError on failure.

    :param given_as: the deprecated alias the value was given under, named in the message.
    """
    shown = "***" if s.secret else repr(value)
    named = f"{s.name} (given as {given_as})" if given_as and given_as != s.name else s.name

    def bad(what: str) -> ConfigError:
        return ConfigError(f"Setting {named} has an invalid value {shown}: expected {what}.")

    try:
        if s.type is bool:
            if isinstance(value, bool):
                out: Any = value
            elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                out = value.strip().lower() in _TRUE
            else:
                raise bad(_describe(s))
        elif s.type is int:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise bad(_describe(s))
            out = int(value)
        elif s.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise bad(_describe(s))
            out = float(value)
        elif s.type is list:
            if isinstance(value, str):
                text = value.strip()
                out = (
                    json.loads(text)
                    if text.startswith("[")
                    else [v.strip() for v in text.split(",") if v.strip()]
                )
            else:
                out = value
            if not isinstance(out, list) or not all(isinstance(v, str) for v in out):
                raise bad(_describe(s))
        elif s.type is dict:
            out = json.loads(value) if isinstance(value, str) else value
            if not isinstance(out, dict):
                raise bad(_describe(s))
        else:
            if not isinstance(value, str):
                raise bad(_describe(s))
            out = value
    except (ValueError, json.JSONDecodeError) as exc:
        raise bad(_describe(s)) from exc
    if s.choices and out not in s.choices:
        raise bad(_describe(s))
    if s.minimum is not None and out < s.minimum:
        raise bad(f"a number of {_number(s.minimum)} or more")
    if s.validate is not None:
        problem = s.validate(out)
        if problem:
            raise bad(problem)
    return out


@dataclass
class LoadedSettings:
    values: dict[str, Any] = field(default_factory=dict)
    #: Where each value came from: ``default``, ``file:<path>``, ``env:<VAR>`` or ``override``.
    sources: dict[str, str] = field(default_factory=dict)


def _unknown(key: str, where: str, known: Iterable[str]) -> ConfigError:
    close = difflib.get_close_matches(key.upper(), list(known), n=1)
    hint = f" Did you mean {close[0]}?" if close else " Run 'gateway-kit config show' for the list."
    return ConfigError(f"Unknown setting {key!r} in {where}.{hint}")


def _flatten(data: Mapping[str, Any], declared: Mapping[str, Setting], prefix: str = "") -> dict[str, Any]:
    """Flatten TOML tables into setting names; a table that *is* a dict setting stays whole."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}".upper()
        setting = declared.get(name)
        if isinstance(value, dict) and not (setting is not None and setting.type is dict):
            out.update(_flatten(value, declared, name + "_"))
        else:
            out[name] = value
    return out


def read_toml(path: Path, what: str, missing: str) -> dict[str, Any]:
    """The TOML file at ``path``.

    :param what: what the file is, for the message of a syntax error (``"Config file"``).
    :param missing: the message when there is no such file.
    :raises ConfigError: the file is missing or not valid TOML.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(missing) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}.") from exc


def config_file_path(instance_path: Path, environ: Mapping[str, str]) -> Path | None:
    if environ.get("GATEWAY_KIT_CONFIG"):
        return Path(environ["GATEWAY_KIT_CONFIG"])
    candidate = instance_path / "gateway.toml"
    return candidate if candidate.is_file() else None


def default_instance_path() -> Path:
    """The instance folder: ``GATEWAY_KIT_INSTANCE``, else ``./instance``."""
    return Path(os.environ.get("GATEWAY_KIT_INSTANCE") or Path.cwd() / "instance").resolve()


def load_settings(
    instance_path: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Load every declared setting through the four layers and validate it."""
    environ = os.environ if environ is None else environ
    declared = all_settings()
    aliases = {alias: s.name for s in declared.values() for alias in s.aliases}
    known = {**declared, **{alias: declared[name] for alias, name in aliases.items()}}
    loaded = LoadedSettings()
    #: name -> (value, source, from the environment, the key it was given as)
    raw: dict[str, tuple[Any, str, bool, str]] = {}

    def layer(entries: list[tuple[str, Any, str, bool]]) -> None:
        """Apply one layer's ``(key, value, source, from_env)``; the current name beats an alias."""
        current: dict[str, tuple[Any, str, bool, str]] = {}
        for key, value, source, from_env in entries:
            name = aliases.get(key, key)
            if name != key:
                log.warning("Setting %s is deprecated; use %s (%s).", key, name, source)
                current.setdefault(name, (value, source, from_env, key))
            else:
                current[name] = (value, source, from_env, key)
        raw.update(current)

    path = config_file_path(instance_path, environ)
    if path is not None:
        data = read_toml(path, "Config file", f"Config file {path} (from GATEWAY_KIT_CONFIG) does not exist.")
        entries = []
        for key, value in _flatten(data, known).items():
            if key not in known:
                raise _unknown(key, str(path), declared)
            entries.append((key, value, f"file:{path}", False))
        layer(entries)

    entries = []
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in RESERVED_ENV:
            continue
        key = var[len(ENV_PREFIX) :]
        if key not in known:
            raise _unknown(var, "the environment", [ENV_PREFIX + k for k in declared])
        entries.append((key, value, f"env:{var}", True))
    layer(entries)

    entries = []
    for key, value in (overrides or {}).items():
        key = key.upper()
        if key not in known:
            raise _unknown(key, "the configuration passed to create_app", declared)
        entries.append((key, value, "override", False))
    layer(entries)

    raw.setdefault("INSTANCE_PATH", (str(instance_path), "default", False, "INSTANCE_PATH"))
    for name, s in declared.items():
        if name in raw:
            value, source, from_env, given_as = raw[name]
            loaded.values[name] = coerce(s, value, from_env=from_env, given_as=given_as)
            loaded.sources[name] = source
    for name, s in declared.items():
        if name not in loaded.values:
            default = s.default(loaded.values) if callable(s.default) else s.default
            loaded.values[name] = default
            loaded.sources[name] = "default"

    _check_production(loaded.values)
    return loaded


def _check_production(values: Mapping[str, Any]) -> None:
    if values["ENV"] != "production":
        return
    key = values["SECRET_KEY"]
    if key == DEV_SECRET_KEY or len(key) < 32:
        raise ConfigError(
            "Setting SECRET_KEY must be changed in production: it is the development key or shorter "
            "than 32 characters. Generate one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'."
        )


def mask(s: Setting, value: Any) -> str:
    if s.secret:
        if s.name == "DATABASE_URL" and isinstance(value, str):
            from sqlalchemy.engine import make_url

            try:
                return make_url(value).render_as_string(hide_password=True)
            except Exception:
                return "***"
        return "***" if value else "(empty)"
    return json.dumps(value) if not isinstance(value, str) else value
