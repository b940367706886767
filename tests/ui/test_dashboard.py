"""The home page: a dashboard for a signed-in user, the gateway's offer for a visitor."""

from __future__ import annotations

import re

from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.jobs.accounting import fill_percent, fmt
from gateway_kit.jobs.models import Allocation
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..jobs.conftest import World


def test_visitor_sees_the_catalog_and_public_datasets_not_jobs(world: World) -> None:
    anon = world.app.test_client()
    html = anon.get("/").get_data(as_text=True)
    assert 'id="panel-apps"' in html and "/applications/echo" in html
    assert 'id="panel-datasets"' in html
    assert 'id="panel-jobs"' not in html and 'id="panel-allocation"' not in html
    # The catalog is public and in the anonymous navigation; running an application is not.
    nav = re.search(r"<nav.*?</nav>", html, re.S)
    assert nav is not None and 'href="/applications"' in nav.group(0)  # named as in the API
    assert anon.get("/applications").status_code == 200
    assert anon.get("/applications/echo").status_code in (302, 401)
    # The pages' earlier name still serves them (bookmarks, scripts).
    assert anon.get("/apps").status_code == 200 and anon.get("/apps/echo").status_code in (302, 401)


def test_user_dashboard_shows_jobs_balance_and_applications(world: World) -> None:
    c = world.login(world.alice)
    empty = c.get("/").get_data(as_text=True)
    assert "No jobs yet." in empty and 'id="balance-astro"' in empty
    r = c.post("/apps/echo", data={"message": "hello", "name": "first run", "resources.walltime": "60"})
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert wait_for(world.app, job_id, set(TERMINAL), 20).state == "COMPLETED"
    html = c.get("/").get_data(as_text=True)
    recent = re.search(r'id="recent-jobs".*?</ul>', html, re.S)
    assert recent is not None and f"Job {job_id}: first run" in recent.group(0)
    assert "Echo" in recent.group(0)  # the application's title, not its id
    balance = re.search(r'id="balance-astro".*?class="su-used">([^<]+)<', html, re.S)
    assert balance is not None and float(balance.group(1)) > 0  # even a tiny charge shows
    # Another user's jobs never appear on alice's dashboard.
    other = world.other_client(world.bob).get("/").get_data(as_text=True)
    assert f"Job {job_id}" not in other and "first run" not in other


def test_su_format_shows_small_charges_and_the_bar_moves() -> None:
    assert fmt(0) == "0.00" and fmt(1234.567) == "1,234.57" and fmt(12.3) == "12.30"
    assert fmt(0.0031415) == "0.0031" and fmt(0.000042) == "0.000042" and fmt(0.5) == "0.50"
    assert fill_percent(0.001, 1000) == 1.0  # a first small charge is visible
    assert fill_percent(0, 1000) == 0.0 and fill_percent(2000, 1000) == 100.0
    assert fill_percent(1, 0) == 100.0


def test_usage_totals_add_up(world: World) -> None:
    c = world.login(world.alice)
    r = c.post("/apps/echo", data={"message": "x", "resources.walltime": "60"})
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    wait_for(world.app, job_id, set(TERMINAL), 20)
    html = c.get("/usage").get_data(as_text=True)
    with world.app.app_context():
        used = db.session.scalars(select(Allocation.su_used)).one()
    card = re.search(r'id="usage-astro".*?</div>\s*</div>', html, re.S) or re.search(
        r'id="usage-astro".*', html, re.S
    )
    assert card is not None
    assert f'class="su-used">{fmt(used)}<' in card.group(0)
    total = re.search(r'<tr class="total"><th>All charges</th><th class="num">([^<]+)<', card.group(0))
    assert total is not None and total.group(1) == fmt(used)
