"""Load with faults: API reads and submissions while the database restarts and the worker dies.

Serves the gateway with gunicorn on PostgreSQL (a server of the bench's own, see
``bench/chaos_jobs.py``) and one ``gateway-kit worker``; ``--clients`` threads send a bounded
load (each waits for its answer, then pauses ``--pause`` s) of ``GET /api/v1/jobs``,
``GET /api/v1/jobs/<id>`` and ``POST /api/v1/jobs`` for ``--duration`` seconds. A third of the way
in the database server stops for ``--outage`` seconds and starts again; two thirds of the way in
the worker is SIGKILLed and another started. Then it waits for every accepted submission to end.
Prints the answers by status (the target: no 500; a database outage answers 503 with
``Retry-After``), how many 503s lacked ``Retry-After``, and accepted / terminal / lost jobs. Run::

    .venv/bin/python bench/soak_api.py [--duration 180] [--clients 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchkit import GUNICORN, long_run_parser, stop_all, take_interrupts  # noqa: E402
from chaos_jobs import PrivatePostgres, free_port  # noqa: E402 - the bench folder is on the path now


def main(argv: list[str] | None = None) -> int:
    parser = long_run_parser(__doc__)
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the database is down")
    args = parser.parse_args(argv)
    take_interrupts()
    base = Path(tempfile.mkdtemp(prefix="gk-soak-"))
    if os.geteuid() == 0:
        import shutil

        shutil.chown(base, "postgres", "postgres")
    pg = PrivatePostgres(base)
    pg.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        return soak(args, base, pg, procs)
    finally:  # whatever happened: nothing of the bench stays running
        stop_all(procs, grace=30)
        pg.stop()


def soak(
    args: argparse.Namespace, base: Path, pg: PrivatePostgres, procs: list[subprocess.Popen[bytes]]
) -> int:
    from gateway_kit import create_app
    from gateway_kit.db import db, upgrade
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.identity.tokens import create_token
    from gateway_kit.jobs import accounting
    from gateway_kit.jobs.states import TERMINAL

    url = pg.new_database("soak")
    settings: dict[str, Any] = {
        "ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
        "PLUGINS": ["gateway_kit.jobs.examples"],
        "JOBS_POLL_INTERVAL": 0.2,
        "JOBS_LEASE_SECONDS": 3.0,
        "JOBS_LOCAL_CPUS": 8,
        "JOBS_LOCAL_MAX_CONCURRENT": 8,
        "JOBS_LOCAL_GPUS": [],
        "JOBS_DIR": str(base / "jobs"),
    }
    instance = base / "instance"
    app = create_app(settings, instance_path=str(instance))
    upgrade(app)
    with app.test_request_context():
        user = User(username="soak", display_name="Soak", email="soak@example.org", role="user")
        db.session.add(user)
        db.session.flush()
        project = Project(name="soak", title="Soak")
        db.session.add(project)
        db.session.flush()
        db.session.add(ProjectMember(project_id=project.id, user_id=user.id))
        accounting.set_allocation(db.session, project, 1e9, None, top_up=False, note="soak bench")
        _row, token = create_token(db.session, user, "soak", ["jobs:read", "jobs:write"], 1)
        db.session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    env.update({f"GATEWAY_KIT_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()})
    env["GATEWAY_KIT_INSTANCE"] = str(instance)
    port = free_port()
    web = subprocess.Popen(
        GUNICORN,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4"},
        cwd=base,
        stdout=open(base / "gunicorn.log", "wb"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    procs.append(web)
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker() -> None:
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "gateway_kit", "worker"],
                env=env,
                cwd=base,
                stdout=open(base / f"worker-{len(workers)}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        procs.append(workers[-1])

    start_worker()
    api = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or web.poll() is not None:
            print((base / "gunicorn.log").read_text()[-3000:])
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)

    statuses: Counter[str] = Counter()
    no_retry_after = 0
    accepted: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        nonlocal no_retry_after
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            kind = ("submit", "list", "get", "list")[i % 4]
            try:
                if kind == "submit":
                    r = session.post(
                        api + "/jobs",
                        headers={**headers, "Idempotency-Key": f"soak-{k}-{i}"},
                        json={"application": "echo", "inputs": {"message": f"soak {k} {i}"}},
                        timeout=30,
                    )
                elif kind == "get" and accepted:
                    r = session.get(f"{api}/jobs/{accepted[-1]}", headers=headers, timeout=30)
                else:
                    r = session.get(api + "/jobs?limit=20", headers=headers, timeout=30)
            except requests.RequestException as exc:
                with lock:
                    statuses[f"no answer ({type(exc).__name__})"] += 1
                time.sleep(args.pause)
                continue
            with lock:
                statuses[f"{kind} {r.status_code}"] += 1
                if r.status_code == 503 and "Retry-After" not in r.headers:
                    no_retry_after += 1
                if kind == "submit" and r.status_code in (200, 201):
                    accepted.append(int(r.json()["id"]))
            time.sleep(args.pause)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    events: list[str] = []
    try:
        time.sleep(args.duration / 3)
        pg._pg_ctl("stop", "-m", "fast")
        events.append(f"{time.monotonic() - t0:.0f}s database stopped")
        time.sleep(args.outage)
        pg._pg_ctl("start")
        events.append(f"{time.monotonic() - t0:.0f}s database started")
        time.sleep(max(0.0, t0 + 2 * args.duration / 3 - time.monotonic()))
        workers[-1].kill()
        workers[-1].wait()
        start_worker()
        events.append(f"{time.monotonic() - t0:.0f}s worker SIGKILLed, another started")
        time.sleep(max(0.0, t0 + args.duration - time.monotonic()))
    except KeyboardInterrupt:
        events.append("interrupted")
    stop.set()
    for t in threads:
        t.join(timeout=60)

    # Every accepted submission must end.
    terminal = {s.value for s in TERMINAL}
    from sqlalchemy import select

    from gateway_kit.jobs.models import Job

    pending: set[int] = set(accepted)
    wait_until = time.monotonic() + 180
    states: Counter[str] = Counter()
    while time.monotonic() < wait_until:
        with db.session_scope(app) as s:
            rows = {j.id: j.state for j in s.scalars(select(Job).where(Job.id.in_(accepted)))}
        states = Counter(rows.values())
        pending = {i for i in accepted if rows.get(i) not in terminal}
        if not pending:
            break
        time.sleep(1)
    db.engine(app).dispose()

    total = sum(statuses.values())
    five_hundreds = sum(n for key, n in statuses.items() if key.endswith(" 500"))
    by_state = ", ".join(f"{k} {n}" for k, n in sorted(states.items()))
    print(f"soak: {args.duration:.0f} s, {args.clients} clients; " + "; ".join(events))
    print(f"answers {total}: " + ", ".join(f"{k} {n}" for k, n in sorted(statuses.items())))
    print(
        f"500s {five_hundreds}  503s without Retry-After {no_retry_after}  accepted jobs {len(accepted)}  "
        f"terminal {len(accepted) - len(pending)} ({by_state})"
        f"  lost {len(pending)}"
    )
    totals = {
        "answers": total,
        "by_status": dict(statuses),
        "status_500": five_hundreds,
        "status_503_without_retry_after": no_retry_after,
        "accepted": len(accepted),
        "lost": len(pending),
    }
    if args.json:
        print(json.dumps(totals))
    return 1 if five_hundreds or no_retry_after or pending else 0


if __name__ == "__main__":
    sys.exit(main())
