"""The job pages: catalog, generated forms with server-side validation, job page, usage, admin."""

from __future__ import annotations

import io
import re

from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from .conftest import World


def test_catalog_form_submit_job_page_and_usage_bar(world: World) -> None:
    c = world.login(world.alice)
    page = c.get("/apps").get_data(as_text=True)
    assert 'id="app-echo"' in page and 'id="app-wordcount"' in page
    form = c.get("/apps/argv").get_data(as_text=True)
    for name in ("text", "number", "flag", "choice", "upload"):
        assert f'name="{name}"' in form
    assert 'name="csrf_token"' in form and 'enctype="multipart/form-data"' in form
    r = c.post("/apps/echo", data={"message": "from the form; $(id)", "resources.walltime": "60"})
    assert r.status_code == 302
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    job = wait_for(world.app, job_id, set(TERMINAL), 20)
    assert job.state == "COMPLETED"
    html = c.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="job-state">COMPLETED' in html and "echo.txt" in html and "job.js" in html
    assert c.get("/static/jobs/job.js").status_code == 200
    mine = c.get("/jobs").get_data(as_text=True)
    assert f"/jobs/{job_id}" in mine
    usage = c.get("/usage").get_data(as_text=True)
    width = re.search(r'id="usage-astro".*?data-width="([0-9.]+)"', usage, re.S)
    assert width is not None and 'role="progressbar"' in usage


def test_form_validation_shows_every_error_and_keeps_values(world: World) -> None:
    c = world.login(world.alice)
    r = c.post(
        "/apps/argv", data={"text": "x" * 101, "number": "eleven", "choice": "zz", "resources.cpus": "9"}
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    for field in ("inputs.text", "inputs.number", "inputs.choice", "resources.cpus"):
        assert f'data-field="{field}"' in html
    assert 'value="eleven"' in html  # what the user typed is kept
    r = c.post(
        "/apps/argv",
        data={"text": "ok", "number": "1", "upload": (io.BytesIO(b"x"), "../../etc/passwd")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and 'data-field="inputs.upload"' in r.get_data(as_text=True)
    assert c.get("/api/v1/jobs").json["jobs"] == []


def test_resubmit_form_is_prefilled_and_editable(world: World) -> None:
    c = world.login(world.alice)
    r = c.post("/apps/echo", data={"message": "first"})
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    form = c.get(f"/jobs/{job_id}/resubmit").get_data(as_text=True)
    assert ">first</textarea>" in form
    r = c.post(f"/jobs/{job_id}/resubmit", data={"message": "second"})
    assert r.status_code == 302
    new_id = int(r.headers["Location"].rsplit("/", 1)[1])
    shown = c.get(f"/api/v1/jobs/{new_id}").json
    assert shown["inputs"]["message"] == "second" and shown["resubmitted_from"] == job_id


def test_cancel_from_the_page_and_pages_of_others_are_404(world: World) -> None:
    c = world.login(world.alice)
    r = c.post("/apps/sleep", data={"seconds": "30"})
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert c.post(f"/jobs/{job_id}/cancel").status_code == 302
    assert c.get(f"/api/v1/jobs/{job_id}").json["state"] == "CANCELED"
    b = world.other_client(world.bob)
    assert b.get(f"/jobs/{job_id}").status_code == 404
    assert b.get(f"/jobs/{job_id}/resubmit").status_code == 404
    assert b.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert world.app.test_client().get("/apps/echo").status_code in (302, 401)


def test_admin_sets_and_tops_up_allocations_with_ledger(world: World) -> None:
    user = world.login(world.alice)
    assert user.get("/admin/allocations").status_code == 403
    admin = world.other_client(world.admin)
    assert (
        admin.post(
            "/admin/allocations", data={"project": "astro", "amount": "50", "action": "topup"}
        ).status_code
        == 302
    )
    assert (
        admin.post(
            "/admin/allocations", data={"project": "astro", "amount": "-5", "action": "set"}
        ).status_code
        == 302
    )
    html = admin.get("/admin/allocations").get_data(as_text=True)
    assert "150.00" in html and "topup" in html
    assert user.get("/api/v1/usage").json["projects"][0]["su_granted"] == 150.0
