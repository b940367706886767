"""SLURM hostlists (``node[1-3,7],gpu[01-02]``) expanded and compressed, without I/O.

``scontrol show hostnames`` is the reference; :func:`expand` gives the same answer for the forms
SLURM prints (ranges with zero padding, several bracket groups, comma-separated lists).
"""

from __future__ import annotations

import itertools
import re

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in hostlist {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ValueError(f"unbalanced '[' in hostlist {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _expand_ranges(body: str) -> list[str]:
    out: list[str] = []
    for item in body.split(","):
        m = _RANGE.match(item.strip())
        if not m:
            raise ValueError(f"bad range {item!r} in hostlist")
        lo, hi = m.group(1), m.group(2) or m.group(1)
        width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
        if int(hi) < int(lo):
            raise ValueError(f"descending range {item!r} in hostlist")
        if int(hi) - int(lo) > 100_000:
            raise ValueError(f"range {item!r} too large")
        out.extend(str(n).zfill(width) for n in range(int(lo), int(hi) + 1))
    return out


def _expand_one(pattern: str) -> list[str]:
    pieces: list[list[str]] = []
    pos = 0
    for m in re.finditer(r"\[([^\]]*)\]", pattern):
        pieces.append([pattern[pos : m.start()]])
        pieces.append(_expand_ranges(m.group(1)))
        pos = m.end()
    pieces.append([pattern[pos:]])
    if any("[" in p or "]" in p for group in pieces for p in group if len(group) == 1):
        raise ValueError(f"bad hostlist {pattern!r}")
    return ["".join(combo) for combo in itertools.product(*pieces)]


def expand(hostlist: str) -> list[str]:
    """Every host name of ``hostlist``, in order, without duplicates."""
    seen: dict[str, None] = {}
    for part in _split_top(hostlist):
        for name in _expand_one(part):
            seen.setdefault(name, None)
    return list(seen)


def compress(names: list[str]) -> str:
    """A short hostlist for ``names`` (``node[1-3,5]``); the inverse of :func:`expand` for simple
    ``prefix + number`` names, others are listed as they are."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    padded: dict[str, int] = {}  # prefix -> width of its zero-padded numbers
    matches = [(name, re.match(r"^(.*?)(\d+)$", name)) for name in names]
    for _, m in matches:
        if m and m.group(2).startswith("0") and len(m.group(2)) > 1:
            padded[m.group(1)] = len(m.group(2))
    for name, m in matches:
        if not m:
            plain.append(name)
            continue
        digits = m.group(2)
        width = padded.get(m.group(1), 0)
        width = width if len(digits) == width else 0
        groups.setdefault((m.group(1), width), []).append(int(digits))
    out = list(plain)
    for (prefix, width), nums in groups.items():
        nums = sorted(set(nums))
        if len(nums) == 1:
            out.append(f"{prefix}{str(nums[0]).zfill(width)}")
            continue
        ranges = []
        for _, run in itertools.groupby(enumerate(nums), lambda p: p[1] - p[0]):
            seq = [n for _, n in run]
            a, b = str(seq[0]).zfill(width), str(seq[-1]).zfill(width)
            ranges.append(a if a == b else f"{a}-{b}")
        out.append(f"{prefix}[{','.join(ranges)}]")
    return ",".join(out)
