"""The file browser of a job's outputs (folders, previews with limits, downloads, a folder as a
zip, copy into a dataset), a dataset file's page, and jobs compared side by side; who may see
what."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..jobs.conftest import World, app_files

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
SCRIPT = f"""
import json, os, sys
n = int(sys.argv[1])
os.makedirs("results", exist_ok=True)
open("results/table.csv", "w").write("x,y\\n" + "".join("%d,%d\\n" % (i, i * n) for i in range(3)))
json.dump({{"n": n, "ok": True}}, open("results/data.json", "w"))
open("results/plot.png", "wb").write(bytes.fromhex("{PNG.hex()}"))
open("big.log", "w").write("line of the log\\n" * 20000)
os.symlink("/etc/passwd", "evil")
print("done", n)
"""
APP = f"""
[[application]]
id = "results"
title = "Results maker"
version = "1"
command = ["{{python}}", "-c", '''{SCRIPT}''', "{{n}}"]
outputs = ["results/*", "big.log", "evil"]
[[application.inputs]]
name = "n"
type = "integer"
"""


def _world(tmp_path: Path) -> World:
    extra = tmp_path / "more-apps"
    extra.mkdir()
    import sys

    (extra / "results.toml").write_text(APP.replace("{python}", sys.executable))
    return World(tmp_path, JOBS_APPLICATION_FILES=[*app_files(tmp_path), str(extra)])


def _job(client: Any, world: World, n: int) -> int:
    r = client.post("/apps/results", data={"n": str(n), "name": f"run {n}"})
    assert r.status_code == 302, r.get_data(as_text=True)
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert wait_for(world.app, job_id, set(TERMINAL), 30).state == "COMPLETED"
    return job_id


def test_browse_preview_archive_copy_and_compare(tmp_path: Path) -> None:
    world = _world(tmp_path)
    alice = world.login(world.alice)
    one, two = _job(alice, world, 1), _job(alice, world, 2)

    top = alice.get(f"/jobs/{one}/files/").get_data(as_text=True)
    names = re.findall(r'<a class="entry" href="[^"]+">([^<]+)</a>', top)
    assert names == ["results/", "big.log", "stderr.txt", "stdout.txt"], (
        names
    )  # folders first; no link 'evil'
    folder = alice.get(f"/jobs/{one}/files/results").get_data(as_text=True)
    assert re.findall(r'<a class="entry" href="[^"]+">([^<]+)</a>', folder) == [
        "data.json",
        "plot.png",
        "table.csv",
    ]

    csv = alice.get(f"/jobs/{one}/files/results/table.csv").get_data(as_text=True)
    assert "<tr><th>x</th><th>y</th></tr>" in csv and "<tr><td>2</td><td>2</td></tr>" in csv
    data = alice.get(f"/jobs/{one}/files/results/data.json").get_data(as_text=True)
    assert "{\n  &#34;n&#34;: 1,\n  &#34;ok&#34;: true\n}" in data
    image = alice.get(f"/jobs/{one}/files/results/plot.png").get_data(as_text=True)
    assert f'<img class="preview-image" src="/api/v1/jobs/{one}/outputs/results/plot.png"' in image
    assert alice.get(f"/api/v1/jobs/{one}/outputs/results/plot.png").data == PNG
    log = alice.get(f"/jobs/{one}/files/big.log").get_data(as_text=True)
    shown = re.search(r'<pre class="preview">(.*?)</pre>', log, re.S)
    assert shown is not None and len(shown.group(1)) <= 256 * 1024 and "Only the first 262.14 kB" in log

    for bad in ("evil", "results/nope.csv", "../../etc/passwd", "inputs"):
        assert alice.get(f"/jobs/{one}/files/{bad}").status_code == 404, bad

    whole = zipfile.ZipFile(io.BytesIO(alice.get(f"/jobs/{one}/archive/").data))
    assert sorted(whole.namelist()) == [
        "big.log",
        "results/data.json",
        "results/plot.png",
        "results/table.csv",
        "stderr.txt",
        "stdout.txt",
    ]
    part = alice.get(f"/jobs/{one}/archive/results")
    assert part.headers["Content-Disposition"].endswith(f"job-{one}-results.zip")
    assert zipfile.ZipFile(io.BytesIO(part.data)).read("plot.png") == PNG

    # Copy an output into a dataset alice owns.
    r = alice.post("/datasets/new", data={"name": "Runs", "project": "astro", "visibility": "private"})
    uid = r.headers["Location"].rsplit("/", 1)[1]
    data = alice.get(f"/jobs/{one}/files/results/data.json").get_data(as_text=True)
    assert f'<option value="{uid}">Runs ({uid})</option>' in data
    r = alice.post(
        f"/jobs/{one}/to-dataset", data={"rel": "results/data.json", "dataset": uid, "path": "run1/data.json"}
    )
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/datasets/{uid}")
    files = {f["path"]: f["sha256"] for f in alice.get(f"/api/v1/datasets/{uid}").get_json()["files"]}
    assert files == {"run1/data.json": hashlib.sha256(b'{"n": 1, "ok": true}').hexdigest()}
    view = alice.get(f"/datasets/{uid}/view/run1/data.json").get_data(as_text=True)
    assert "{\n  &#34;n&#34;: 1," in view
    r = alice.post(f"/jobs/{one}/to-dataset", data={"rel": "evil", "dataset": uid})
    assert r.status_code == 404

    # Compare: from the list's form, then side by side with one output in each.
    r = alice.post("/jobs/cancel", data={"action": "compare", "job": [str(one), str(two)]})
    assert r.status_code == 302 and r.headers["Location"] == f"/jobs/compare?job={one}&job={two}"
    page = alice.get(f"/jobs/compare?job={one}&job={two}&file=results/data.json").get_data(as_text=True)
    assert f'id="compare-{one}"' in page and f'id="compare-{two}"' in page
    assert "&#34;n&#34;: 1," in page and "&#34;n&#34;: 2," in page
    assert alice.get(f"/jobs/compare?job={one}").status_code == 302  # one job: back to the list

    # Others see none of it.
    bob = world.other_client(world.bob)
    for url in (
        f"/jobs/{one}/files/",
        f"/jobs/{one}/files/results/data.json",
        f"/jobs/{one}/archive/",
        f"/jobs/compare?job={one}&job={two}",
        f"/datasets/{uid}/view/run1/data.json",
    ):
        assert bob.get(url).status_code == 404, url
    r = bob.post(f"/jobs/{one}/to-dataset", data={"rel": "results/data.json", "dataset": uid})
    assert r.status_code == 404
    assert world.app.test_client().get(f"/jobs/{one}/files/").status_code in (302, 401)
