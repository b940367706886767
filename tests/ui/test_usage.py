"""The usage page attributes every charge: the users' totals plus what no user was charged
(burst instances' lifetimes) add up to the project's."""

from __future__ import annotations

import re

from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.identity.models import Project
from gateway_kit.jobs.models import Allocation, LedgerEntry
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..jobs.conftest import World


def test_users_and_unattributed_charges_add_up_to_the_project(world: World) -> None:
    alice = world.login(world.alice)
    r = alice.post("/apps/echo", data={"message": "hi", "resources.walltime": "60"})
    assert (
        wait_for(world.app, int(r.headers["Location"].rsplit("/", 1)[1]), set(TERMINAL), 30).state
        == "COMPLETED"
    )
    with db.session_scope(world.app) as s:  # what the burst pool writes when an instance is deleted
        project = s.scalars(select(Project).where(Project.name == "astro")).one()
        s.add(
            LedgerEntry(project_id=project.id, kind="charge", amount=-0.25, note="burst instance gk-burst-1")
        )
        alloc = s.scalars(select(Allocation).where(Allocation.project_id == project.id)).one()
        alloc.su_used += 0.25
    usage = alice.get("/api/v1/usage").get_json()["projects"][0]
    assert usage["su_unattributed"] == 0.25
    users = sum(u["su_used"] for u in usage["users"])
    assert users > 0 and abs(users + usage["su_unattributed"] - usage["su_used"]) < 1e-6, usage
    page = alice.get("/usage").get_data(as_text=True)
    assert re.search(r'<tr class="unattributed"><td><em>No user</em>.*?<td class="num">0.25</td>', page, re.S)
    total = re.search(r'<tr class="total"><th>All charges</th><th class="num">([^<]+)</th>', page)
    used = re.search(r'<span class="su-used">([^<]+)</span>', page)
    assert total is not None and used is not None and total.group(1) == used.group(1), page
