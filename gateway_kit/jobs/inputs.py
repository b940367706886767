"""Validating submitted inputs against an application's schema, and staging uploaded files.

The same code checks the API's JSON, the form pages' strings and definition defaults, and reports
*every* field's problem at once (as :class:`~gateway_kit.errors.ValidationError` entries
``{"field": ..., "message": ...}``).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .apps import Application, Input, check_value, number_text

if TYPE_CHECKING:
    from flask import Flask

Errors = list[dict[str, str]]
_CHUNK = 64 * 1024
#: Characters that may appear in an uploaded file's name (after which we refuse it outright).
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")


def from_form(inp: Input, text: str | None) -> Any:
    """Convert a form field's text to the input's type (checked afterwards by check_value)."""
    if inp.type == "boolean":
        return text in ("on", "true", "1", "yes")
    if text is None or text == "":
        return None
    if inp.type == "integer":
        try:
            return int(text.strip())
        except ValueError:
            return text
    if inp.type == "float":
        try:
            return float(text.strip())
        except ValueError:
            return text
    return text


@dataclass
class Upload:
    """An uploaded file as received: its name as sent and a stream."""

    filename: str
    stream: IO[bytes]


def validate_values(
    app: Application, raw: Mapping[str, Any], uploads: Mapping[str, Upload], prefix: str = "inputs"
) -> tuple[dict[str, Any], Errors]:
    """Check the non-file inputs; returns the values (defaults applied) and the errors."""
    errors: Errors = []
    values: dict[str, Any] = {}
    for key in raw:
        inp = app.input(key)
        if inp is None:
            errors.append({"field": f"{prefix}.{key}", "message": f"is not an input of application {app.id}"})
        elif inp.type == "file":
            errors.append(
                {"field": f"{prefix}.{key}", "message": "is a file: upload it as multipart/form-data"}
            )
    for key in uploads:
        inp = app.input(key)
        if inp is None or inp.type != "file":
            errors.append(
                {"field": f"{prefix}.{key}", "message": f"is not a file input of application {app.id}"}
            )
    for inp in app.inputs:
        if inp.type == "file":
            if inp.name not in uploads and inp.required:
                errors.append({"field": f"{prefix}.{inp.name}", "message": "is required"})
            continue
        value = raw.get(inp.name)
        if value is None:
            if inp.default is not None:
                values[inp.name] = inp.default
            elif inp.type == "boolean":
                values[inp.name] = False
            elif inp.required:
                errors.append({"field": f"{prefix}.{inp.name}", "message": "is required"})
            continue
        problem = check_value(inp, value)
        if problem:
            errors.append({"field": f"{prefix}.{inp.name}", "message": problem})
        else:
            values[inp.name] = value
    return values, errors


def check_filename(name: str) -> str | None:
    """Why ``name`` is refused as an uploaded file's name, or None.

    Names are refused rather than "cleaned": a name with a path in it is an attack or a broken
    client, and silently renaming it would surprise the user whose argv refers to it.
    """
    if not name:
        return "has no file name"
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name.split("."):
        return "file name must not contain a path ('/', '\\' or '..')"
    if any(ord(c) < 32 for c in name):
        return "file name must not contain control characters"
    if not _SAFE_NAME.match(name):
        return (
            "file name may only contain letters, digits, '.', '_', '-' and spaces, and must "
            "start with a letter or digit"
        )
    return None


def stage_uploads(
    app: Application,
    uploads: Mapping[str, Upload],
    tmp_root: Path,
    max_upload_mb: float,
    prefix: str = "inputs",
) -> tuple[Path | None, dict[str, Any], Errors]:
    """Write uploads under a fresh temporary folder, enforcing names and size limits.

    Returns the folder (None when there were no uploads), the file values and the errors. On any
    error the folder is removed: nothing half-written stays behind.
    """
    errors: Errors = []
    values: dict[str, Any] = {}
    if not uploads:
        return None, values, errors
    folder = tmp_root / f"upload-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        for name, up in uploads.items():
            inp = app.input(name)
            if inp is None or inp.type != "file":
                continue  # reported by validate_values
            field_name = f"{prefix}.{name}"
            problem = check_filename(up.filename)
            if problem:
                errors.append({"field": field_name, "message": problem})
                continue
            limit_mb = min(inp.max_size_mb or max_upload_mb, max_upload_mb)
            limit = int(limit_mb * 1024 * 1024)
            target = folder / name
            target.mkdir()
            size = 0
            with open(target / up.filename, "wb") as out:
                while True:
                    chunk = up.stream.read(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
            if size > limit:
                errors.append(
                    {
                        "field": field_name,
                        "message": f"file is larger than the limit of {number_text(limit_mb)} MB",
                    }
                )
                continue
            values[name] = {"filename": f"{name}/{up.filename}", "size": size}
        if errors:
            shutil.rmtree(folder, ignore_errors=True)
            return None, {}, errors
        return folder, values, errors
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


#: ``app.extensions`` key of the input resolvers features add (:func:`add_input_resolver`).
RESOLVERS_KEY = "gateway_kit.jobs.input_resolvers"
#: ``resolver(app, application, job, values) -> values``: called by the job queue while a job is
#: STAGING, in the order added; returns the input values with what it resolves replaced (e.g. the
#: data feature turns dataset identifiers into what the job's executor can use). Raising an
#: :class:`~gateway_kit.jobs.executors.ExecutorError` fails the job with its message.
InputResolver = Callable[["Flask", Application, Any, dict[str, Any]], dict[str, Any]]


def add_input_resolver(app: Flask, resolver: InputResolver) -> None:
    """Let ``resolver`` rewrite jobs' input values before they are submitted (see :data:`InputResolver`)."""
    app.extensions.setdefault(RESOLVERS_KEY, []).append(resolver)


