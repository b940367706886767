"""The operator console's burst pool page and ``gateway-kit burst status | clean-orphans``."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.burst.feature import pools
from gateway_kit.burst.pool import META_DEST, META_GATEWAY, META_KIND
from gateway_kit.cli import main
from gateway_kit.jobs.states import TERMINAL, JobState
from tests.burst.conftest import Env, build
from tests.conftest import login, make_user

DONE = {s.value for s in TERMINAL}
IDLE_TIMEOUT = 4.0


@pytest.fixture()
def slow_idle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Idle long enough to be seen idle on the page, short enough to see the instance go."""
    yield from build(tmp_path, monkeypatch, idle_timeout=IDLE_TIMEOUT)


def live_rows(page: str) -> dict[str, list[str]]:
    """The live-instances table: instance name -> its cells' text."""
    body = page.split('<table class="burst-instances">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for name, cells in re.findall(r'<tr class="instance [^"]*" data-name="([^"]+)">(.*?)</tr>', body, re.S):
        rows[name] = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td>(.*?)</td>", cells, re.S)
        ]
    return rows


def test_console_shows_the_instance_come_and_go(slow_idle: Env) -> None:
    env = slow_idle
    anonymous = env.app.test_client()
    resp = anonymous.get("/operator/burst")
    assert resp.status_code == 302 and "login" in resp.headers["Location"]
    plain = env.app.test_client()
    login(plain, env.user)
    assert plain.get("/operator/burst").status_code == 403
    operator = env.app.test_client()
    login(operator, make_user(env.app, "olive", role="operator"))

    def page() -> str:
        resp = operator.get("/operator/burst")
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    assert "No live instances." in page()
    gate = env.tmp / "gate-console"
    job_id = env.submit(sleep=str(gate))  # runs until the gate file exists
    env.until(lambda: env.job(job_id).state == JobState.RUNNING.value, timeout=60)
    rows = live_rows(page())
    [(name, cells)] = rows.items()
    # Instance, Flavor, State, Current jobs, Idle, SUs so far, Address, Note
    assert cells[1] == "m3.tiny" and cells[2] == "ready", cells
    assert cells[3] == str(job_id) and cells[4] == "—", cells
    assert re.fullmatch(r"[\d,]+\.\d+", cells[5]) and cells[6].startswith("127."), cells

    # The job ends: the instance stays, idle, until the idle timeout.
    gate.touch()
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    assert env.job(job_id).state == JobState.COMPLETED.value

    def idle_cells() -> list[str] | None:
        found = live_rows(page()).get(name)
        return found if found and re.fullmatch(r"\d+ s", found[4]) else None

    cells = env.until(idle_cells, timeout=IDLE_TIMEOUT - 1)
    assert cells[3] == "—" and int(cells[4].split()[0]) < IDLE_TIMEOUT, cells
    assert float(cells[5].replace(",", "")) > 0, cells

    # Deleted after the idle timeout: gone from the live table, listed as ended.
    env.until(lambda: env.instances()[0].state == "deleted", timeout=30)
    text = page()
    assert live_rows(text) == {} and "No live instances." in text
    assert re.search(rf'<tr class="ended state-deleted" data-name="{re.escape(name)}">', text)


def test_cli_status_and_clean_orphans_dry_run(env: Env) -> None:
    runner = env.app.test_cli_runner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["burst", *args])  # gateway-kit burst ...
        assert result.exit_code == 0, result.output
        return str(result.output)

    assert cli("status") == "cloud:\n  no live instances\n"
    gate = env.tmp / "gate-status"
    job_id = env.submit(sleep=str(gate))  # runs until the gate file exists
    env.until(lambda: env.job(job_id).state == JobState.RUNNING.value, timeout=60)
    [inst] = env.instances()
    out = cli("status")
    line = next(li for li in out.splitlines() if inst.name in li)
    assert re.search(
        rf"{re.escape(inst.name)}\s+m3.tiny\s+ready\s+jobs={job_id} su=[\d,]+\.\d+ "
        rf"{re.escape(inst.address)}$",
        line,
    ), out
    assert "no live instances" not in out
    gate.touch()
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)

    # A server tagged as this gateway's burst server that no pool instance accounts for.
    with env.app.app_context():
        gateway = pools(env.app)["cloud"].gateway
    conn: Any = env.conn()
    flavor = conn.compute.find_flavor("m3.tiny", ignore_missing=False)
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk", ignore_missing=False)
    orphan = conn.compute.create_server(
        name="gk-burst-cloud-lost",
        flavor_id=flavor.id,
        image_id=image.id,
        networks="auto",
        metadata={META_KIND: "1", META_DEST: "cloud", META_GATEWAY: gateway},
    )
    out = cli("clean-orphans", "--dry-run")
    assert out == f"orphan gk-burst-cloud-lost ({orphan.id}) on cloud\n", out
    assert inst.server_id not in out  # a live pool instance is no orphan
    assert conn.compute.get_server(orphan.id).status != "DELETED"  # a dry run deletes nothing
    out = cli("clean-orphans")
    assert out == f"orphan gk-burst-cloud-lost ({orphan.id}) on cloud: deleted\n", out
    env.until(lambda: orphan.id not in {s.id for s in conn.compute.servers()}, timeout=10, tick=False)
