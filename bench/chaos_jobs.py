"""Job chaos: several ``gateway-kit worker`` processes on one queue, SIGKILLed at random points.

Each trial, on a fresh database (SQLite, or a database on a PostgreSQL server of the bench's own,
which it restarts), submits a batch of local jobs of mixed length (0 to 3 s) and runs three workers
on them. At random moments it SIGKILLs a worker (and starts a replacement) or, on PostgreSQL,
restarts the database server (``pg_ctl restart -m fast``: every connection is cut). When every job
is terminal it checks:

- **lost**: a job not in a terminal state within the trial's time limit;
- **doubled**: a job whose command ran twice at the same time (the command appends start and end
  markers with its pid to one file; overlapping runs of one job are doubled); a job that ran to
  the end more than once is counted as **rerun**;
- **ledger**: the project's reservations are back to 0, ``su_used`` equals the sum of the jobs'
  charges and every charge is one ledger entry matched to its job.

Run::

    .venv/bin/python bench/chaos_jobs.py --trials 100 [--backend sqlite --backend postgres] [--json]

The PostgreSQL backend starts its own server (``initdb``/``pg_ctl`` on a free loopback port, run
as the ``postgres`` user when the bench runs as root) so that restarting it disturbs nobody else.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchkit import ROOT, long_run_parser, stop_all, take_interrupts

sys.path.insert(0, str(ROOT))

#: The job: a start marker, a sleep of ``seconds``, an end marker (one line each, O_APPEND).
JOB_CODE = (
    "import os, sys, time\n"
    "def mark(what):\n"
    "    with open(sys.argv[1], 'a') as m:\n"
    "        fields = [what, os.environ['GK_JOB_ID'], str(os.getpid()), repr(time.time())]\n"
    "        m.write(' '.join(fields) + chr(10))\n"
    "mark('start')\n"
    "time.sleep(float(sys.argv[2]))\n"
    "mark('end')\n"
)
CHAOS_APP = f"""
[[application]]
id = "chaos"
version = "1"
command = ["{{python}}", "-c", {json.dumps(JOB_CODE)}, "{{markers}}", "{{seconds}}"]

[application.resources]
walltime = 120

