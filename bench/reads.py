"""Reads through gunicorn (4 workers): ``GET /api/v1/jobs`` (20 jobs) next to a bare endpoint
running one SELECT that returns the same rows as JSON, in alternating rounds (medians), with the
SQL statements each request runs. Prints req/s, p50/p99, the workers' CPU ms per request and the
ratio.

    .venv/bin/python bench/reads.py [--seconds 5] [--rounds 3] [--concurrency 16]

SQLite. The pages' statement counts are pinned by tests/jobs/test_statement_counts.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from jobs_api import free_port, load, pct, server_cpu, server_environment, setup, start_gunicorn  # noqa: E402


def bare_app() -> Any:
    """One SELECT of the user's 20 newest jobs, as JSON (loaded by gunicorn)."""
    from flask import Flask, jsonify
    from sqlalchemy import select

    from gateway_kit.db import make_engine
    from gateway_kit.jobs.models import Job

    engine = make_engine(os.environ["BENCH_DATABASE_URL"], 5)
    table = Job.__table__
    query = select(table).where(table.c.user_id == int(os.environ["BENCH_USER_ID"]))
    query = query.order_by(table.c.id.desc()).limit(20)
    app = Flask("bare")

    @app.get("/jobs")
    def jobs() -> Any:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        return jsonify({"jobs": rows})

    return app


def seed_jobs(url: str, inst: Path, n: int) -> int:
    """Submit ``n`` jobs for the bench user; return the user's id."""
    from sqlalchemy import select

    from gateway_kit import create_app
    from gateway_kit.db import db
    from gateway_kit.identity.models import User
    from gateway_kit.jobs.service import Submission, submit

    app = create_app(
        {"ENV": "testing", "DATABASE_URL": url, "PLUGINS": ["gateway_kit.jobs.examples"]},
        instance_path=str(inst),
    )
    with app.test_request_context():
        user = db.session.scalars(select(User).where(User.username.like("bench%"))).one()
        for i in range(n):
            submit(db.session, user, Submission(application="echo", inputs={"message": f"m{i}"}))
        user_id = user.id
    db.engine(app).dispose()
    return user_id


def statements_per_request(url: str, inst: Path, token: str) -> int:
    from sqlalchemy import event

    from gateway_kit import create_app
    from gateway_kit.db import db

    app = create_app(
        {"ENV": "testing", "DATABASE_URL": url, "PLUGINS": ["gateway_kit.jobs.examples"]},
        instance_path=str(inst),
    )
    seen: list[str] = []
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    client.get("/api/v1/jobs?limit=20", headers=headers)
    event.listen(db.engine(app), "before_cursor_execute", lambda *a: seen.append(a[2]))
    assert client.get("/api/v1/jobs?limit=20", headers=headers).status_code == 200
    db.engine(app).dispose()
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    inst = Path(tempfile.mkdtemp(prefix="gk-reads-"))
    try:
        url = f"sqlite:///{inst / 'bench.db'}"
        token = setup(url, inst)
        user_id = seed_jobs(url, inst, 20)
        kit_statements = statements_per_request(url, inst, token)
        env = server_environment(inst, url, BENCH_USER_ID=str(user_id))
        auth = {"Authorization": f"Bearer {token}"}
        sides = [
            (
                "kit  GET /api/v1/jobs (20)",
                "gateway_kit:create_app()",
                "/api/v1/jobs?limit=20",
                auth,
                kit_statements,
            ),
            ("bare SELECT, same rows", "reads:bare_app()", "/jobs", {}, 1),
        ]
        results: dict[str, list[tuple[float, float, float, float]]] = {s[0]: [] for s in sides}
        for r in range(args.rounds):
            for label, target, path, headers, _n in sides if r % 2 == 0 else sides[::-1]:
                port = free_port()
                proc = start_gunicorn(target, env, port, ROOT / "bench")
                try:
                    load(port, path, b"", headers, 1.0, args.concurrency, method="GET")
                    cpu0 = server_cpu(proc)
                    n, _errors, lat = load(
                        port, path, b"", headers, args.seconds, args.concurrency, method="GET"
                    )
                    cpu = (server_cpu(proc) - cpu0) / max(n, 1) * 1000
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                results[label].append((n / args.seconds, pct(lat, 50), pct(lat, 99), cpu))
        print(
            f"SQLite, gunicorn -w 4, {args.concurrency} clients, {args.seconds:g} s per side, "
            f"medians of {args.rounds} alternating rounds"
        )
        print(
            f"  {'endpoint':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'SQL/req':>8}"
        )
        med = {}
        for label, _t, _p, _h, statements in sides:
            med[label] = [statistics.median(x[i] for x in results[label]) for i in range(4)]
            rps, p50, p99, cpu = med[label]
            print(f"  {label:<30} {rps:9.1f} {p50:8.2f} {p99:8.2f} {cpu:11.2f} {statements:8d}")
        kit, bare = (med[s[0]] for s in sides)
        print(f"  ratio kit / bare SELECT (req/s): {kit[0] / bare[0]:.2f} (target >= 0.5)")
    finally:
        shutil.rmtree(inst, ignore_errors=True)


if __name__ == "__main__":
    main()
