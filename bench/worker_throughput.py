"""Jobs per second through one ``gateway-kit worker`` at default settings, next to a plain
``subprocess.run`` loop starting the same program, in alternating rounds (medians).

    .venv/bin/python bench/worker_throughput.py [--jobs 500] [--rounds 3] [--postgres URL]

A kit round: a fresh instance (SQLite, or a fresh PostgreSQL database with --postgres), one
worker started with default settings and warmed up by one job, then stopped (SIGSTOP) while N
jobs of a trivial application (``/bin/true``) are submitted, continued (SIGCONT) and timed until
every job has ended (the time the worker recorded the last end; the bench looks every 0.1 s, not
to take CPU from the worker). The worker's CPU time per job comes from /proc. Each round then
checks what the worker recorded: every job COMPLETED through QUEUED -> STAGING -> SUBMITTED
[-> RUNNING] -> COMPLETED, its SU charge equal to its run time at the destination's rate, the
project's reservation back to zero and its used SUs equal to the sum of the charges.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import ROOT, gateway_with_bench_user, kit_environment, start_worker

sys.path.insert(0, str(ROOT))

TRUE = shutil.which("true") or "/bin/true"
APP = f"""
[[application]]
id = "true"
title = "True"
version = "1"
command = ["{TRUE}"]
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain_loop(n: int, work: Path) -> float:
    """N runs of the same program, one after the other, output to a file: jobs/s."""
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i in range(n):
        with open(work / f"out-{i}.txt", "wb") as out:
            subprocess.run([TRUE], cwd=work, stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True)
    return n / (time.perf_counter() - start)


