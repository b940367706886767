"""Previews of files shown inline in pages (job outputs, dataset files): text, CSV, JSON, images.

A preview reads at most :data:`TEXT_LIMIT` bytes (so a huge output never fills a page or the
server's memory); tables show at most :data:`ROW_LIMIT` rows. Images are not read here: the page
points an ``<img>`` at the file's download address. Nothing is interpreted: text is escaped by
the template, JSON is parsed only to indent it, SVG is never inlined (it may carry script).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import IO, Any

TEXT_LIMIT = 256 * 1024
ROW_LIMIT = 200
IMAGE_LIMIT = 20 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
TEXT_SUFFIXES = (
    ".txt",
    ".log",
    ".out",
    ".err",
    ".md",
    ".fasta",
    ".fa",
    ".fastq",
    ".py",
    ".toml",
    ".yaml",
    ".yml",
)


@dataclass
class Preview:
    """What a page shows of one file: ``kind`` is ``text``, ``table``, ``json``, ``image``,
    ``binary`` (offer the download) or ``too-large`` (an image over the limit)."""

    kind: str
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    limit: int = TEXT_LIMIT


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > name.rfind("/") else ""


def is_image(name: str) -> bool:
    return _suffix(name) in IMAGE_SUFFIXES


def preview(name: str, size: int, opener: Any) -> Preview:
    """The preview of file ``name`` of ``size`` bytes; ``opener()`` opens it for reading (binary),
    called only when its bytes are needed."""
    suffix = _suffix(name)
    if suffix in IMAGE_SUFFIXES:
        return Preview("image" if size <= IMAGE_LIMIT else "too-large", limit=IMAGE_LIMIT)
    with opener() as f:
        head = _read(f, TEXT_LIMIT + 1)
    truncated = len(head) > TEXT_LIMIT
    head = head[:TEXT_LIMIT]
    if b"\0" in head[:8192]:
        return Preview("binary")
    text = head.decode("utf-8", errors="replace")
    if suffix in TABLE_SUFFIXES:
        rows = list(_rows(text, TABLE_SUFFIXES[suffix], drop_last=truncated))
        return Preview("table", rows=rows[:ROW_LIMIT], truncated=truncated or len(rows) > ROW_LIMIT)
    if suffix == ".json" and not truncated:
        try:
            return Preview("json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            pass  # not valid JSON: shown as text
    if suffix in TEXT_SUFFIXES or suffix in (".json", "") or _printable(text):
        return Preview("text", text=text, truncated=truncated)
    return Preview("binary")


def _read(f: IO[bytes], n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        block = f.read(n - len(out))
        if not block:
            break
        out += block
    return bytes(out)


def _rows(text: str, delimiter: str, drop_last: bool) -> Any:
    lines = text.splitlines()
    if drop_last and lines:
        lines = lines[:-1]  # cut in the middle by the limit
    try:
        yield from csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    except csv.Error:
        return


def _printable(text: str) -> bool:
    sample = text[:4096]
    return bool(sample) and sum(c.isprintable() or c in "\n\r\t" for c in sample) / len(sample) > 0.95
