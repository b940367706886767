"""Application definitions: what users can run, with typed inputs and an argv template.

An application is declared in Python (:func:`register_application` from a plugin's ``init_app``,
or the :func:`application` decorator on a function returning the definition mapping) or in TOML
files listed in ``JOBS_APPLICATION_FILES``. Both go through :meth:`Application.from_mapping`, which
validates everything and raises :class:`~gateway_kit.errors.ConfigError` naming the application id
and the field at fault -- so a bad definition stops start-up.

The command is an **argv template**: a list whose items are strings with ``{name}`` placeholders
(an input, or ``cpus``, ``memory_mb``, ``gpus``, ``walltime``), or a table
``{if = "flag", args = ["--verbose"]}`` included only when the boolean input ``flag`` is true.
``{{`` and ``}}`` stand for literal braces (:func:`literal` escapes a whole string).
Each item becomes exactly one argv element; values are never split or interpreted by a shell, so
spaces, quotes, ``;``, ``$()`` and newlines in user input arrive literally.

A TOML file holds one application at the top level, or several as ``[[application]]`` tables::

    id = "echo"
    title = "Echo"
    version = "1.0"
    command = ["/bin/echo", "{message}"]
    outputs = ["*.txt"]
    [[inputs]]
    name = "message"
    type = "string"
    max_length = 200
    [resources]
    cpus = 1
    walltime = 600

An **interactive** application (``kind = "interactive"``) starts a web server that users reach
through the gateway's session proxy (:mod:`gateway_kit.sessions`). Its command may also use
``{port}`` and ``{host}`` (where the server must listen: loopback on the gateway host, the
node's or instance's address elsewhere), ``{base_url}`` (``/sessions/<id>/``, ending in ``/``) and
``{token}`` (a secret the proxy sends as ``Authorization: token ...``; it never reaches the
browser), and it has an
``[interactive]`` table (see :class:`Interactive`): the readiness path, the activity source, the
idle timeout and how long the server may take to start. ``resources.walltime`` is the session's
initial duration and ``resources.max_walltime`` the most it may be extended to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from ..errors import ConfigError
from ..settings import read_toml

INPUT_TYPES = ("string", "integer", "float", "boolean", "choice", "file", "dataset")
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: ``{name}`` is a placeholder; ``{{`` and ``}}`` are literal braces (as in str.format).
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
RESOURCE_PLACEHOLDERS = ("cpus", "memory_mb", "gpus", "walltime")
#: Values the kit provides to an interactive application's command.
INTERACTIVE_PLACEHOLDERS = ("port", "host", "base_url", "token")
KINDS = ("batch", "interactive")
#: Where an interactive server's last activity comes from: the Jupyter server's ``/api/status``
#: (as jupyterhub-idle-culler reads it) or the session proxy's own traffic clock.
ACTIVITY_SOURCES = ("jupyter", "proxy")
#: A dataset reference: an identifier, never a path on the gateway host.
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
EXTENSION_KEY = "gateway_kit.jobs.apps"


def _bad(app_id: str, field_name: str, message: str) -> ConfigError:
    return ConfigError(f"Application {app_id!r}: field {field_name!r} {message}.")


@dataclass(frozen=True)
class Input:
    """One typed input of an application."""

    name: str
    type: str
    label: str = ""
    help: str = ""
    required: bool = True
    default: Any = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    #: File inputs: largest accepted upload in MB (capped by JOBS_MAX_UPLOAD_MB).
    max_size_mb: float | None = None

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def json_schema(self) -> dict[str, Any]:
        """This input as a JSON Schema fragment (for OpenAPI and clients)."""
        s: dict[str, Any] = {"title": self.title}
        if self.help:
            s["description"] = self.help
        if self.type == "string" or self.type == "dataset":
            s["type"] = "string"
            if self.pattern:
                s["pattern"] = self.pattern
            if self.min_length is not None:
                s["minLength"] = self.min_length
            if self.max_length is not None:
                s["maxLength"] = self.max_length
        elif self.type in ("integer", "float"):
            s["type"] = "integer" if self.type == "integer" else "number"
            if self.minimum is not None:
                s["minimum"] = self.minimum
            if self.maximum is not None:
                s["maximum"] = self.maximum
        elif self.type == "boolean":
            s["type"] = "boolean"
        elif self.type == "choice":
            s["enum"] = list(self.choices)
        elif self.type == "file":
            s.update(type="string", format="binary")
        if self.default is not None:
            s["default"] = self.default
        return s


@dataclass(frozen=True)
class ResourceSpec:
    """A resource's default and the most an application allows."""

    default: float
    maximum: float


