"""Job submissions per second through gunicorn (4 workers), next to two Flask endpoints on the
same database: a minimal one doing one INSERT, and a hand-written one doing the same database work
as a submission (token lookup with the owner's project, conditional SU reservation UPDATE, INSERT
job, INSERT event, COMMIT) without the kit. Alternating rounds; prints the medians of req/s,
p50/p99 latency, the gunicorn workers' CPU time per request (steadier than req/s on a busy host)
and the ratios.

    .venv/bin/python bench/jobs_api.py [--seconds 5] [--rounds 3] [--concurrency 16] [--postgres URL]
    .venv/bin/python bench/jobs_api.py --in-process [--requests 500] [--rounds 3]

``--in-process`` measures the three endpoints' CPU per request through Flask's test client in
this process instead (steady on a busy host; no server, no lock contention).

SQLite always; PostgreSQL too when --postgres or GK_TEST_POSTGRES_URL is given. The load
generator is a keep-alive HTTP client in threads on loopback (in this process).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchkit import ROOT, kit_environment


def minimal_app() -> Any:
    """One INSERT per POST: the floor the job API is compared with (loaded by gunicorn)."""
    from flask import Flask, jsonify
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert

    from gateway_kit.db import make_engine

    engine = make_engine(os.environ["BENCH_DATABASE_URL"], 5)
    meta = MetaData()
    table = Table("bench_inserts", meta, Column("id", Integer, primary_key=True), Column("body", String(200)))
    app = Flask("minimal")

    @app.post("/insert")
    def do_insert() -> Any:
        with engine.begin() as conn:
            row = conn.execute(insert(table).values(body="x")).inserted_primary_key
        return jsonify({"id": row[0] if row else None}), 201

    return app


def handwritten_app() -> Any:
    """The same database work as a submission, by hand with prebuilt Core statements."""
    from flask import Flask, abort, jsonify, request
    from sqlalchemy import bindparam, insert, select, update

    from gateway_kit.db import make_engine
    from gateway_kit.identity.models import ApiToken, ProjectMember
    from gateway_kit.identity.tokens import digest
    from gateway_kit.jobs.models import Allocation, Job, JobEvent, utcnow

    engine = make_engine(os.environ["BENCH_DATABASE_URL"], 5)
    who = (
        select(ApiToken.user_id, ProjectMember.project_id)
        .join(ProjectMember, ProjectMember.user_id == ApiToken.user_id)
        .where(ApiToken.digest == bindparam("digest"), ApiToken.revoked_at.is_(None))
        .limit(1)
    )
    reserve = (
        update(Allocation)
        .where(
            Allocation.project_id == bindparam("pid"),
            Allocation.su_granted - Allocation.su_used - Allocation.su_reserved >= bindparam("worst"),
        )
        .values(su_reserved=Allocation.su_reserved + bindparam("worst"))
    )
    add_job = insert(Job).returning(Job.id)
    add_event = insert(JobEvent)
    app = Flask("handwritten")

    @app.post("/jobs")
    def submit_job() -> Any:
        token = request.headers.get("Authorization", "").partition(" ")[2]
        body = request.get_json()
        resources = {"cpus": 1, "memory_mb": 256, "gpus": 0, "walltime": 60}
        worst = 60 / 3600
        with engine.begin() as conn:
            row = conn.execute(who, {"digest": digest(token)}).first()
            if row is None:
                abort(401)
            user_id, project_id = row
            if conn.execute(reserve, {"pid": project_id, "worst": worst}).rowcount != 1:
                abort(402)
            now = utcnow()
            job_id = conn.execute(
                add_job,
                {
                    "user_id": user_id,
                    "project_id": project_id,
                    "app_id": body["application"],
                    "app_version": "1",
                    "inputs": body.get("inputs", {}),
                    "resources": resources,
                    "destination": "local",
                    "workdir": f"/tmp/job-{uuid.uuid4().hex[:16]}",
                    "su_reserved": worst,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
            conn.execute(add_event, {"job_id": job_id, "to_state": "QUEUED", "message": "submitted"})
        return jsonify({"id": job_id, "state": "QUEUED"}), 201

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def setup(url: str, inst: Path) -> str:
    """Migrate, seed a user with a project, a big allocation and a token; return the token."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import Column, Integer, MetaData, String, Table

    from gateway_kit import create_app
    from gateway_kit.db import db, upgrade
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.identity.tokens import create_token
    from gateway_kit.jobs import accounting

    app = create_app(
        {"ENV": "testing", "DATABASE_URL": url, "PLUGINS": ["gateway_kit.jobs.examples"]},
        instance_path=str(inst),
    )
    upgrade(app)
    meta = MetaData()
    Table("bench_inserts", meta, Column("id", Integer, primary_key=True), Column("body", String(200)))
    meta.create_all(db.engine(app))
    with app.test_request_context():
        s = db.session
        user = User(
            username=f"bench{uuid.uuid4().hex[:6]}", display_name="Bench", email="b@example.org", role="user"
        )
        project = Project(name=f"bench{uuid.uuid4().hex[:6]}", title="Bench")
        s.add_all([user, project])
        s.flush()
        s.add(ProjectMember(project_id=project.id, user_id=user.id))
        accounting.set_allocation(s, project, 1e12, None, top_up=False)
        s.commit()
        _row, token = create_token(s, user, "bench", ["jobs:read", "jobs:write"], 1)
        s.commit()
    db.engine(app).dispose()
    return str(token)


