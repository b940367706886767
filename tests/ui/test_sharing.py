"""A job's results shared with its project's members: they read its page, log and outputs (not
before, and never cancel, resubmit or share it); others still get 404."""

from __future__ import annotations

from gateway_kit.db import db
from gateway_kit.identity.models import Project, ProjectMember
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..conftest import make_user
from ..jobs.conftest import World


def test_members_read_a_shared_job_and_nothing_more(world: World) -> None:
    with db.session_scope(world.app) as s:
        astro = s.query(Project).filter_by(name="astro").one()
        s.add(ProjectMember(project_id=astro.id, user_id=world.bob.id))
    carol = make_user(world.app, "carol")  # in no project
    alice = world.login(world.alice)
    r = alice.post(
        "/apps/echo", data={"message": "results", "name": "shared run", "resources.walltime": "60"}
    )
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert wait_for(world.app, job_id, set(TERMINAL), 30).state == "COMPLETED"
    bob, other = world.other_client(world.bob), world.other_client(carol)
    reads = (
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/files/",
        f"/jobs/{job_id}/files/stdout.txt",
        f"/api/v1/jobs/{job_id}",
        f"/api/v1/jobs/{job_id}/outputs/stdout.txt",
        f"/api/v1/jobs/{job_id}/logs?stream=stdout",
    )
    for url in reads:
        assert bob.get(url).status_code == 404, url  # not shared yet

    page = alice.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Share the results with astro" in page
    assert bob.post(f"/jobs/{job_id}/share", data={"shared": "on"}).status_code == 404  # not his
    r = alice.post(f"/jobs/{job_id}/share", data={"shared": "on"})
    assert r.status_code == 302
    assert "shared with the members of astro" in alice.get(f"/jobs/{job_id}").get_data(as_text=True)

    for url in reads:
        assert bob.get(url).status_code == 200, url
        assert other.get(url).status_code == 404, url
    assert b"results" in bob.get(f"/api/v1/jobs/{job_id}/outputs/stdout.txt").data
    page = bob.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="shared-by"' in page and 'id="share-job"' not in page and "Resubmit" not in page
    assert bob.get(f"/jobs/{job_id}/resubmit").status_code == 404
    assert bob.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 404
    assert bob.post(f"/api/v1/jobs/{job_id}/resubmit", json={}).status_code == 404
    assert bob.get("/api/v1/jobs").get_json()["jobs"] == []  # his list stays his

    alice.post(f"/jobs/{job_id}/share", data={"shared": "off"})
    assert bob.get(f"/jobs/{job_id}").status_code == 404
