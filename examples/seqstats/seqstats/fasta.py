"""Sequence statistics in pure Python: FASTA parsing, GC content, lengths, k-mer counts.

No third-party packages, so the same code runs in the gateway's tests, on the local executor, on a
SLURM node or on a burst instance with nothing but Python installed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


class FastaError(ValueError):
    """The input is not FASTA (the message says where)."""


@dataclass(frozen=True)
class Record:
    id: str
    description: str
    sequence: str

    @property
    def length(self) -> int:
        return len(self.sequence)


def parse(lines: Iterable[str]) -> Iterator[Record]:
    """Records of a FASTA text; sequences upper-cased with whitespace removed.

    :raises FastaError: sequence data before the first header, or a record without an id.
    """
    header: str | None = None
    chunks: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if header is not None:
                yield _record(header, chunks)
            header, chunks = line[1:].strip(), []
            if not header:
                raise FastaError(f"line {number}: a '>' header without a sequence id")
        elif header is None:
            raise FastaError(
                f"line {number}: sequence data before the first '>' header (is this a FASTA file?)"
            )
        else:
            chunks.append("".join(line.split()).upper())
    if header is not None:
        yield _record(header, chunks)


def _record(header: str, chunks: list[str]) -> Record:
    ident, _, description = header.partition(" ")
    return Record(ident, description.strip(), "".join(chunks))


def read(handle: TextIO) -> list[Record]:
    records = list(parse(handle))
    if not records:
        raise FastaError("no FASTA records found (expected lines starting with '>')")
    return records


def gc_content(sequence: str) -> float:
    """Fraction of G and C among the unambiguous bases (A, C, G, T); 0.0 when there are none."""
    counts = Counter(sequence.upper())
    acgt = sum(counts[b] for b in "ACGT")
    return (counts["G"] + counts["C"]) / acgt if acgt else 0.0


def n50(lengths: Iterable[int]) -> int:
    """The length L such that sequences of length >= L hold at least half of all bases."""
    ordered = sorted(lengths, reverse=True)
    half, running = sum(ordered) / 2, 0
    for length in ordered:
        running += length
        if running >= half:
            return length
    return 0


def summary(records: list[Record]) -> dict[str, float | int]:
    lengths = [r.length for r in records]
    total = sum(lengths)
    gc_bases = sum(gc_content(r.sequence) * sum(r.sequence.count(b) for b in "ACGT") for r in records)
    acgt = sum(sum(r.sequence.count(b) for b in "ACGT") for r in records)
    return {
        "sequences": len(records),
        "total_length": total,
        "min_length": min(lengths, default=0),
        "max_length": max(lengths, default=0),
        "mean_length": round(total / len(lengths), 2) if lengths else 0,
        "n50": n50(lengths),
        "gc_content": round(gc_bases / acgt, 4) if acgt else 0.0,
    }


def histogram(values: list[int], bins: int) -> list[tuple[int, int, int]]:
    """``bins`` equal-width bins over ``values``: (low, high, count); high is inclusive."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    width = max(math.ceil((hi - lo + 1) / bins), 1)
    counts = Counter((v - lo) // width for v in values)
    used = (hi - lo) // width + 1
    return [(lo + i * width, lo + (i + 1) * width - 1, counts.get(i, 0)) for i in range(used)]


def reverse_complement(kmer: str) -> str:
    return kmer.translate(_COMPLEMENT)[::-1]


def kmer_counts(records: Iterable[Record], k: int, canonical: bool = False) -> Counter[str]:
    """Counts of every k-mer made only of A, C, G and T (k-mers spanning an N are skipped).

    With ``canonical`` a k-mer and its reverse complement count as one (the smaller of the two),
    as both strands are sequenced.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    counts: Counter[str] = Counter()
    for record in records:
        seq = record.sequence
        for i in range(len(seq) - k + 1):
            kmer = seq[i : i + k]
            if kmer.strip("ACGT"):
                continue
            if canonical:
                kmer = min(kmer, reverse_complement(kmer))
            counts[kmer] += 1
    return counts