def fresh_postgres(base: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"gk_bench_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop


def kit_round(n: int, work: Path, postgres: str | None) -> dict[str, float]:
    from sqlalchemy import func, select

    from gateway_kit.db import aware, db
    from gateway_kit.identity.models import User
    from gateway_kit.jobs import accounting
    from gateway_kit.jobs.models import Allocation, Job, JobEvent, LedgerEntry
    from gateway_kit.jobs.service import Submission, submit
    from gateway_kit.jobs.states import TERMINAL

    drop = None
    url = f"sqlite:///{work / 'instance' / 'gw.db'}"
    if postgres:
        url, drop = fresh_postgres(postgres)
    (work / "apps").mkdir(parents=True)
    (work / "apps" / "true.toml").write_text(APP)
    settings = {
        "ENV": "testing",
        "DATABASE_URL": url,
        "JOBS_APPLICATION_FILES": [str(work / "apps")],
        "LOG_LEVEL": "WARNING",
    }
    app = gateway_with_bench_user(settings, work / "instance")
    log = open(work / "worker.log", "wb")  # noqa: SIM115 - closed with the process
    worker = start_worker(kit_environment(settings), work, stderr=log)
    ended = [s.value for s in TERMINAL]

    def submit_one() -> int:
        with app.app_context():
            me = db.session.scalars(select(User).where(User.username == "bench")).one()
            job, _ = submit(db.session, me, Submission(application="true"))
            return job.id

    def wait_ended(count: int, timeout: float) -> float:
        """Wait until ``count`` jobs ended; the epoch time of the last end (the worker's record
        of it: this loop checks every 0.1 s only, so as not to take CPU from the worker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with db.session_scope(app) as s:
                done = s.scalar(select(func.count()).select_from(Job).where(Job.state.in_(ended)))
                if done == count:
                    last = s.scalar(select(func.max(JobEvent.at)).where(JobEvent.to_state.in_(ended)))
                    return aware(last).timestamp()
            time.sleep(0.1)
        raise SystemExit(f"only {done} of {count} jobs ended in {timeout:.0f} s (see {work}/worker.log)")

    try:
        submit_one()  # warm-up: the worker is up and its launcher started
        wait_ended(1, 60)
        os.kill(worker.pid, signal.SIGSTOP)
        for _ in range(n):
            submit_one()
        cpu0 = cpu_seconds(worker.pid)
        start = time.time()
        os.kill(worker.pid, signal.SIGCONT)
        elapsed = wait_ended(n + 1, 30 + n) - start
        cpu = cpu_seconds(worker.pid) - cpu0
        # What the worker recorded.
        with db.session_scope(app) as s:
            jobs = list(s.scalars(select(Job).order_by(Job.id)))
            bad = [j.id for j in jobs if j.state != "COMPLETED"]
            paths: dict[int, list[str]] = {}
            for job_id, to_state in s.execute(
                select(JobEvent.job_id, JobEvent.to_state).order_by(JobEvent.id)
            ).all():
                paths.setdefault(job_id, []).append(to_state)
            good = (
                ["QUEUED", "STAGING", "SUBMITTED", "COMPLETED"],
                ["QUEUED", "STAGING", "SUBMITTED", "RUNNING", "COMPLETED"],
            )
            bad_paths = {k: v for k, v in paths.items() if v not in good}
            alloc = s.scalars(select(Allocation)).one()
            charged = sum(j.su_charged or 0.0 for j in jobs)
            wrong_charge = [
                j.id
                for j in jobs
                if j.started_at is None
                or j.finished_at is None
                or abs(
                    (j.su_charged or 0.0)
                    - accounting.cost(
                        {"su_per_cpu_hour": 1.0},
                        1,
                        0,
                        (j.finished_at - j.started_at).total_seconds(),
                    )
                )
                > 1e-6
            ]
            ledger = s.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "charge")
            )
        problems = []
        if bad:
            problems.append(f"{len(bad)} jobs not COMPLETED (e.g. {bad[:3]})")
        if bad_paths:
            problems.append(
                f"{len(bad_paths)} jobs with unexpected events (e.g. {list(bad_paths.items())[:2]})"
            )
        if wrong_charge:
            problems.append(f"{len(wrong_charge)} jobs charged wrongly (e.g. {wrong_charge[:3]})")
        if abs(alloc.su_reserved) > 1e-6 or abs(alloc.su_used - charged) > 1e-6:
            problems.append(
                f"allocation: reserved {alloc.su_reserved}, used {alloc.su_used} vs {charged} charged"
            )
        if ledger != sum(1 for j in jobs if (j.su_charged or 0) > 0):
            problems.append(f"{ledger} ledger charges for {len(jobs)} jobs")
        if problems:
            raise SystemExit("worker results are wrong: " + "; ".join(problems))
        return {"jobs_per_s": n / elapsed, "cpu_ms_per_job": cpu * 1000 / n}
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGCONT)
            worker.terminate()
            worker.wait(timeout=30)
        db.engine(app).dispose()
        if drop is not None:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL to create databases with")
    args = parser.parse_args()
    plain: list[float] = []
    kit: list[dict[str, float]] = []
    for r in range(args.rounds):
        work = Path(tempfile.mkdtemp(prefix="gk-worker-"))
        try:
            # Alternate which side goes first.
            if r % 2 == 0:
                plain.append(plain_loop(args.jobs, work / "plain"))
                kit.append(kit_round(args.jobs, work / "kit", args.postgres or None))
            else:
                kit.append(kit_round(args.jobs, work / "kit", args.postgres or None))
                plain.append(plain_loop(args.jobs, work / "plain"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"round {r + 1}: plain loop {plain[-1]:7.1f} jobs/s | "
            f"worker {kit[-1]['jobs_per_s']:6.1f} jobs/s, "
            f"{kit[-1]['cpu_ms_per_job']:.2f} ms worker CPU/job",
            flush=True,
        )
    p = statistics.median(plain)
    k = statistics.median(x["jobs_per_s"] for x in kit)
    c = statistics.median(x["cpu_ms_per_job"] for x in kit)
    db_name = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{args.jobs} trivial jobs ({TRUE}), {db_name}, medians of {args.rounds} rounds: "
        f"plain subprocess loop {p:.1f} jobs/s | one gateway-kit worker (defaults) {k:.1f} jobs/s, "
        f"{c:.2f} ms worker CPU/job | ratio {k / p:.3f} "
        f"(target >= 50 jobs/s: {'met' if k >= 50 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
