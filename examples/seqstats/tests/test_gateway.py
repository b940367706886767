"""The gateway: this project's settings, its applications submitted through the REST API with a
token, and the results page a user looks at."""

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from gateway_kit.identity.testing import login
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL
from gateway_kit.jobs.testing import make_member

from .conftest import SAMPLE


def submit(
    client: Any, headers: dict[str, str], app_id: str, inputs: dict[str, Any], fasta: bytes | None = None
) -> Any:
    body = {"application": app_id, "inputs": inputs}
    if fasta is None:
        return client.post("/api/v1/jobs", headers=headers, json=body)
    return client.post(
        "/api/v1/jobs",
        headers=headers,
        content_type="multipart/form-data",
        data={"request": json.dumps(body), "fasta": (io.BytesIO(fasta), "reads.fa")},
    )


def finish(app: Any, job_id: int) -> Any:
    job = wait_for(app, job_id, set(TERMINAL), timeout=60)
    assert job.state == "COMPLETED", (job.state_reason, (Path(job.workdir) / "stderr.txt").read_text())
    return job


def test_applications_and_their_schemas(app, headers) -> None:
    client = app.test_client()
    ids = {a["id"] for a in client.get("/api/v1/applications", headers=headers).json["applications"]}
    assert ids == {"composition", "kmers", "dataset-composition", "kmers-gpu"}
    kmers = client.get("/api/v1/applications/kmers", headers=headers).json
    k = kmers["inputs"]["properties"]["k"]
    assert (k["minimum"], k["maximum"]) == (1, 12)
    assert kmers["inputs"]["properties"]["fasta"]["format"] == "binary"
    ds = client.get("/api/v1/applications/dataset-composition", headers=headers).json
    assert ds["inputs"]["required"] == ["dataset"]
    gpu = client.get("/api/v1/applications/kmers-gpu", headers=headers).json
    assert gpu["resources"]["gpus"]["default"] == 1


def test_composition_runs_and_its_results_page_shows_table_and_plot(app, alice, headers) -> None:
    client = app.test_client()
    resp = submit(client, headers, "composition", {"bins": 6}, SAMPLE.read_bytes())
    assert resp.status_code == 201, resp.json
    assert resp.json["destination"] == "local"
    job = finish(app, resp.json["id"])
    outputs = {
        o["path"] for o in client.get(f"/api/v1/jobs/{job.id}/outputs", headers=headers).json["outputs"]
    }
    assert {"composition.tsv", "lengths.svg", "summary.json"} <= outputs

    browser = app.test_client()
    assert browser.get(f"/seqstats/jobs/{job.id}").status_code == 302  # to the login page
    login(browser, alice)
    page = browser.get(f"/seqstats/jobs/{job.id}").get_data(as_text=True)
    assert 'id="results-table"' in page and "<td>seq12</td>" in page and "n50" in page
    assert f'src="/seqstats/jobs/{job.id}/plot.svg"' in page
    svg = browser.get(f"/seqstats/jobs/{job.id}/plot.svg")
    assert svg.mimetype == "image/svg+xml" and b"Sequence lengths" in svg.data
    assert "sandbox" in svg.headers["Content-Security-Policy"]
    listing = browser.get("/seqstats/").get_data(as_text=True)
    assert f"/seqstats/jobs/{job.id}" in listing


def test_results_are_private(app, headers) -> None:
    client = app.test_client()
    job = finish(app, submit(client, headers, "kmers", {"k": 2}, SAMPLE.read_bytes()).json["id"])
    bob = make_member(app, "bob", "other", 1000.0)
    browser = app.test_client()
    login(browser, bob)
    assert browser.get(f"/seqstats/jobs/{job.id}").status_code == 404
    assert browser.get(f"/seqstats/jobs/{job.id}/plot.svg").status_code == 404


def test_kmers_bounds_and_results(app, headers) -> None:
    client = app.test_client()
    bad = submit(client, headers, "kmers", {"k": 13, "top": 0}, SAMPLE.read_bytes())
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json["errors"]} == {"inputs.k", "inputs.top"}
    resp = submit(client, headers, "kmers", {"k": 3, "top": 5, "canonical": True}, SAMPLE.read_bytes())
    job = finish(app, resp.json["id"])
    rows = (Path(job.workdir) / "kmers.tsv").read_text().splitlines()
    assert rows[0] == "kmer\tcount\tfraction" and len(rows) == 6


def test_not_fasta_fails_with_a_message_in_the_log(app, headers) -> None:
    client = app.test_client()
    resp = submit(client, headers, "composition", {}, b"this is not FASTA\n")
    job = wait_for(app, resp.json["id"], set(TERMINAL), timeout=60)
    assert job.state == "FAILED"
    log = client.get(f"/api/v1/jobs/{job.id}/logs?stream=stderr", headers=headers).json["data"]
    assert "sequence data before the first '>' header" in log


def _upload(client: Any, headers: dict[str, str], uid: str, path: str, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    r = client.post(
        f"/api/v1/datasets/{uid}/uploads",
        headers=headers,
        json={"path": path, "size": len(data), "sha256": digest, "chunk_size": 64 * 1024},
    )
    assert r.status_code in (200, 201), r.json
    for i in r.json["missing"]:
        part = data[i * 64 * 1024 : (i + 1) * 64 * 1024]
        put = client.put(
            f"/api/v1/datasets/{uid}/uploads/{r.json['id']}/chunks/{i}",
            data=part,
            headers={
                **headers,
                "X-Chunk-SHA256": hashlib.sha256(part).hexdigest(),
                "Content-Type": "application/octet-stream",
            },
        )
        assert put.status_code == 200, put.json
    done = client.post(f"/api/v1/datasets/{uid}/uploads/{r.json['id']}/complete", headers=headers)
    assert done.status_code == 201, done.json


def test_dataset_composition_reads_a_hosted_dataset(app, headers) -> None:
    client = app.test_client()
    r = client.post(
        "/api/v1/datasets",
        headers=headers,
        json={
            "name": "Reference contigs",
            "visibility": "project",
            "project": "genomics",
            "license": "CC-BY-4.0",
        },
    )
    assert r.status_code == 201, r.json
    uid = r.json["id"]
    _upload(client, headers, uid, "contigs/sample.fasta", SAMPLE.read_bytes())
    _upload(client, headers, uid, "more/tiny.fa", b">tiny\nGGCCGGCC\n")
    job = finish(app, submit(client, headers, "dataset-composition", {"dataset": uid}).json["id"])
    summary = json.loads((Path(job.workdir) / "summary.json").read_text())
    assert summary["sequences"] == 13


def test_gpu_application_is_routed_to_the_burst_destination(app, headers) -> None:
    client = app.test_client()
    resp = submit(client, headers, "kmers-gpu", {"k": 5}, SAMPLE.read_bytes())
    assert resp.status_code == 201, resp.json
    job = client.get(f"/api/v1/jobs/{resp.json['id']}", headers=headers).json
    assert job["destination"] == "burst" and job["resources"]["gpus"] == 1
    assert job["state"] == "QUEUED"  # the burst pool (a worker task) starts an instance for it


def test_settings_come_from_this_projects_gateway_toml(app) -> None:
    assert app.config["GATEWAY_NAME"] == "SeqStats"
    assert app.config["JOBS_ROUTING_RULES"] == {"kmers-gpu": "burst", "*": "local"}
    assert app.config["JOBS_DESTINATIONS_MAP"]["burst"]["executor"] == "burst"
