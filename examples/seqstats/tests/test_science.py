"""The science code: pure functions and the programs, without the gateway."""

import io
import itertools
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from seqstats import fasta, tools
from seqstats.plots import bar_chart

SAMPLE = Path(__file__).resolve().parent / "data" / "sample.fasta"
#: Parses SVG this project wrote itself (not untrusted input).
parse_svg = ET.fromstring


def test_parse_joins_lines_and_splits_the_header() -> None:
    records = list(fasta.parse(io.StringIO(">a first one\nacg\nT N\n\n;comment\n>b\nGG\n")))
    assert [(r.id, r.description, r.sequence) for r in records] == [
        ("a", "first one", "ACGTN"),
        ("b", "", "GG"),
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ACGT\n>a\nA\n", "line 1: sequence data before"),
        (">\nACGT\n", "line 1: a '>' header"),
    ],
)
def test_parse_errors_name_the_line(text: str, needle: str) -> None:
    with pytest.raises(fasta.FastaError, match=needle):
        list(fasta.parse(io.StringIO(text)))


def test_read_refuses_an_empty_file() -> None:
    with pytest.raises(fasta.FastaError, match="no FASTA records"):
        fasta.read(io.StringIO("\n"))


def test_gc_content_ignores_ambiguous_bases() -> None:
    assert fasta.gc_content("GCAT") == 0.5
    assert fasta.gc_content("GGNN") == 1.0
    assert fasta.gc_content("NNNN") == 0.0


def test_n50_and_summary() -> None:
    assert fasta.n50([2, 3, 4, 5, 6, 7, 8, 9, 10]) == 8
    assert fasta.n50([]) == 0
    stats = fasta.summary([fasta.Record("a", "", "GGCC"), fasta.Record("b", "", "AATTAATT")])
    assert stats == {
        "sequences": 2,
        "total_length": 12,
        "min_length": 4,
        "max_length": 8,
        "mean_length": 6.0,
        "n50": 8,
        "gc_content": round(4 / 12, 4),
    }


def test_histogram_covers_every_value_once() -> None:
    values = [1, 2, 2, 9, 10, 35]
    bins = fasta.histogram(values, 4)
    assert sum(n for _, _, n in bins) == len(values)
    assert bins[0][0] == 1 and bins[-1][1] >= 35
    assert all(b[1] + 1 == nxt[0] for b, nxt in itertools.pairwise(bins))
    assert fasta.histogram([], 5) == []
    assert fasta.histogram([7, 7], 5) == [(7, 7, 2)]


def test_kmer_counts_skip_n_and_fold_reverse_complements() -> None:
    rec = [fasta.Record("a", "", "AACGTTN")]
    assert fasta.kmer_counts(rec, 2) == {"AA": 1, "AC": 1, "CG": 1, "GT": 1, "TT": 1}
    assert fasta.kmer_counts(rec, 2, canonical=True) == {"AA": 2, "AC": 2, "CG": 1}
    assert fasta.reverse_complement("AACG") == "CGTT"
    with pytest.raises(ValueError):
        fasta.kmer_counts(rec, 0)


def test_bar_chart_is_well_formed_svg_and_escapes_labels() -> None:
    svg = bar_chart([("<b>", 3), ("x&y", 0)], "T <i>", "x", "y")
    root = parse_svg(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    parse_svg(bar_chart([], "empty", "x", "y"))


def test_programs_write_their_outputs(tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert tools.main(["composition", str(SAMPLE), "--bins", "5"]) == 0
        rows = (tmp_path / "composition.tsv").read_text().splitlines()
        assert rows[0] == "id\tlength\tgc_content" and len(rows) == 13
        assert json.loads((tmp_path / "summary.json").read_text())["sequences"] == 12
        parse_svg((tmp_path / "lengths.svg").read_text())
        assert tools.main(["kmers", str(SAMPLE), "--k", "3", "--top", "5", "--canonical"]) == 0
        assert len((tmp_path / "kmers.tsv").read_text().splitlines()) == 6
        assert tools.main(["composition", str(SAMPLE), "--min-length", "10000"]) == 2
        (tmp_path / "not.fa").write_text("hello\n")
        assert tools.main(["kmers", str(tmp_path / "not.fa")]) == 2
        dataset = tmp_path / "ds"
        (dataset / "sub").mkdir(parents=True)
        (dataset / "sub" / "x.fasta").write_text(">x\nGGCC\n")
        (dataset / "README.txt").write_text("not fasta, ignored\n")
        assert tools.main(["composition", str(dataset)]) == 0
        assert json.loads((tmp_path / "summary.json").read_text())["gc_content"] == 1.0
    finally:
        os.chdir(cwd)
