"""Submit-to-running latency of the local executor, through a real ``gateway-kit worker``.

    .venv/bin/python bench/local_latency.py [--jobs 40] [--poll-interval SECONDS]

Latency is the job's ``started_at`` (when the runner started the program) minus its
``created_at`` (when the submission was stored). Jobs are submitted one at a time, each after the
previous has started, so the figure is the queue's pickup delay plus staging and process start.
The poll interval is the default (2 s) unless given: a submission wakes the worker at once
(:mod:`gateway_kit.jobs.wakeup`), so the figure no longer depends on it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchkit import ROOT, gateway_with_bench_user, kit_environment, start_worker

sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--poll-interval", type=float, default=None)
    args = parser.parse_args()

    from sqlalchemy import select

    from gateway_kit.db import db
    from gateway_kit.identity.models import User
    from gateway_kit.jobs.models import Job
    from gateway_kit.jobs.service import Submission, submit

    work = Path(tempfile.mkdtemp(prefix="gk-latency-"))
    settings = {
        "ENV": "testing",
        "DATABASE_URL": f"sqlite:///{work / 'instance' / 'gw.db'}",
        "PLUGINS": ["gateway_kit.jobs.examples"],
        "JOBS_LOCAL_GPUS": [],
        "LOG_LEVEL": "WARNING",
    }
    if args.poll_interval is not None:
        settings["JOBS_POLL_INTERVAL"] = args.poll_interval
    app = gateway_with_bench_user(settings, work / "instance")
    worker = start_worker(kit_environment(settings), work)
    latencies: list[float] = []
    try:
        time.sleep(2.0)  # the worker's start-up is not part of the figure
        for _ in range(args.jobs):
            with app.app_context():
                me = db.session.scalars(select(User).where(User.username == "bench")).one()
                job, _ = submit(db.session, me, Submission(application="echo", inputs={"message": "x"}))
                job_id = job.id
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with db.session_scope(app) as s:
                    row = s.get(Job, job_id)
                    assert row is not None
                    if row.started_at is not None:
                        latencies.append((row.started_at - row.created_at).total_seconds())
                        break
                time.sleep(0.01)
            else:
                raise SystemExit(f"job {job_id} did not start")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] * 1000
    print(
        f"local executor, JOBS_POLL_INTERVAL={app.config['JOBS_POLL_INTERVAL']:g} s, {len(latencies)} jobs: "
        f"submit-to-running p50 {p50:.0f} ms, p95 {p95:.0f} ms "
        f"(min {latencies[0] * 1000:.0f}, max {latencies[-1] * 1000:.0f})"
    )


if __name__ == "__main__":
    main()