def resolve_job_inputs(app: Flask, application: Application, job: Any) -> dict[str, Any]:
    """``job.inputs`` after every registered resolver."""
    values = dict(job.inputs)
    for resolver in app.extensions.get(RESOLVERS_KEY, []):
        values = resolver(app, application, job, values)
    return values


#: ``app.extensions`` key of the input checkers features add (:func:`add_input_checker`).
CHECKERS_KEY = "gateway_kit.jobs.input_checkers"
#: ``checker(session, user, application, values) -> errors``: called when a job is submitted,
#: after the values passed their types' checks; returns ``[{"field", "message"}]`` for values
#: that name something the user may not use (e.g. a dataset that does not exist or is another
#: project's), so the submission is refused at once instead of failing later while staging.
InputChecker = Callable[[Any, Any, Application, dict[str, Any]], list[dict[str, str]]]
#: ``app.extensions`` key of the choices features offer for an input type (:func:`add_input_choices`).
CHOICES_KEY = "gateway_kit.jobs.input_choices"
#: ``choices(session, user) -> [(value, label)]``: what a form offers for inputs of one type
#: (e.g. the datasets the user may read), the newest first.
InputChoices = Callable[[Any, Any], list[tuple[str, str]]]


def add_input_checker(app: Flask, checker: InputChecker) -> None:
    """Let ``checker`` refuse input values at submission (see :data:`InputChecker`)."""
    app.extensions.setdefault(CHECKERS_KEY, []).append(checker)


def check_inputs(
    app: Flask, session: Any, user: Any, application: Application, values: dict[str, Any]
) -> list[dict[str, str]]:
    """The errors every registered checker finds in ``values``."""
    errors: list[dict[str, str]] = []
    for checker in app.extensions.get(CHECKERS_KEY, []):
        errors += checker(session, user, application, values)
    return errors


def add_input_choices(app: Flask, input_type: str, choices: InputChoices) -> None:
    """Offer ``choices`` in forms for inputs of ``input_type`` (see :data:`InputChoices`)."""
    app.extensions.setdefault(CHOICES_KEY, {})[input_type] = choices


def input_choices(app: Flask, session: Any, user: Any, input_type: str) -> list[tuple[str, str]] | None:
    """What forms offer for ``input_type`` (None: free input, nothing registered)."""
    choices = app.extensions.get(CHOICES_KEY, {}).get(input_type)
    return None if choices is None else choices(session, user)