@dataclass(frozen=True)
class Resources:
    cpus: ResourceSpec = ResourceSpec(1, 1)
    memory_mb: ResourceSpec = ResourceSpec(1024, 1024)
    gpus: ResourceSpec = ResourceSpec(0, 0)
    #: Seconds.
    walltime: ResourceSpec = ResourceSpec(3600, 3600)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            k: {"default": v.default, "maximum": v.maximum}
            for k, v in (
                ("cpus", self.cpus),
                ("memory_mb", self.memory_mb),
                ("gpus", self.gpus),
                ("walltime", self.walltime),
            )
        }


@dataclass(frozen=True)
class Interactive:
    """How the kit runs an interactive application's server (the ``[interactive]`` table)."""

    #: Path under the session's base URL answered with 2xx/3xx once the server is ready.
    readiness_path: str = ""
    #: Seconds the server may take to become ready before the session fails.
    startup_timeout: float = 120.0
    #: Seconds without activity after which the session is ended (culled).
    idle_timeout: float = 3600.0
    #: ``jupyter`` or ``proxy`` (see :data:`ACTIVITY_SOURCES`).
    activity: str = "proxy"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Application:
    id: str
    title: str
    version: str
    command: tuple[str | dict[str, Any], ...]
    description: str = ""
    inputs: tuple[Input, ...] = ()
    resources: Resources = Resources()
    outputs: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    #: Extra environment variables for the job (fixed by the definition, never user input).
    env: Mapping[str, str] = field(default_factory=dict)
    #: ``batch`` (a job) or ``interactive`` (a session with a web server, see :mod:`gateway_kit.sessions`).
    kind: str = "batch"
    interactive: Interactive | None = None

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)

    def inputs_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {i.name: i.json_schema() for i in self.inputs},
            "required": [i.name for i in self.inputs if i.required and i.default is None],
        }

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "version": self.version, "description": self.description}

    def to_json(self) -> dict[str, Any]:
        extra = {"interactive": self.interactive.as_dict()} if self.interactive else {}
        return {
            **self.summary(),
            "kind": self.kind,
            **extra,
            "inputs": self.inputs_schema(),
            "resources": self.resources.as_dict(),
            "outputs": list(self.outputs),
            "destinations": list(self.destinations),
        }

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "") -> Application:
        """Build and validate a definition; raise ConfigError naming the id and the field."""
        raw_id = data.get("id")
        app_id = raw_id if isinstance(raw_id, str) else "?"
        where = f" (in {source})" if source else ""
        if not isinstance(raw_id, str) or not _ID.match(raw_id):
            raise ConfigError(
                f"Application {app_id!r}{where}: field 'id' must be lower-case "
                "letters, digits, '-' or '_', starting with a letter (at most 64)."
            )

        def bad(field_name: str, message: str) -> ConfigError:
            return ConfigError(f"Application {app_id!r}{where}: field {field_name!r} {message}.")

        known = {
            "id",
            "title",
            "version",
            "description",
            "inputs",
            "resources",
            "command",
            "outputs",
            "destinations",
            "env",
            "kind",
            "interactive",
        }
        for key in data:
            if key not in known:
                raise bad(key, f"is not a known field (expected one of {', '.join(sorted(known))})")
        title = data.get("title", app_id)
        version = data.get("version", "")
        description = data.get("description", "")
        for name, value in (("title", title), ("description", description)):
            if not isinstance(value, str):
                raise bad(name, "must be a string")
        if not isinstance(version, str | int | float) or str(version) == "":
            raise bad("version", "must be a non-empty string such as '1.0'")
        inputs = tuple(_input(bad, i, raw) for i, raw in enumerate(_list(bad, data, "inputs")))
        names = [i.name for i in inputs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise bad("inputs", f"names {sorted(dupes)} more than once")
        clash = set(names) & set(RESOURCE_PLACEHOLDERS)
        if clash:
            raise bad("inputs", f"uses reserved name(s) {sorted(clash)}")
        resources = _resources(bad, data.get("resources", {}))
        kind = data.get("kind", "batch")
        if kind not in KINDS:
            raise bad("kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")
        interactive = _interactive(bad, data.get("interactive")) if kind == "interactive" else None
        if interactive is not None and set(names) & set(INTERACTIVE_PLACEHOLDERS):
            raise bad("inputs", f"uses reserved name(s) {sorted(set(names) & set(INTERACTIVE_PLACEHOLDERS))}")
        if kind == "batch" and "interactive" in data:
            raise bad("interactive", 'is only for applications with kind = "interactive"')
        if interactive is not None and any(i.type == "file" for i in inputs):
            raise bad("inputs", "of an interactive application cannot be files (use a dataset input)")
        extra = INTERACTIVE_PLACEHOLDERS if kind == "interactive" else ()
        command = _command(bad, data.get("command"), {i.name: i for i in inputs}, extra)
        outputs = tuple(_strings(bad, data, "outputs"))
        for glob in outputs:
            if glob.startswith("/") or ".." in Path(glob).parts:
                raise bad("outputs", f"glob {glob!r} must stay inside the job directory")
        destinations = tuple(_strings(bad, data, "destinations"))
        env = data.get("env", {})
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise bad("env", "must be a table of strings")
        for name, value in env.items():
            used = [m.group(1) for m in _PLACEHOLDER.finditer(value) if m.group(1)]
            allowed = INTERACTIVE_PLACEHOLDERS if kind == "interactive" else ()
            for placeholder in used:
                if placeholder not in allowed:
                    raise bad(
                        f"env.{name}",
                        f"refers to {{{placeholder}}}; environment values may use only "
                        f"{', '.join('{' + p + '}' for p in allowed) or 'no placeholders'}"
                        + ("" if allowed else " (in batch applications)"),
                    )
        return cls(
            id=app_id,
            title=title,
            version=str(version),
            description=description,
            inputs=inputs,
            resources=resources,
            command=command,
            outputs=outputs,
            destinations=destinations,
            env=dict(env),
            kind=kind,
            interactive=interactive,
        )


Bad = Callable[[str, str], ConfigError]


def _list(bad: Bad, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list | tuple):
        raise bad(key, "must be a list")
    return list(value)


def _strings(bad: Bad, data: Mapping[str, Any], key: str) -> list[str]:
    values = _list(bad, data, key)
    if not all(isinstance(v, str) and v for v in values):
        raise bad(key, "must be a list of non-empty strings")
    return values


def _number(bad: Bad, fname: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(fname, "must be a number")
    return value


def _input(bad: Bad, index: int, raw: Any) -> Input:
    if not isinstance(raw, Mapping):
        raise bad(f"inputs[{index}]", "must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad(
            f"inputs[{index}].name", "must be lower-case letters, digits or '_', starting with a letter"
        )
    f = f"inputs.{name}"
    known = {
        "name",
        "type",
        "label",
        "help",
        "required",
        "default",
        "pattern",
        "min_length",
        "max_length",
        "minimum",
        "maximum",
        "choices",
        "max_size_mb",
    }
    for key in raw:
        if key not in known:
            raise bad(
                f"{f}.{key}", f"is not a known input field (expected one of {', '.join(sorted(known))})"
            )
    typ = raw.get("type")
    if typ not in INPUT_TYPES:
        raise bad(f"{f}.type", f"must be one of {', '.join(INPUT_TYPES)} (got {typ!r})")
    for key in ("label", "help"):
        if not isinstance(raw.get(key, ""), str):
            raise bad(f"{f}.{key}", "must be a string")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise bad(f"{f}.required", "must be true or false")
    pattern = raw.get("pattern")
    if pattern is not None:
        if typ != "string" or not isinstance(pattern, str):
            raise bad(f"{f}.pattern", "is only for string inputs and must be a string")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise bad(f"{f}.pattern", f"is not a valid regular expression ({exc})") from exc
    lengths = {}
    for key in ("min_length", "max_length"):
        v = raw.get(key)
        if v is not None and (typ != "string" or isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise bad(f"{f}.{key}", "is only for string inputs and must be an integer >= 0")
        lengths[key] = v
    _not_above(bad, f, lengths, "min_length", "max_length")
    bounds = {}
    for key in ("minimum", "maximum"):
        v = _number(bad, f"{f}.{key}", raw.get(key))
        if v is not None and typ not in ("integer", "float"):
            raise bad(f"{f}.{key}", "is only for integer and float inputs")
        bounds[key] = v
    _not_above(bad, f, bounds, "minimum", "maximum")
    choices = raw.get("choices", [])
    if typ == "choice":
        if not choices or not all(isinstance(c, str) and c for c in choices):
            raise bad(f"{f}.choices", "must be a non-empty list of strings for a choice input")
    elif choices:
        raise bad(f"{f}.choices", "is only for choice inputs")
    max_size = _number(bad, f"{f}.max_size_mb", raw.get("max_size_mb"))
    if max_size is not None and (typ != "file" or max_size <= 0):
        raise bad(f"{f}.max_size_mb", "is only for file inputs and must be greater than 0")
    inp = Input(
        name=name,
        type=typ,
        label=raw.get("label", ""),
        help=raw.get("help", ""),
        required=required,
        pattern=pattern,
        min_length=lengths["min_length"],
        max_length=lengths["max_length"],
        minimum=bounds["minimum"],
        maximum=bounds["maximum"],
        choices=tuple(choices),
        max_size_mb=max_size,
    )
    default = raw.get("default")
    if default is not None:
        if typ == "file":
            raise bad(f"{f}.default", "is not allowed for file inputs")
        problem = check_value(inp, default)
        if problem:
            raise bad(f"{f}.default", f"is invalid: {problem}")
        inp = Input(**{**inp.__dict__, "default": default})
    return inp


def _not_above(bad: Bad, f: str, limits: Mapping[str, Any], low: str, high: str) -> None:
    """The ``low`` limit must not exceed the ``high`` one where both are given."""
    if limits[low] is not None and limits[high] is not None and limits[low] > limits[high]:
        raise bad(f"{f}.{low}", f"is greater than {high}")


def _resources(bad: Bad, raw: Any) -> Resources:
    if not isinstance(raw, Mapping):
        raise bad("resources", "must be a table")
    out: dict[str, ResourceSpec] = {}
    base = Resources()
    for key in raw:
        if key not in ("cpus", "memory_mb", "gpus", "walltime") and not key.startswith("max_"):
            raise bad(
                f"resources.{key}",
                "is not a resource (expected cpus, memory_mb, gpus, walltime and their max_* limits)",
            )
    for key in ("cpus", "memory_mb", "gpus", "walltime"):
        spec: ResourceSpec = getattr(base, key)
        default = _number(bad, f"resources.{key}", raw.get(key, spec.default))
        maximum = _number(bad, f"resources.max_{key}", raw.get(f"max_{key}", default))
        assert default is not None and maximum is not None
        floor = 0 if key == "gpus" else (1 if key != "memory_mb" else 16)
        if default < floor or default != int(default):
            raise bad(f"resources.{key}", f"must be a whole number of at least {floor}")
        if maximum < default or maximum != int(maximum):
            raise bad(f"resources.max_{key}", f"must be a whole number of at least {key} ({default})")
        out[key] = ResourceSpec(int(default), int(maximum))
    for key in raw:
        if key.startswith("max_") and key[4:] not in out:
            raise bad(f"resources.{key}", "is not a resource limit")
    return Resources(**out)


def _interactive(bad: Bad, raw: Any) -> Interactive:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise bad("interactive", "must be a table")
    known = set(Interactive.__dataclass_fields__)
    for key in raw:
        if key not in known:
            raise bad(f"interactive.{key}", f"is not known (expected one of {', '.join(sorted(known))})")
    path = raw.get("readiness_path", "")
    if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
        raise bad(
            "interactive.readiness_path", "must be a relative path under the base URL, e.g. 'api/status'"
        )
    activity = raw.get("activity", "proxy")
    if activity not in ACTIVITY_SOURCES:
        raise bad("interactive.activity", f"must be one of {', '.join(ACTIVITY_SOURCES)} (got {activity!r})")
    numbers: dict[str, float] = {}
    for key in ("startup_timeout", "idle_timeout"):
        value = _number(bad, f"interactive.{key}", raw.get(key, getattr(Interactive, key)))
        assert value is not None
        if value <= 0:
            raise bad(f"interactive.{key}", "must be a number of seconds greater than 0")
        numbers[key] = float(value)
    return Interactive(readiness_path=path, activity=activity, **numbers)


def _command(
    bad: Bad, raw: Any, inputs: Mapping[str, Input], extra: tuple[str, ...] = ()
) -> tuple[str | dict[str, Any], ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise bad("command", "must be a non-empty argv list (a shell string is not accepted)")
    known = set(inputs) | set(RESOURCE_PLACEHOLDERS) | set(extra)
    items: list[str | dict[str, Any]] = []

    def check_str(item: Any, where: str) -> None:
        if not isinstance(item, str):
            raise bad(where, "must be a string or a table {if = 'flag', args = [...]}")
        for name in [m.group(1) for m in _PLACEHOLDER.finditer(item) if m.group(1)]:
            if name not in known:
                raise bad(
                    where,
                    f"refers to {{{name}}}, which is not an input "
                    f"(inputs: {', '.join(sorted(inputs)) or 'none'})",
                )
            inp = inputs.get(name)
            if inp is not None and inp.type == "boolean":
                raise bad(
                    where, f"uses boolean input {{{name}}} as text; use {{if = '{name}', args = [...]}}"
                )

    for i, item in enumerate(raw):
        where = f"command[{i}]"
        if isinstance(item, Mapping):
            flag = item.get("if")
            args = item.get("args")
            if set(item) != {"if", "args"} or not isinstance(args, list) or not args:
                raise bad(
                    where, "as a table needs exactly 'if' (a boolean input) and 'args' (a non-empty list)"
                )
            if not isinstance(flag, str) or flag not in inputs or inputs[flag].type != "boolean":
                raise bad(f"{where}.if", f"must name a boolean input (got {flag!r})")
            for j, arg in enumerate(args):
                check_str(arg, f"{where}.args[{j}]")
            items.append({"if": flag, "args": list(args)})
        else:
            check_str(item, where)
            items.append(item)
    if not isinstance(items[0], str) or any(m.group(1) for m in _PLACEHOLDER.finditer(items[0])):
        raise bad("command[0]", "must be a fixed program, not a placeholder")
    return tuple(items)


def render_argv(
    app: Application,
    values: Mapping[str, Any],
    resources: Mapping[str, Any],
    provided: Mapping[str, str] | None = None,
) -> list[str]:
    """Expand the argv template. Each template item is one argv element; no shell ever runs.

    ``provided`` holds the kit's values for an interactive application (port, host, base_url, token).
    """
    subst: dict[str, str] = {k: _text(v) for k, v in values.items() if v is not None}
    subst.update({k: str(resources[k]) for k in RESOURCE_PLACEHOLDERS if k in resources})
    subst.update({k: v for k, v in (provided or {}).items() if k in INTERACTIVE_PLACEHOLDERS})

    def one(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)[0]  # an escaped brace
        return subst.get(m.group(1), "")

    def expand(item: str) -> str:
        return _PLACEHOLDER.sub(one, item)

    argv: list[str] = []
    for item in app.command:
        if isinstance(item, dict):
            if values.get(item["if"]):
                argv.extend(expand(a) for a in item["args"])
        else:
            argv.append(expand(item))
    return argv


def render_env(app: Application, provided: Mapping[str, str]) -> dict[str, str]:
    """The application's environment with the kit's values (``{token}``...) filled in.

    Passing the token in the environment keeps it out of the process list (argv is world-readable).
    """

    def one(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)[0]
        return provided.get(m.group(1), "")

    return {k: _PLACEHOLDER.sub(one, v) for k, v in app.env.items()}


def literal(text: str) -> str:
    """``text`` as an argv template item that expands to itself (braces escaped)."""
    return text.replace("{", "{{").replace("}", "}}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and "filename" in value:  # a staged file: its path in the job dir
        return f"inputs/{value['filename']}"
    return str(value)


# -- the registry --------------------------------------------------------------------------------


class ApplicationRegistry:
    """The applications of one gateway (``app.extensions["gateway_kit.jobs.apps"]``)."""

    def __init__(self, destinations: Mapping[str, Any]) -> None:
        self._apps: dict[str, Application] = {}
        self._destinations = destinations

    def add(self, application: Application) -> Application:
        if application.id in self._apps:
            raise ConfigError(f"Application {application.id!r} is defined twice.")
        for dest in application.destinations:
            if dest not in self._destinations:
                raise _bad(
                    application.id,
                    "destinations",
                    f"names destination {dest!r}, which is not configured in "
                    f"JOBS_DESTINATIONS_MAP (configured: {', '.join(self._destinations)})",
                )
        self._apps[application.id] = application
        return application

    def get(self, app_id: str) -> Application | None:
        return self._apps.get(app_id)

    def all(self, kind: str | None = "batch") -> list[Application]:
        """The applications of ``kind`` (``None``: every kind), by title."""
        apps = [a for a in self._apps.values() if kind is None or a.kind == kind]
        return sorted(apps, key=lambda a: a.title.lower())

    def __len__(self) -> int:
        return len(self._apps)


def registry(app: Flask | None = None) -> ApplicationRegistry:
    reg: ApplicationRegistry = (app or current_app).extensions[EXTENSION_KEY]
    return reg


def register_application(
    app: Flask, definition: Application | Mapping[str, Any], source: str = ""
) -> Application:
    """Add an application to ``app``'s gateway (from a plugin's ``init_app``)."""
    appdef = (
        definition if isinstance(definition, Application) else Application.from_mapping(definition, source)
    )
    return registry(app).add(appdef)


def application(app: Flask) -> Callable[[Callable[[], Mapping[str, Any]]], Application]:
    """Decorator form: ``@application(app)`` on a function returning the definition mapping."""

    def deco(fn: Callable[[], Mapping[str, Any]]) -> Application:
        return register_application(app, fn(), source=f"{fn.__module__}.{fn.__qualname__}")

    return deco


def load_toml(path: Path) -> list[Application]:
    """Read the application(s) of one TOML file."""
    missing = f"Setting JOBS_APPLICATION_FILES names {path}, which does not exist."
    data = read_toml(path, "Application file", missing)
    tables = data.get("application") if "application" in data else [data]
    if not isinstance(tables, list):
        raise ConfigError(
            f"Application file {path}: 'application' must be an array of tables ([[application]])."
        )
    return [Application.from_mapping(t, source=str(path)) for t in tables]


def load_files(app: Flask, paths: list[str]) -> None:
    for entry in paths:
        p = Path(entry)
        files = sorted(p.glob("*.toml")) if p.is_dir() else [p]
        for f in files:
            for appdef in load_toml(f):
                registry(app).add(appdef)


def check_value(inp: Input, value: Any) -> str | None:
    """The problem with ``value`` for ``inp`` (strict JSON types), or None."""
    t = inp.type
    if t in ("string", "dataset", "choice"):
        if not isinstance(value, str):
            return "must be a string"
        if "\x00" in value:
            return "must not contain NUL characters"
        if t == "choice":
            return None if value in inp.choices else f"must be one of {', '.join(inp.choices)}"
        if t == "dataset":
            return None if _DATASET.match(value) else "must be a dataset identifier"
        if inp.min_length is not None and len(value) < inp.min_length:
            return f"must be at least {inp.min_length} characters long"
        if inp.max_length is not None and len(value) > inp.max_length:
            return f"must be at most {inp.max_length} characters long"
        if inp.pattern and not re.fullmatch(inp.pattern, value):
            return f"must match the pattern {inp.pattern}"
        return None
    if t == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if t in ("integer", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be an integer" if t == "integer" else "must be a number"
        if t == "integer" and isinstance(value, float) and not value.is_integer():
            return "must be an integer"
        if not math.isfinite(value):
            return "must be a finite number"
        if inp.minimum is not None and value < inp.minimum:
            return f"must be at least {number_text(inp.minimum)}"
        if inp.maximum is not None and value > inp.maximum:
            return f"must be at most {number_text(inp.maximum)}"
        return None
    return "cannot be given here"  # file inputs arrive as uploads


def number_text(v: float) -> str:
    """``3`` for 3.0, else the number as written."""
    return str(int(v)) if float(v).is_integer() else str(v)