def start_gunicorn(target: str, env: dict[str, str], port: int, chdir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(chdir),
            "--log-level",
            "warning",
            target,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                wait_booted(proc, deadline)
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "died") from None
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def _worker_cpu(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    try:
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        out = {}
        for pid in kids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out
    except (OSError, ValueError):
        return {}


def wait_booted(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until all four workers have loaded the app: they sit idle (no CPU for a second).

    The port accepts as soon as the master listens, while on a busy host the workers may still
    be importing for tens of seconds: requests sent then measure the boot, not the endpoint."""
    quiet = 0
    before = _worker_cpu(proc)
    while time.monotonic() < deadline and quiet < 4:
        time.sleep(0.5)
        now = _worker_cpu(proc)
        idle = len(now) == 4 and now.keys() == before.keys()
        # Under 2% of a core each for two seconds: a booting worker gets far more, even on a
        # host loaded ten times over.
        idle = idle and all(now[k] - before[k] < 0.01 for k in now)
        quiet = quiet + 1 if idle else 0
        before = now


def server_cpu(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) used so far by gunicorn's workers (Linux /proc; else 0).

    Per request, this is a figure that the load of other programs on the host hardly moves,
    unlike requests per second."""
    try:
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        total = 0
        for pid in kids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def load(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    method: str = "POST",
) -> tuple[int, int, list[float]]:
    stop = time.monotonic() + seconds
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body or None, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status in (200, 201)
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                bad += 1
        with lock:
            lat.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat), errors[0], lat


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


def server_environment(inst: Path, url: str, **extra: str) -> dict[str, str]:
    """The environment of the gateway (and its gunicorn) these benches serve from ``inst``."""
    return kit_environment(
        {
            "INSTANCE_PATH": str(inst),
            "DATABASE_URL": url,
            "ENV": "testing",
            "LOG_LEVEL": "WARNING",
            "PLUGINS": ["gateway_kit.jobs.examples"],
        },
        BENCH_DATABASE_URL=url,
        PYTHONPATH=str(ROOT),
        **extra,
    )


def bench(db_name: str, url: str, seconds: float, concurrency: int, rounds: int) -> None:
    inst = Path(tempfile.mkdtemp(prefix=f"gk-bench-{db_name}-"))
    try:
        token = setup(url, inst)
        env = server_environment(inst, url)
        job = json.dumps({"application": "echo", "inputs": {"message": "hi"}}).encode()
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sides = [
            ("job API  POST /api/v1/jobs", "gateway_kit:create_app()", "/api/v1/jobs", job, auth),
            ("hand-written same work", "jobs_api:handwritten_app()", "/jobs", job, auth),
            ("minimal  POST /insert", "jobs_api:minimal_app()", "/insert", b"", {}),
        ]
        results: dict[str, list[tuple[float, float, float, int, float]]] = {s[0]: [] for s in sides}
        for r in range(rounds):
            order = sides if r % 2 == 0 else sides[::-1]  # alternate who goes first
            for label, target, path, body, headers in order:
                port = free_port()
                proc = start_gunicorn(target, env, port, ROOT / "bench")
                try:
                    load(port, path, body, headers, 1.0, concurrency)  # warm up
                    cpu0 = server_cpu(proc)
                    n, errors, lat = load(port, path, body, headers, seconds, concurrency)
                    cpu = (server_cpu(proc) - cpu0) / max(n, 1) * 1000
                finally:
                    proc.terminate()
                    proc.wait(timeout=20)
                results[label].append((n / seconds, pct(lat, 50), pct(lat, 99), errors, cpu))
        print(
            f"\n{db_name}: gunicorn -w 4, {concurrency} keep-alive clients, {seconds:g} s per side, "
            f"medians of {rounds} alternating rounds"
        )
        print(
            f"  {'endpoint':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
            f" {'server CPU ms/req':>18}"
        )
        med: dict[str, list[float]] = {}
        for label, _t, _p, _b, _h in sides:
            runs = results[label]
            med[label] = [statistics.median(x[i] for x in runs) for i in range(5)]
            rps, p50, p99, errors, cpu = med[label]
            print(f"  {label:<30} {rps:9.1f} {p50:8.2f} {p99:8.2f} {int(errors):7d} {cpu:18.2f}")
        kit, hand, minimal = (med[s[0]] for s in sides)
        print(
            f"  ratios (req/s): job API / hand-written {kit[0] / hand[0]:.2f} (target >= 0.9), "
            f"job API / minimal INSERT {kit[0] / minimal[0]:.2f} (target >= 0.5), "
            f"hand-written / minimal {hand[0] / minimal[0]:.2f}"
        )
    finally:
        shutil.rmtree(inst, ignore_errors=True)


def in_process(db_name: str, url: str, requests: int, rounds: int) -> None:
    """CPU ms per request of the three endpoints through Flask's test client, one after the other
    in this process (alternating rounds, medians): no HTTP server and no load generator, so it
    measures each endpoint's own work, and it hardly moves with the host's load."""
    inst = Path(tempfile.mkdtemp(prefix=f"gk-bench-{db_name}-"))
    saved = dict(os.environ)
    try:
        token = setup(url, inst)
        os.environ.update(server_environment(inst, url))
        sys.path.insert(0, str(ROOT / "bench"))
        from gateway_kit import create_app

        job = {"application": "echo", "inputs": {"message": "hi"}}
        auth = {"Authorization": f"Bearer {token}"}
        sides = [
            ("job API  POST /api/v1/jobs", create_app().test_client(), "/api/v1/jobs", job, auth),
            ("hand-written same work", handwritten_app().test_client(), "/jobs", job, auth),
            ("minimal  POST /insert", minimal_app().test_client(), "/insert", None, {}),
        ]
        cpu: dict[str, list[float]] = {s[0]: [] for s in sides}
        for r in range(rounds + 1):  # round 0 warms up
            for label, client, path, body, headers in sides if r % 2 else sides[::-1]:
                t0 = time.process_time()
                for _ in range(requests):
                    resp = client.post(path, json=body, headers=headers)
                    if resp.status_code != 201:
                        raise SystemExit(f"{label}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
                if r:
                    cpu[label].append((time.process_time() - t0) / requests * 1000)
        med = {label: statistics.median(v) for label, v in cpu.items()}
        kit, hand, minimal = (med[s[0]] for s in sides)
        print(
            f"\n{db_name}, in process (Flask test client, {requests} requests per side, medians of "
            f"{rounds} alternating rounds): CPU ms/request"
        )
        for label in cpu:
            print(f"  {label:<30} {med[label]:7.3f}")
        print(
            f"  ratios (requests per CPU second): job API / hand-written {hand / kit:.2f} (target >= 0.9), "
            f"job API / minimal INSERT {minimal / kit:.2f} (target >= 0.5)"
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(inst, ignore_errors=True)


def postgres_database(admin_url: str) -> Iterator[str]:
    """A scratch database on the server of ``admin_url`` (dropped afterwards)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"gk_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("GK_TEST_POSTGRES_URL", ""))
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="CPU per request through the test client instead of gunicorn under load",
    )
    parser.add_argument(
        "--requests", type=int, default=500, help="requests per side and round (--in-process)"
    )
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}")
    run = (
        (lambda name, url: in_process(name, url, args.requests, args.rounds))
        if args.in_process
        else (lambda name, url: bench(name, url, args.seconds, args.concurrency, args.rounds))
    )
    sqlite_dir = Path(tempfile.mkdtemp(prefix="gk-bench-db-"))
    run("SQLite", f"sqlite:///{sqlite_dir / 'bench.db'}")
    shutil.rmtree(sqlite_dir, ignore_errors=True)
    if args.postgres:
        with contextlib.contextmanager(postgres_database)(args.postgres) as url:
            run("PostgreSQL", url)
    else:
        print("\nPostgreSQL: skipped (pass --postgres URL or set GK_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
