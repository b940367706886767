"""The data issue's demo flow, in a real browser (headless Chromium) against the real
``gateway-kit demo``: a user logs in through the development provider, creates a dataset and uploads
a file through the pages, runs the ``dataset-stats`` example application on it from the form, and
downloads the job's results.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ..demo_support import (
    chromium_browser,
    dataset_with_file,
    demo_env,
    login_with_dev_provider,
    running_demo,
    submit_job_form,
)

TEXT = b"the quick brown fox\njumps over\nthe lazy dog\n"


@pytest.mark.chromium
@pytest.mark.slow
def test_user_uploads_a_dataset_runs_an_example_on_it_and_downloads_the_results(tmp_path: Path) -> None:
    # alan's group astro-lab (released by the development provider) makes him a member of the
    # demo's project (the demo's IDENTITY_PROJECT_MAP): his datasets are created in it.
    env = demo_env(
        {"GATEWAY_KIT_JOBS_POLL_INTERVAL": "0.3", "GATEWAY_KIT_JOBS_LOCAL_GPUS": "[]"},
        drop=("GATEWAY_KIT_", "OS_CLIENT_CONFIG"),
    )
    sample = tmp_path / "poem.txt"
    sample.write_bytes(TEXT)
    with chromium_browser() as browser, running_demo(tmp_path, env=env) as (url, _, _):
        page = browser.new_page()
        page.set_default_timeout(15000)

        # Log in as alan through the development provider's own page.
        login_with_dev_provider(page, url, "alan", "alan-dev-password")
        assert "alan" in page.inner_text("#signed-in-as").lower()

        # Create a dataset and upload a file into it.
        uid = dataset_with_file(page, url, "Poems", "A few lines to count.", "CC0-1.0", sample)
        assert uid.startswith("ds-"), uid
        assert hashlib.sha256(TEXT).hexdigest() in page.inner_text("#files")

        # Run the dataset-stats example on it from the application's form.
        page.goto(url + "/apps")
        assert "Dataset statistics" in page.content()
        page.goto(url + "/apps/dataset-stats")
        page.fill("#in-dataset", uid)
        page.fill("#name", "Poem statistics")
        submit_job_form(page, timeout=40000)
        page.wait_for_selector("#outputs a:text('stats.json')")

        # Download the results through the job page's links.
        with page.expect_download() as info:
            page.click("#outputs a:text('stats.json')")
        download = info.value
        assert download.suggested_filename == "stats.json"
        stats = json.loads(Path(download.path()).read_text())
        assert stats["files"] == [
            {
                "path": "poem.txt",
                "lines": 3,
                "words": 9,
                "bytes": len(TEXT),
                "sha256": hashlib.sha256(TEXT).hexdigest(),
            }
        ]
        assert stats["total"] == {"files": 1, "lines": 3, "words": 9, "bytes": len(TEXT)}
        with page.expect_download() as info:
            page.click("#outputs a:text('stats.tsv')")
        tsv = Path(info.value.path()).read_text().splitlines()
        assert tsv == [
            "path\tlines\twords\tbytes\tsha256",
            f"poem.txt\t3\t9\t{len(TEXT)}\t{hashlib.sha256(TEXT).hexdigest()}",
        ]
