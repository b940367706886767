"""The request class: input that no view can store is refused as a 4xx, in one place.

Why: the audit found server errors from input that reached the database unchecked -- NUL bytes
(PostgreSQL text cannot hold them), integers beyond 64 bits (SQLite and PostgreSQL overflow),
JSON nested a thousand deep (the parser's recursion limit) and bodies that are not JSON at all.
Each view validating each of these would be a dozen copies of the same checks, so:

- ``before_request`` (:func:`check_url`): a NUL in the path or the query string answers 400;
- :class:`GatewayRequest` parses JSON strictly: a body that is not JSON, nested deeper than
  :data:`MAX_DEPTH`, holding NaN/Infinity or a repeated key answers 400; a NUL or an integer
  outside 64 bits answers 422 naming the field; also for ``get_json(silent=True)`` (a garbage
  body is an error, never "no body");
- form fields with a NUL answer 400;
- ``<int:...>`` URL parts are bounded to :data:`ID_MAX` (a larger id is simply not found);
- :func:`digits` and :func:`int_arg` read numbers from query strings and forms (ASCII digits,
  64 bits at most).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request, request
from werkzeug.routing import IntegerConverter

from ..errors import BadRequest, ValidationError

MAX_DEPTH = 32
INT_MAX = 2**63 - 1
#: The largest row id: primary keys are SQL ``INTEGER`` (32 bits on PostgreSQL).
ID_MAX = 2**31 - 1


class BoundedIntegerConverter(IntegerConverter):
    """``<int:id>`` bounded to 0 .. :data:`ID_MAX` (a row id the database can hold).

    A larger number becomes -1, which no row id or chunk index holds, so the view answers its own
    404/422 for every method alike. (Refusing it in the converter would make werkzeug answer 405
    where another method's rule shares the path: ``DELETE /sessions/<huge>`` after ``GET``'s rule.)
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        if len(value) > 20 or (self.max is not None and int(value) > self.max):
            return -1
        return super().to_python(value)


def _problem(where: str, message: str) -> BadRequest:
    return BadRequest(
        f"{where}: {message}", reason="bad_input", extra={"errors": [{"field": where, "message": message}]}
    )


def _invalid(where: str, message: str) -> ValidationError:
    return ValidationError([{"field": where or "body", "message": message}])


def check_value(value: Any) -> None:
    """Refuse parsed JSON that no view can store: nested too deep (400), or holding a NUL or an
    integer outside 64 bits (422 naming the field as the API's validation errors do: ``name``,
    ``inputs.n``, ``files[2]``)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _problem("body", f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            if "\x00" in item:
                raise _invalid(path, "contains a NUL character (not allowed in any text)")
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if not -INT_MAX - 1 <= item <= INT_MAX:
                raise _invalid(path, f"is outside the 64-bit range ({-INT_MAX - 1} .. {INT_MAX})")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if "\x00" in key:
                    raise _invalid(path, "has a key with a NUL character (not allowed in any text)")
                stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))


class _StrictJSONError(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and no column or schema of ours holds them.
    raise _StrictJSONError("body", f"holds {name}, which is not a JSON number (send a finite number)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key is ambiguous (which one wins differs between parsers): refuse it.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictJSONError(key, "is given more than once (send each key once)")
        out[key] = value
    return out


class GatewayRequest(Request):
    """Flask's request with strict JSON and NUL-free forms (see the module docstring)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            if silent:
                return None
            return super().get_json(force=force, silent=False, cache=cache)
        data = self.get_data(cache=cache)
        if not data.strip():
            return None
        try:
            value = json.loads(data, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
        except _StrictJSONError as exc:
            raise _problem(exc.where, exc.message) from None
        except RecursionError:
            raise _problem("body", f"is nested more than {MAX_DEPTH} levels deep") from None
        except ValueError as exc:
            raise _problem("body", f"is not valid JSON ({exc})") from None
        check_value(value)
        return value

    def _load_form_data(self) -> None:
        super()._load_form_data()
        for key, values in self.form.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                raise _problem(f"form field {key!r}", "contains a NUL character")


def check_url() -> None:
    """``before_request``: a NUL anywhere in the path or the query string answers 400."""
    if "\x00" in request.path:
        raise _problem("path", "contains a NUL character")
    if not request.query_string:  # nothing to parse
        return
    for key, values in request.args.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            raise _problem(f"query parameter {key!r}", "contains a NUL character")


def digits(text: str | None, most: int = INT_MAX) -> int | None:
    """``text`` as a number 0 .. ``most`` if it is plain ASCII digits, else None.

    Why: ``str.isdigit`` accepts '²' (which ``int`` refuses) and any length (which the database
    cannot store); every query argument, cursor and form number goes through here instead.
    """
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= most else None


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    """The query argument ``name`` as an integer in ``lo .. hi`` (``lo`` >= 0); 422 naming it otherwise."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = digits(raw.strip(), hi)
    if value is None or value < lo:
        raise ValidationError([{"field": name, "message": f"must be an integer between {lo} and {hi}"}])
    return value
