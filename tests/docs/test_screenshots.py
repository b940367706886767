"""Screenshots of the main pages for the docs, taken by a real browser (headless Chromium) on
the SeqStats example running under ``gateway-kit demo``.

The test always checks that every page renders and yields an image; with
``GK_UPDATE_SCREENSHOTS=1`` it also writes them into ``docs/src/images/`` (commit the result).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..demo_support import (
    chromium_browser,
    dataset_with_file,
    demo_env,
    require_chromium,
    running_demo,
    sign_in_on_dev_provider_page,
    stop_process_group,
    submit_job_form,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
SEQSTATS = REPO / "examples" / "seqstats"
IMAGES = REPO / "docs" / "src" / "images"
SEED = """
from gateway_kit import create_app
from gateway_kit.db import upgrade
from gateway_kit.jobs.demo import seed_demo
app = create_app(instance_path={instance!r})
upgrade(app)
seed_demo(app)
"""


@pytest.mark.chromium
@pytest.mark.slow
def test_screenshots_of_the_main_pages(tmp_path: Path) -> None:
    require_chromium()
    instance = tmp_path / "instance"
    env = demo_env(
        {
            "PYTHONPATH": str(SEQSTATS),
            "GATEWAY_KIT_CONFIG": str(SEQSTATS / "gateway.toml"),
            "GATEWAY_KIT_JOBS_COMMUNITY_PROJECT": "demo",
            "GATEWAY_KIT_JOBS_POLL_INTERVAL": "0.3",
            "GATEWAY_KIT_JOBS_LOCAL_GPUS": "[]",
        }
    )
    # The demo's own jobs part would replace the plugin list; seed its allocation instead.
    seed = subprocess.run(
        [sys.executable, "-c", SEED.format(instance=str(instance))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seed.returncode == 0, seed.stderr
    shots = tmp_path / "shots"
    shots.mkdir()
    with contextlib.ExitStack() as stack:
        url, _, _ = stack.enter_context(
            running_demo(
                tmp_path,
                env=env,
                instance=instance,
                ready_timeout=90,
                args=["--only", "devidp", "--only", "localcloud"],
            )
        )
        # Our own worker (not the demo's), with ./instance as its instance folder.
        # It launches the burst pool's instances on the demo's local cloud; their agents would
        # call the web app at the demo's URL.
        worker = subprocess.Popen(
            [sys.executable, "-m", "gateway_kit", "worker"],
            cwd=tmp_path,
            env={
                **env,
                "OS_CLIENT_CONFIG_FILE": str(instance / "localcloud" / "clouds.yaml"),
                "GATEWAY_KIT_BURST_AGENT_URL": url,
                "GATEWAY_KIT_BURST_RECONCILE_INTERVAL": "0.5",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        stack.callback(stop_process_group, worker)
        browser = stack.enter_context(chromium_browser())
        page = browser.new_page(viewport={"width": 1280, "height": 680})

        def shot(name: str, full_page: bool = False) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)

        page.goto(url + "/")
        assert "SeqStats" in page.content()
        shot("home")
        page.click("#login-link")
        page.wait_for_selector("#provider-dev")
        shot("login")
        page.click("#provider-dev")
        sign_in_on_dev_provider_page(page, "ada", "ada-dev-password")

        page.goto(url + "/apps")
        assert "GC content and lengths" in page.content()
        shot("applications")
        page.goto(url + "/apps/composition")
        page.set_input_files("#in-fasta", str(SEQSTATS / "tests" / "data" / "sample.fasta"))
        page.fill("#in-bins", "10")
        page.fill("#name", "Sample contigs")
        shot("app-form")
        submit_job_form(page, timeout=60000)
        page.wait_for_selector("#outputs a")
        job_id = page.get_attribute("#job", "data-job")
        shot("job")
        page.goto(f"{url}/jobs/{job_id}/files/")
        page.wait_for_selector("#entries a.entry")
        shot("job-files")
        page.goto(f"{url}/seqstats/jobs/{job_id}")
        page.wait_for_selector("#results-table")
        wait_until(page, "document.querySelector('#plot').naturalWidth > 0")
        shot("seqstats-results", full_page=True)

        # A dataset with a file: its page lists the files with their SHA-256.
        contigs = SEQSTATS / "tests" / "data" / "sample.fasta"
        dataset_with_file(
            page, url, "Reference contigs", "Assembled contigs shared by the lab.", "CC-BY-4.0", contigs
        )
        shot("datasets")

        # The GPU application is routed to the burst pool: the worker launches an instance.
        page.goto(url + "/apps/kmers-gpu")
        page.set_input_files("#in-fasta", str(SEQSTATS / "tests" / "data" / "sample.fasta"))
        page.fill("#name", "k-mers on a GPU")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("#job-state")
        deadline = time.monotonic() + 30
        page.goto(url + "/operator/burst")
        while page.query_selector(".burst-instances tr.instance") is None:
            assert time.monotonic() < deadline, page.inner_text("main")
            time.sleep(0.5)
            page.reload()
        shot("burst")

        for path, name in (("/operator/hosting/", "deployments"), ("/operator/certificates", "certificates")):
            resp = page.goto(url + path)
            assert resp is not None and resp.status == 200, (path, resp and resp.status)
            shot(name)
    names = sorted(p.name for p in shots.glob("*.png"))
    assert len(names) == 11, names
    for p in shots.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000
    if os.environ.get("GK_UPDATE_SCREENSHOTS") == "1":
        for p in shots.glob("*.png"):
            shutil.copyfile(p, IMAGES / p.name)
