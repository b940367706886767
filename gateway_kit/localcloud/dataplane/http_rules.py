"""HTTP on the load balancers' listeners, as pure functions: request heads, L7 rules, answers.

No I/O here: :mod:`.balancer` reads the bytes and calls these.
"""

from __future__ import annotations

import re

from gateway_kit.localcloud.store import Doc

REASONS = {301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect",
           308: "Permanent Redirect", 403: "Forbidden", 503: "Service Unavailable"}  # fmt: skip


def expected(codes: str, status: int) -> bool:
    """Whether ``status`` is in Octavia's ``expected_codes`` (``200``, ``200,202``, ``200-204``)."""
    for part in str(codes or "200").split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and int(low) <= status <= int(high or low):
            return True
    return False


def parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    """``(method, target, version, headers)`` of an HTTP/1.x request head.

    :raises ValueError: not a request head.
    """
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return method, target, version, headers


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None


def compare(kind: str, actual: str | None, value: str) -> bool:
    if actual is None:
        return False
    if kind == "EQUAL_TO":
        return actual == value
    if kind == "STARTS_WITH":
        return actual.startswith(value)
    if kind == "ENDS_WITH":
        return actual.endswith(value)
    if kind == "CONTAINS":
        return value in actual
    if kind == "REGEX":
        return re.search(value, actual) is not None
    return False


def rule_matches(rule: Doc, headers: list[tuple[str, str]], path: str) -> bool:
    """One L7 rule against a request (``invert`` honoured)."""
    kind, key, value = rule.get("type"), rule.get("key"), str(rule.get("value", ""))
    actual: str | None
    if kind == "HOST_NAME":
        actual = (header(headers, "Host") or "").split(":")[0]
    elif kind == "PATH":
        actual = path.split("?")[0]
    elif kind == "FILE_TYPE":
        last = path.split("?")[0].rsplit("/", 1)[-1]
        actual = last.rsplit(".", 1)[1] if "." in last else ""
    elif kind == "HEADER":
        actual = header(headers, str(key))
    elif kind == "COOKIE":
        cookies = dict(
            c.strip().split("=", 1) for c in (header(headers, "Cookie") or "").split(";") if "=" in c
        )
        actual = cookies.get(str(key))
    else:
        return False
    hit = compare(str(rule.get("compare_type")), actual, value)
    return hit != bool(rule.get("invert"))


def response(status: int, extra: str = "", body: str = "") -> bytes:
    reason = REASONS.get(status, "")
    text = body or f"<html><body><h1>{status} {reason}</h1></body></html>\n"
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-length: {len(text)}\r\ncache-control: no-cache\r\n"
        f"content-type: text/html\r\nconnection: close\r\n{extra}\r\n{text}"
    ).encode("latin-1")


NO_SERVER = (
    "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n"
    "</body></html>\n"
)
