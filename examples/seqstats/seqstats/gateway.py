"""SeqStats: sequence statistics on FASTA files, as a gateway-kit plugin.

``init_app`` declares four applications and a results page that shows a job's table and plot:

``composition``
    GC content and the length distribution of an uploaded FASTA file.
``kmers``
    The most frequent k-mers of an uploaded FASTA file (k bounded 1..12).
``dataset-composition``
    ``composition`` over every FASTA file of a hosted dataset (input type ``dataset``).
``kmers-gpu``
    A k-mer count that asks for one GPU; ``gateway.toml`` routes it to the ``burst`` destination
    (routing is the gateway's policy, so the definition names no destination).

The programs are :mod:`seqstats.tools`, run with the gateway's own interpreter; the definition
sets ``PYTHONPATH`` to this package's parent so a job finds the package without inheriting the
worker's environment.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, send_file
from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.identity.access import current_user, login_required
from gateway_kit.jobs import service
from gateway_kit.jobs.apps import register_application
from gateway_kit.jobs.models import Job
from gateway_kit.web import add_nav

bp = Blueprint("seqstats", __name__, url_prefix="/seqstats", template_folder="templates")

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
TOOLS = [sys.executable, "-m", "seqstats.tools"]
KMERS = [*TOOLS, "kmers", "{fasta}", "--k", "{k}", "--top", "{top}"]
#: ``--canonical`` only when the box is ticked.
CANONICAL = {"if": "canonical", "args": ["--canonical"]}
#: Each application's table and plot (both among its outputs).
RESULTS = {
    "composition": ("composition.tsv", "lengths.svg"),
    "dataset-composition": ("composition.tsv", "lengths.svg"),
    "kmers": ("kmers.tsv", "kmers.svg"),
    "kmers-gpu": ("kmers.tsv", "kmers.svg"),
}
TABLE_ROWS = 100

FASTA_INPUT = {
    "name": "fasta",
    "type": "file",
    "label": "FASTA file",
    "max_size_mb": 50,
    "help": "Nucleotide sequences in FASTA format (.fa, .fasta, .fna).",
}
K_INPUT = {
    "name": "k",
    "type": "integer",
    "minimum": 1,
    "maximum": 12,
    "default": 4,
    "label": "k (k-mer length)",
    "help": "From 1 to 12.",
}
TOP_INPUT = {
    "name": "top",
    "type": "integer",
    "minimum": 1,
    "maximum": 1000,
    "default": 20,
    "label": "k-mers to list",
}
CANONICAL_INPUT = {
    "name": "canonical",
    "type": "boolean",
    "required": False,
    "help": "Count a k-mer and its reverse complement together.",
}
COMPOSITION_INPUTS = [
    {
        "name": "min_length",
        "type": "integer",
        "minimum": 0,
        "maximum": 10_000_000,
        "default": 0,
        "label": "Minimum length",
        "help": "Ignore sequences shorter than this.",
    },
    {
        "name": "bins",
        "type": "integer",
        "minimum": 5,
        "maximum": 100,
        "default": 20,
        "label": "Histogram bins",
    },
]
OUTPUTS = ["*.tsv", "*.svg", "summary.json"]
ENV = {"PYTHONPATH": PACKAGE_PARENT}


def applications() -> list[dict[str, Any]]:
    """The definitions (plain mappings: the same fields a TOML file would hold)."""
    return [
        {
            "id": "composition",
            "title": "GC content and lengths",
            "version": "1.0",
            "description": "GC content of every sequence and the length distribution of a FASTA "
            "file, with N50.",
            "inputs": [FASTA_INPUT, *COMPOSITION_INPUTS],
            "resources": {"cpus": 1, "memory_mb": 512, "walltime": 600},
            "command": [*TOOLS, "composition", "{fasta}", "--min-length", "{min_length}", "--bins", "{bins}"],
            "outputs": OUTPUTS,
            "env": ENV,
        },
        {
            "id": "kmers",
            "title": "k-mer counts",
            "version": "1.0",
            "description": "The most frequent k-mers of a FASTA file.",
            "inputs": [FASTA_INPUT, K_INPUT, TOP_INPUT, CANONICAL_INPUT],
            "resources": {"cpus": 1, "memory_mb": 1024, "walltime": 1800},
            "command": [*KMERS, CANONICAL],
            "outputs": OUTPUTS,
            "env": ENV,
        },
        {
            "id": "dataset-composition",
            "title": "GC content of a dataset",
            "version": "1.0",
            "description": "GC content and lengths over every FASTA file of a hosted dataset "
            "(upload it once under Datasets, analyse it many times).",
            "inputs": [
                {
                    "name": "dataset",
                    "type": "dataset",
                    "label": "Dataset",
                    "help": "A dataset id (ds-...) you may read.",
                },
                *COMPOSITION_INPUTS,
            ],
            "resources": {"cpus": 1, "memory_mb": 1024, "walltime": 1800},
            "command": [
                *TOOLS,
                "composition",
                "{dataset}",
                "--min-length",
                "{min_length}",
                "--bins",
                "{bins}",
            ],
            "outputs": OUTPUTS,
            "env": ENV,
        },
        {
            "id": "kmers-gpu",
            "title": "k-mer counts (GPU)",
            "version": "1.0",
            "description": "k-mer counts for large inputs on a GPU instance started on demand.",
            "inputs": [FASTA_INPUT, K_INPUT, TOP_INPUT, CANONICAL_INPUT],
            "resources": {"cpus": 4, "memory_mb": 8192, "gpus": 1, "walltime": 3600},
            "command": [*KMERS, "--report-gpus", CANONICAL],
            "outputs": OUTPUTS,
            "env": ENV,
        },
    ]


def _job(job_id: int) -> Job:
    user = current_user()
    assert user is not None  # login_required ran
    job = service.get_job(db.session, user, job_id)  # 404 unless the caller may see it
    if job.app_id not in RESULTS:
        abort(404)
    return job


@bp.route("/")
@login_required
def index() -> str:
    user = current_user()
    assert user is not None
    jobs = db.session.scalars(
        select(Job)
        .where(Job.user_id == user.id, Job.app_id.in_(list(RESULTS)))
        .order_by(Job.id.desc())
        .limit(50)
    ).all()
    return render_template("seqstats/index.html", jobs=jobs)


@bp.route("/jobs/<int:job_id>")
@login_required
def results(job_id: int) -> str:
    job = _job(job_id)
    table_name, plot_name = RESULTS[job.app_id]
    names = {o["path"] for o in service.outputs(job)}
    header: list[str] = []
    rows: list[list[str]] = []
    if table_name in names:
        with service.open_output(job, table_name) as raw, io.TextIOWrapper(raw, encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader, [])
            rows = [row for _, row in zip(range(TABLE_ROWS), reader, strict=False)]
    stats: dict[str, Any] = {}
    if "summary.json" in names:
        with service.open_output(job, "summary.json") as raw:
            stats = json.loads(raw.read().decode("utf-8"))
    return render_template(
        "seqstats/results.html",
        job=job,
        header=header,
        rows=rows,
        stats=stats,
        table_name=table_name,
        plot=plot_name if plot_name in names else None,
    )


@bp.route("/jobs/<int:job_id>/plot.svg")
@login_required
def plot(job_id: int) -> Response:
    job = _job(job_id)
    resp = send_file(service.open_output(job, RESULTS[job.app_id][1]), mimetype="image/svg+xml")
    # A job wrote this file: shown through <img> it cannot run scripts, and opened on its own the
    # sandbox keeps it from acting as this origin.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def init_app(app: Flask) -> None:
    for definition in applications():
        register_application(app, definition, source=__name__)
    app.register_blueprint(bp)
    add_nav(app, "seqstats.index", "Results", role="user", order=40)