[[application.inputs]]
name = "seconds"
type = "string"
default = "0"
"""

WORKERS = 3
TRIAL_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL server for this bench alone, on loopback, in a temporary folder."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "pg"
        self.port = free_port()
        binary = shutil.which("pg_ctl") or next(
            iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))), None
        )
        if binary is None:
            raise RuntimeError("pg_ctl not found: install PostgreSQL (apt-get install postgresql)")
        self.bin = Path(binary).parent
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        data = str(self.dir / "data")
        self._run(
            str(self.bin / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"
        )
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c max_connections=200"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "pg.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            action,
            *extra,
        )

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg_ctl("stop", "-m", "immediate")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@dataclass
class Trial:
    backend: str
    n: int
    jobs: int = 0
    kills: int = 0
    db_restarts: int = 0
    lost: list[int] = field(default_factory=list)
    doubled: list[int] = field(default_factory=list)
    reruns: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    ledger: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _settings(work: Path, database_url: str) -> dict[str, Any]:
    apps = work / "apps"
    apps.mkdir()
    (apps / "chaos.toml").write_text(
        CHAOS_APP.replace("{python}", sys.executable).replace("{markers}", str(work / "markers.log"))
    )
    return {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "JOBS_APPLICATION_FILES": [str(apps)],
        "JOBS_POLL_INTERVAL": 0.1,
        "JOBS_LEASE_SECONDS": 2.0,
        "JOBS_LOCAL_CPUS": 16,
        "JOBS_LOCAL_MAX_CONCURRENT": 16,
        "JOBS_LOCAL_GPUS": [],
        "JOBS_LOCAL_KILL_GRACE": 1.0,
        "JOBS_DIR": str(work / "jobs"),
    }


def _env(settings: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    for key, value in settings.items():
        env[f"GATEWAY_KIT_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def _seed(app: Any) -> Any:
    from gateway_kit.db import db
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.jobs import accounting

    with db.session_scope(app) as s:
        user = User(username="chaos", display_name="Chaos", email="chaos@example.org", role="user")
        s.add(user)
        s.flush()
        project = Project(name="chaos", title="Chaos")
        s.add(project)
        s.flush()
        s.add(ProjectMember(project_id=project.id, user_id=user.id))
        accounting.set_allocation(s, project, 100000.0, None, top_up=False, note="chaos bench")
        s.flush()
        s.expunge(user)
    return user


def _submit(app: Any, user: Any, seconds: float) -> int:
    from gateway_kit.db import db
    from gateway_kit.jobs.service import Submission, submit

    with app.app_context():
        merged = db.session.merge(user)
        job, _ = submit(
            db.session, merged, Submission(application="chaos", inputs={"seconds": f"{seconds:.2f}"})
        )
        return int(job.id)


def _jobs(app: Any) -> list[Any]:
    from sqlalchemy import select

    from gateway_kit.db import db
    from gateway_kit.jobs.models import Job

    with db.session_scope(app) as s:
        rows = list(s.scalars(select(Job).order_by(Job.id)))
        for r in rows:
            s.expunge(r)
        return rows


def _markers(path: Path) -> dict[int, list[tuple[str, int, float]]]:
    runs: dict[int, list[tuple[str, int, float]]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                runs.setdefault(int(parts[1]), []).append((parts[0], int(parts[2]), float(parts[3])))
    return runs


def _overlapping(events: list[tuple[str, int, float]]) -> tuple[bool, int]:
    """Whether two runs (by pid) of one job overlapped in time, and how many ran to the end."""
    spans: dict[int, list[float]] = {}
    for what, pid, at in events:
        span = spans.setdefault(pid, [at, float("inf")])
        if what == "start":
            span[0] = at
        else:
            span[1] = at
    ordered = sorted(spans.values())
    overlap = any(b[0] < a[1] for a, b in itertools.pairwise(ordered))
    return overlap, sum(1 for s in ordered if s[1] != float("inf"))


def _check_ledger(app: Any) -> list[str]:
    from sqlalchemy import select

    from gateway_kit.db import db
    from gateway_kit.jobs.models import Allocation, Job, LedgerEntry

    problems: list[str] = []
    with db.session_scope(app) as s:
        alloc = s.scalars(select(Allocation)).one()
        jobs = list(s.scalars(select(Job)))
        charges = list(s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "charge")))
        if abs(alloc.su_reserved) > 1e-9:
            problems.append(f"{alloc.su_reserved:.6f} SUs still reserved")
        charged = sum(j.su_charged or 0.0 for j in jobs)
        if abs(alloc.su_used - charged) > 1e-6:
            problems.append(f"su_used {alloc.su_used:.6f} != jobs' charges {charged:.6f}")
        per_job = Counter(c.job_id for c in charges)
        for j in jobs:
            want = 1 if (j.su_charged or 0.0) > 0 else 0
            if per_job.get(j.id, 0) != want:
                problems.append(f"job {j.id}: {per_job.get(j.id, 0)} ledger charges, expected {want}")
            match = [c for c in charges if c.job_id == j.id]
            if match and abs(-match[0].amount - (j.su_charged or 0.0)) > 1e-9:
                problems.append(f"job {j.id}: ledger {-match[0].amount} != charged {j.su_charged}")
        if any(c.job_id is None for c in charges):
            problems.append("a charge matched to no job")
    return problems


def run_trial(backend: str, n: int, rng: random.Random, base: Path, pg: PrivatePostgres | None) -> Trial:
    from gateway_kit import create_app
    from gateway_kit.db import db, upgrade

    started = time.monotonic()
    trial = Trial(backend, n)
    work = base / f"{backend}-{n}"
    work.mkdir()
    url = f"sqlite:///{work / 'gateway.db'}" if pg is None else pg.new_database(f"chaos_{n}")
    settings = _settings(work, url)
    app = create_app(settings, instance_path=str(work / "instance"))
    upgrade(app)
    user = _seed(app)
    ids = [_submit(app, user, rng.choice([0.0, 0.2, 0.5, 1.0, 2.0, 3.0])) for _ in range(rng.randint(6, 12))]
    trial.jobs = len(ids)
    env = _env(settings)
    procs: list[subprocess.Popen[bytes]] = []

    def start_worker() -> None:
        log = open(work / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - the child owns it
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "gateway_kit", "worker"],
                env=env,
                cwd=work,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    for _ in range(WORKERS):
        start_worker()
    from gateway_kit.jobs.states import TERMINAL

    terminal = {s.value for s in TERMINAL}
    deadline = time.monotonic() + TRIAL_TIMEOUT
    next_action = time.monotonic() + rng.uniform(0.5, 3.0)
    actions_left = rng.randint(1, 3)
    jobs: list[Any] = []
    try:
        while time.monotonic() < deadline:
            try:
                jobs = _jobs(app)
            except Exception:  # the database restarting: read again next round
                db.engine(app).dispose()
                time.sleep(0.2)
                continue
            if all(j.state in terminal for j in jobs):
                break
            if actions_left and time.monotonic() >= next_action:
                actions_left -= 1
                next_action = time.monotonic() + rng.uniform(0.5, 3.0)
                if pg is not None and rng.random() < 0.4:
                    pg.restart()
                    trial.db_restarts += 1
                    db.engine(app).dispose()
                else:
                    alive = [p for p in procs if p.poll() is None]
                    victim = rng.choice(alive)
                    os.kill(victim.pid, signal.SIGKILL)  # the worker only: its jobs' runners live on
                    victim.wait()
                    trial.kills += 1
                    start_worker()
            time.sleep(0.1)
        trial.lost = [j.id for j in jobs if j.state not in terminal] if jobs else ids
        trial.failed = [
            f"{j.id} {j.state}: {j.state_reason}"
            for j in jobs
            if j.state in terminal and j.state != "COMPLETED"
        ]
        markers = _markers(work / "markers.log")
        trial.failed += [
            f"{j.id} COMPLETED without an end marker"
            for j in jobs
            if j.state == "COMPLETED" and not any(m[0] == "end" for m in markers.get(j.id, []))
        ]
        for job_id, events in markers.items():
            overlap, ends = _overlapping(events)
            if overlap:
                trial.doubled.append(job_id)
            if ends > 1:
                trial.reruns.append(job_id)
        trial.ledger = _check_ledger(app)
    finally:
        stop_all(procs, grace=20)
        db.engine(app).dispose()
    trial.seconds = time.monotonic() - started
    return trial


def main(argv: list[str] | None = None) -> int:
    parser = long_run_parser(__doc__)
    parser.add_argument("--trials", type=int, default=10, help="per backend")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    take_interrupts()
    backends = args.backend or ["sqlite", "postgres"]
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="gk-chaos-jobs-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")  # the private PostgreSQL writes below it
    pg: PrivatePostgres | None = None
    trials: list[Trial] = []
    t0 = time.monotonic()
    print(
        f"job chaos: {args.trials} trials per backend ({', '.join(backends)}), seed {args.seed}", flush=True
    )
    try:
        if "postgres" in backends:
            pg = PrivatePostgres(base)
            pg.start()
        for n in range(1, args.trials + 1):  # backends alternate: an early stop leaves both measured
            for backend in backends:
                t = run_trial(backend, n, rng, base, pg if backend == "postgres" else None)
                trials.append(t)
                flags = " ".join(
                    f"{label} {len(v)}"
                    for label, v in (
                        ("LOST", t.lost),
                        ("DOUBLED", t.doubled),
                        ("reruns", t.reruns),
                        ("failed", t.failed),
                        ("LEDGER", t.ledger),
                    )
                    if v
                )
                print(
                    f"{backend:<8} trial {n:>4}: {t.jobs:>2} jobs, {t.kills} worker kills, "
                    f"{t.db_restarts} db restarts {t.seconds:5.1f}s {flags}",
                    flush=True,
                )
                for detail in (*t.failed, *t.ledger):
                    print(f"    {detail}", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {len(trials)} trials", flush=True)
    finally:
        if pg is not None:
            pg.stop()
    totals = {
        "trials": len(trials),
        "jobs": sum(t.jobs for t in trials),
        "worker_kills": sum(t.kills for t in trials),
        "db_restarts": sum(t.db_restarts for t in trials),
        "lost": sum(len(t.lost) for t in trials),
        "doubled": sum(len(t.doubled) for t in trials),
        "reruns": sum(len(t.reruns) for t in trials),
        "failed": sum(len(t.failed) for t in trials),
        "ledger_problems": sum(len(t.ledger) for t in trials),
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(
        f"\ntrials {totals['trials']}  jobs {totals['jobs']}  worker kills {totals['worker_kills']}  "
        f"database restarts {totals['db_restarts']}"
    )
    print(
        f"lost {totals['lost']}  doubled {totals['doubled']}  reruns {totals['reruns']}  "
        f"failed {totals['failed']}  ledger problems {totals['ledger_problems']}  ({totals['seconds']} s)"
    )
    if args.json:
        print(json.dumps(totals))
    return 1 if totals["lost"] + totals["doubled"] + totals["ledger_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
