"""Names that fit in a certificate: normalisation, checks and short aliases (pure functions).

Certificate authorities put one name in the subject's common name, which X.509 limits to 64
characters (RFC 5280 ``ub-common-name``); Let's Encrypt refuses an order whose every name is
longer. Generated cloud names (``<instance>-<project>-<allocation>.<site>.<cloud>.org``) often
are, so :func:`plan_names` moves a name that fits to the front and otherwise proposes a short
alias in the same domain (the deployment then serves the alias as well, e.g. through a CNAME).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .errors import BadName

#: RFC 5280 upper bound of a common name.
CN_MAX = 64
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise(name: str) -> str:
    """Lower-case, IDNA-encoded, without the trailing dot; raise :class:`BadName` if malformed."""
    text = name.strip().rstrip(".").lower()
    wildcard = text.startswith("*.")
    body = text[2:] if wildcard else text
    try:
        body = body.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise BadName(f"{name!r} is not a valid DNS name.") from exc
    labels = body.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise BadName(
            f"{name!r} is not a valid DNS name: use letters, digits and hyphens in dot-separated "
            "labels of 1-63 characters (a wildcard only as the whole first label, '*.')."
        )
    if len(body) > 253:
        raise BadName(f"{name!r} is longer than the 253 characters a DNS name may have.")
    return ("*." if wildcard else "") + body


def short_alias(name: str) -> str:
    """A stable short alias for ``name`` in the same parent domain (``<label>-<hash>.<parent>``)."""
    base = name[2:] if name.startswith("*.") else name
    first, _, parent = base.partition(".")
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    room = CN_MAX - len(parent) - len(digest) - 2
    if room < 1:
        return f"{digest}.{parent}"
    return f"{first[: min(room, 16)].rstrip('-')}-{digest}.{parent}"


@dataclass
class NamePlan:
    """The names to order, in order (the first becomes the common name), and warnings."""

    names: list[str]
    warnings: list[str] = field(default_factory=list)


def plan_names(requested: list[str], *, add_alias: bool = False) -> NamePlan:
    """Normalise and order ``requested`` so that the first name fits a common name.

    :param add_alias: when no name fits, prepend :func:`short_alias` of the first one instead of
        failing.
    :raises BadName: a malformed name, no name at all, or no name that fits (without alias).
    """
    names: list[str] = []
    for raw in requested:
        name = normalise(raw)
        if name not in names:
            names.append(name)
    if not names:
        raise BadName("Give at least one name for the certificate.")
    plan = NamePlan(names)
    if len(names[0]) <= CN_MAX:
        return plan
    fitting = [n for n in names if len(n) <= CN_MAX]
    if fitting:
        plan.names = [fitting[0]] + [n for n in names if n != fitting[0]]
        plan.warnings.append(
            f"{names[0]} is longer than {CN_MAX} characters; {fitting[0]} becomes the common name."
        )
        return plan
    alias = short_alias(names[0])
    if len(alias) > CN_MAX:
        raise BadName(
            f"{names[0]} is longer than the {CN_MAX} characters certificate authorities accept "
            "for a common name, and so is its parent domain; use a shorter name."
        )
    if not add_alias:
        raise BadName(
            f"{names[0]} is {len(names[0])} characters long; certificate authorities accept at "
            f"most {CN_MAX} in the common name. Add a short alias such as {alias} (it must "
            f"resolve to the same service), e.g. 'gateway-kit certs issue {alias} {names[0]}', "
            "or pass --alias to add it."
        )
    plan.names = [alias, *names]
    plan.warnings.append(
        f"{names[0]} is longer than {CN_MAX} characters; added the short alias {alias} as the "
        "common name (point it at the same service)."
    )
    return plan
