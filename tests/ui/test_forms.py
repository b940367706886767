"""The job form (dataset picker validated at submission, per-field help, errors inside collapsed
sections, the SU estimate and balance) and the job list (filters, sorting, bulk cancel)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.identity.models import Project, ProjectMember
from gateway_kit.jobs.models import Job
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..demo_support import chromium_browser, serving, wait_until
from ..jobs.conftest import World, seed_project


def _dataset(client: Any, name: str, visibility: str, project: str = "astro") -> str:
    r = client.post("/datasets/new", data={"name": name, "project": project, "visibility": visibility})
    assert r.status_code == 302, r.get_data(as_text=True)
    return str(r.headers["Location"].rsplit("/", 1)[1])


def test_dataset_picker_offers_readable_datasets_and_submit_refuses_others(world: World) -> None:
    with db.session_scope(world.app) as s:
        bio = Project(name="bio", title="Bio")
        s.add(bio)
        s.flush()
        s.add(ProjectMember(project_id=bio.id, user_id=world.bob.id))
    alice = world.login(world.alice)
    mine = _dataset(alice, "Alice contigs", "private")
    bob = world.other_client(world.bob)
    shared = _dataset(bob, "Bob shared reads", "public", "bio")
    secret = _dataset(bob, "Bob secret reads", "private", "bio")
    form = alice.get("/apps/dataset-stats").get_data(as_text=True)
    picker = re.search(r'<datalist id="datasets-dataset">(.*?)</datalist>', form, re.S)
    assert picker is not None
    assert f'value="{mine}">Alice contigs · astro<' in picker.group(1)
    assert f'value="{shared}"' in picker.group(1) and secret not in picker.group(1)
    assert 'list="datasets-dataset"' in form and 'aria-describedby="help-inputs-dataset"' in form
    for bad in (secret, "ds-000000000000"):
        r = alice.post("/apps/dataset-stats", data={"dataset": bad})
        assert r.status_code == 422
        html = r.get_data(as_text=True)
        error = re.search(r'data-field="inputs.dataset"[^>]*>([^<]+)<', html)
        assert error is not None and bad in error.group(1), html
        assert 'aria-invalid="true"' in html and f'value="{bad}"' in html  # kept to correct
    assert alice.get("/api/v1/jobs").get_json()["jobs"] == []
    r = alice.post("/apps/dataset-stats", data={"dataset": shared})
    assert r.status_code == 302


def test_form_shows_the_estimate_balance_help_and_open_sections_on_error(world: World) -> None:
    alice = world.login(world.alice)
    form = alice.get("/apps/echo").get_data(as_text=True)
    cost = re.search(r'id="su-cost">([^<]+)<', form)
    balance = re.search(r'id="su-balance">([^<]+)<', form)
    assert cost is not None and float(cost.group(1)) > 0
    assert balance is not None and balance.group(1) == "100.00"
    assert 'id="help-resources-walltime"' in form and "At most" in form
    assert "E-mail me" not in form  # no SMTP server is configured
    r = alice.post("/apps/echo", data={"message": "x", "resources.walltime": "999999999"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert re.search(r'<details open class="has-errors" id="resources">', html), html
    assert 'data-field="resources.walltime"' in html


def test_job_list_filters_sorts_and_bulk_cancels(world: World) -> None:
    alice = world.login(world.alice)
    ids = {}
    for name, app, data in (
        ("alpha run", "echo", {"message": "a"}),
        ("beta run", "echo", {"message": "b"}),
        ("long sleep", "sleep", {"seconds": "60"}),
    ):
        r = alice.post(f"/apps/{app}", data={**data, "name": name})
        assert r.status_code == 302, r.get_data(as_text=True)
        ids[name] = int(r.headers["Location"].rsplit("/", 1)[1])
    for name in ("alpha run", "beta run"):
        wait_for(world.app, ids[name], set(TERMINAL), 30)

    def listed(**args: str) -> list[int]:
        html = alice.get("/jobs", query_string=args).get_data(as_text=True)
        return [int(x) for x in re.findall(r'<tr id="job-row-(\d+)"', html)]

    assert listed() == sorted(ids.values(), reverse=True)
    assert listed(q="ALPHA") == [ids["alpha run"]]
    assert listed(app="sleep") == [ids["long sleep"]]
    assert listed(sort="name") == [ids["alpha run"], ids["beta run"], ids["long sleep"]]
    assert listed(sort="oldest") == sorted(ids.values())
    today = datetime.now(UTC).date()
    assert len(listed(**{"from": today.isoformat(), "to": today.isoformat()})) == 3
    assert listed(to=(today - timedelta(days=2)).isoformat()) == []
    assert listed(sort="nonsense", app="no-such-app") == sorted(ids.values(), reverse=True)
    html = alice.get("/jobs").get_data(as_text=True)
    assert "Echo" in html and 'id="bulk-cancel"' in html
    # Bulk cancel: the running job is canceled; another user's id and an ended job are skipped.
    seed_project(world.app, "bio", [world.bob], 10.0)
    bob = world.other_client(world.bob)
    r = bob.post("/apps/sleep", data={"seconds": "60"})
    bobs = int(r.headers["Location"].rsplit("/", 1)[1])
    r = alice.post("/jobs/cancel", data={"job": [str(ids["long sleep"]), str(bobs), str(ids["alpha run"])]})
    assert r.status_code == 302
    assert wait_for(world.app, ids["long sleep"], set(TERMINAL), 30).state == "CANCELED"
    assert bob.get(f"/api/v1/jobs/{bobs}").get_json()["state"] != "CANCELED"
    with world.app.app_context():
        assert db.session.get(Job, ids["alpha run"]).state == "COMPLETED"  # type: ignore[union-attr]
    bob.post(f"/jobs/{bobs}/cancel")


@pytest.mark.chromium
def test_form_estimate_follows_resources_and_cancel_asks_first(world: World) -> None:
    alice = world.login(world.alice)
    r = alice.post("/apps/sleep", data={"seconds": "60", "resources.walltime": "120"})
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    cookie = alice.get_cookie(world.app.config.get("SESSION_COOKIE_NAME", "session"))
    with chromium_browser() as browser, serving(world.app) as base:
        context = browser.new_context()
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/apps/echo")
        before = page.inner_text("#su-cost")
        page.click("#resources summary")
        page.fill("#res-cpus", "4")
        page.fill("#res-walltime", "3600")
        wait_until(page, f"document.querySelector('#su-cost').textContent != {before!r}")
        assert float(page.inner_text("#su-cost").replace(",", "")) == pytest.approx(4.0)
        page.fill("#res-cpus", "4000")
        wait_until(page, "document.querySelector('#su-estimate').classList.contains('over')")
        # A server-side error inside the collapsed Notifications section opens it.
        page.fill("#res-cpus", "1")
        page.fill("#res-walltime", "60")
        page.evaluate("document.querySelector('#webhook_url').value = 'http://127.0.0.1:1/hook'")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("[data-field=webhook_url]")
        assert page.is_visible("[data-field=webhook_url]")
        # Cancel asks first: dismissing keeps the job; accepting cancels it.
        page.goto(f"{base}/jobs/{job_id}")
        page.once("dialog", lambda d: d.dismiss())
        page.click("#cancel-job")
        page.wait_for_timeout(300)
        assert alice.get(f"/api/v1/jobs/{job_id}").get_json()["state"] != "CANCELED"
        page.once("dialog", lambda d: d.accept())
        page.click("#cancel-job")
        page.wait_for_selector(".flash.success")
        assert wait_for(world.app, job_id, set(TERMINAL), 30).state == "CANCELED"
        assert errors == []
        context.close()
