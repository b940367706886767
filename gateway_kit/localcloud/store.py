"""SQLite persistence for the local cloud: one JSON document per resource.

Every resource of every service is a JSON object with an ``"id"`` key, filed under a *kind*
(``"compute.server"``, ``"network.port"``, ``"dns.zone"``...). The store keeps all documents in
memory for fast reads and writes each change through to SQLite at once, so a restart of the
local cloud (same state directory) finds every resource again.

Keys starting with an underscore (``"_lc"``) are internal bookkeeping of the core (pending state
transitions, holds); services render responses from the public keys only.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""


class Store:
    """A write-through document store.

    :param path: the SQLite file; ``None`` keeps everything in memory only.

    Documents handed out are deep copies: change one and :meth:`put` it back to persist it.
    All methods are thread-safe.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._docs: dict[str, dict[str, Doc]] = {}
        self._seq = 0
        for kind, doc_id, seq, data in self._db.execute(
            "SELECT kind, id, seq, data FROM resources ORDER BY seq"
        ):
            self._docs.setdefault(kind, {})[doc_id] = json.loads(data)
            self._seq = max(self._seq, seq)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, kind: str, doc_id: str) -> Doc | None:
        """Return a copy of one document, or ``None``."""
        with self._lock:
            doc = self._docs.get(kind, {}).get(doc_id)
            return copy.deepcopy(doc) if doc is not None else None

    def all(self, kind: str) -> list[Doc]:
        """Return copies of all documents of a kind, oldest first."""
        with self._lock:
            return [copy.deepcopy(d) for d in self._docs.get(kind, {}).values()]

    def find(self, kind: str, predicate: Callable[[Doc], bool]) -> list[Doc]:
        """Return copies of the documents of a kind for which ``predicate`` is true."""
        with self._lock:
            return [copy.deepcopy(d) for d in self._docs.get(kind, {}).values() if predicate(d)]

    def find_eq(self, kind: str, **fields: Any) -> list[Doc]:
        """Return copies of the documents of a kind whose fields equal the given values."""
        with self._lock:
            return [
                copy.deepcopy(d)
                for d in self._docs.get(kind, {}).values()
                if all(d.get(k) == v for k, v in fields.items())
            ]

    def pending(self) -> list[tuple[str, Doc]]:
        """Copies of the documents (of every kind) that have state transitions queued and are
        not held, with their kinds, oldest first."""
        with self._lock:
            return [
                (kind, copy.deepcopy(d))
                for kind, bucket in self._docs.items()
                for d in bucket.values()
                if d.get("_lc", {}).get("queue") and not d["_lc"].get("held")
            ]

    def count(self, kind: str, predicate: Callable[[Doc], bool] | None = None) -> int:
        with self._lock:
            docs = self._docs.get(kind, {}).values()
            return sum(1 for d in docs if predicate is None or predicate(d))

    def put(self, kind: str, doc: Doc) -> Doc:
        """Insert or replace a document (keyed by ``doc["id"]``) and persist it."""
        doc_id = str(doc["id"])
        with self._lock:
            bucket = self._docs.setdefault(kind, {})
            self._seq += 1
            seq = self._seq
            if doc_id in bucket:
                row = self._db.execute(
                    "SELECT seq FROM resources WHERE kind=? AND id=?", (kind, doc_id)
                ).fetchone()
                if row is not None:
                    seq = row[0]
            bucket[doc_id] = copy.deepcopy(doc)
            self._db.execute(
                "INSERT OR REPLACE INTO resources (kind, id, seq, data) VALUES (?, ?, ?, ?)",
                (kind, doc_id, seq, json.dumps(doc, sort_keys=True)),
            )
            self._db.commit()
        return doc

    def delete(self, kind: str, doc_id: str) -> bool:
        """Remove a document; return whether it existed."""
        with self._lock:
            existed = self._docs.get(kind, {}).pop(doc_id, None) is not None
            self._db.execute("DELETE FROM resources WHERE kind=? AND id=?", (kind, doc_id))
            self._db.commit()
            return existed

    def kinds(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._docs))

    def clear(self) -> None:
        """Remove every document of every kind."""
        with self._lock:
            self._docs.clear()
            self._db.execute("DELETE FROM resources")
            self._db.commit()
