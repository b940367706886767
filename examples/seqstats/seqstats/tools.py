"""The programs the seqstats applications run: ``python -m seqstats.tools COMMAND ...``.

Each runs in the job's folder and writes its results there; the application definitions in
:mod:`seqstats.gateway` list which files are outputs. Exit status 2 with a one-line message on
bad input (for example a file that is not FASTA), so the job page says what went wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .fasta import FastaError, Record, gc_content, histogram, kmer_counts, read, summary
from .plots import bar_chart

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")


def load(path: Path) -> list[Record]:
    """The records of a FASTA file, or of every FASTA file under a folder (a dataset)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in FASTA_SUFFIXES)
        if not files:
            raise FastaError(f"no FASTA files ({', '.join(FASTA_SUFFIXES)}) in the dataset")
    else:
        files = [path]
    records: list[Record] = []
    for f in files:
        with f.open(encoding="utf-8", errors="replace") as handle:
            records += read(handle)
    return records


def composition(args: argparse.Namespace) -> None:
    records = [r for r in load(Path(args.fasta)) if r.length >= args.min_length]
    if not records:
        raise FastaError(f"no sequence is at least {args.min_length} bases long")

    with open("composition.tsv", "w", encoding="utf-8") as out:
        out.write("id\tlength\tgc_content\n")
        for r in records:
            out.write(f"{r.id}\t{r.length}\t{gc_content(r.sequence):.4f}\n")
    bins = histogram([r.length for r in records], args.bins)
    with open("lengths.svg", "w", encoding="utf-8") as out:
        out.write(
            bar_chart(
                [(f"{lo}", n) for lo, _hi, n in bins],
                "Sequence lengths",
                "length (bases, bin start)",
                "sequences",
            )
        )
    stats = summary(records)
    Path("summary.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(
        f"{stats['sequences']} sequences, {stats['total_length']} bases, "
        f"GC {stats['gc_content']:.2%}, N50 {stats['n50']}"
    )


def kmers(args: argparse.Namespace) -> None:
    if args.report_gpus:
        # A GPU job is given its devices in CUDA_VISIBLE_DEVICES by every executor.
        print(f"GPUs: {os.environ.get('CUDA_VISIBLE_DEVICES', 'none visible')}")
    records = load(Path(args.fasta))
    counts = kmer_counts(records, args.k, canonical=args.canonical)
    top = counts.most_common(args.top)
    total = sum(counts.values())
    with open("kmers.tsv", "w", encoding="utf-8") as out:
        out.write("kmer\tcount\tfraction\n")
        for kmer, n in top:
            out.write(f"{kmer}\t{n}\t{n / total:.6f}\n")
    with open("kmers.svg", "w", encoding="utf-8") as out:
        out.write(bar_chart(top[:40], f"Most frequent {args.k}-mers", f"{args.k}-mer", "count"))
    result = {"k": args.k, "canonical": args.canonical, "distinct": len(counts), "total": total}
    Path("summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{total} {args.k}-mers, {len(counts)} distinct")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqstats")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("composition", help="GC content and length distribution")
    c.add_argument("fasta")
    c.add_argument("--min-length", type=int, default=0)
    c.add_argument("--bins", type=int, default=20)
    c.set_defaults(run=composition)
    k = sub.add_parser("kmers", help="k-mer counts")
    k.add_argument("fasta")
    k.add_argument("--k", type=int, default=4)
    k.add_argument("--top", type=int, default=20)
    k.add_argument("--canonical", action="store_true")
    k.add_argument("--report-gpus", action="store_true")
    k.set_defaults(run=kmers)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (FastaError, OSError) as exc:
        print(f"seqstats: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
