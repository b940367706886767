"""Job chaos: several ``gateway-kit worker`` processes on one queue, SIGKILLed at random points.

Each trial, on a fresh database (SQLite, or a database on a PostgreSQL server of the bench's own,
which it restarts), submits a batch of jobs of mixed length (0 to 3 s) -- local jobs, and (unless
``--no-burst``) a few on the burst executor, on instances of a local cloud whose data plane runs
their agents (:mod:`chaos_burst`) -- and runs three workers on them. At random moments it
SIGKILLs a worker (and starts a replacement), on PostgreSQL restarts the database server
(``pg_ctl restart -m fast``: every connection is cut), SIGKILLs a burst agent (its job lives on),
deletes or stops a burst instance, or restarts the local cloud (every instance's processes end and
boot again). When every job is terminal (and every burst instance retired) it checks:

- **lost**: a job not in a terminal state within the trial's time limit;
- **doubled**: a job whose command ran twice at the same time (the command appends start, "alive"
  (every 0.2 s) and end markers with its pid to one file; a run lasts from its first marker to its
  last; overlapping runs of one job are doubled); a job that ran to the end more than once is
  counted as **rerun**;
- **ledger**: the project's reservations are back to 0, ``su_used`` equals the sum of the jobs'
  charges and every charge is one ledger entry matched to its job; every burst instance is
  deleted and charged once, its ledger entries (the jobs' shares, its idle time) summing to its
  instance-hours, and no server of the trial is left in the cloud.

Run::

    .venv/bin/python bench/chaos_jobs.py --trials 100 [--backend sqlite --backend postgres] \\
        [--no-burst] [--json]

The PostgreSQL backend starts its own server (``initdb``/``pg_ctl`` on a free loopback port, run
as the ``postgres`` user when the bench runs as root) so that restarting it disturbs nobody else.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
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

import chaos_burst
from benchkit import ROOT, long_run_parser, stop_all, take_interrupts

sys.path.insert(0, str(ROOT))

#: The job: a start marker, ``seconds`` of sleep with an "alive" marker every 0.2 s, an end marker
#: (one line each, O_APPEND). A run that was killed has no end marker: its last mark says until
#: when (to 0.2 s) it ran.
JOB_CODE = (
    "import os, sys, time\n"
    "def mark(what):\n"
    "    with open(sys.argv[1], 'a') as m:\n"
    "        fields = [what, os.environ['GK_JOB_ID'], str(os.getpid()), repr(time.time())]\n"
    "        m.write(' '.join(fields) + chr(10))\n"
    "mark('start')\n"
    "end = time.time() + float(sys.argv[2])\n"
    "while time.time() < end:\n"
    "    time.sleep(max(min(0.2, end - time.time()), 0))\n"
    "    mark('alive')\n"
    "mark('end')\n"
)
CHAOS_APP = f"""
[[application]]
id = "{{id}}"
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
TRIAL_TIMEOUT = 180.0


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
    burst_jobs: int = 0
    kills: int = 0
    db_restarts: int = 0
    burst_faults: Counter[str] = field(default_factory=Counter)
    lost: list[int] = field(default_factory=list)
    doubled: list[int] = field(default_factory=list)
    reruns: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    ledger: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _settings(work: Path, database_url: str, burst: str = "", agent_url: str = "") -> dict[str, Any]:
    apps = work / "apps"
    apps.mkdir()
    app = CHAOS_APP.replace("{python}", sys.executable).replace("{markers}", str(work / "markers.log"))
    (apps / "chaos.toml").write_text(app.replace("{id}", "chaos"))
    extra: dict[str, Any] = {}
    if burst:
        (apps / "chaos-burst.toml").write_text(app.replace("{id}", "chaos-burst"))
        extra = {
            **chaos_burst.SETTINGS,
            "JOBS_DESTINATIONS_MAP": {"local": {"executor": "local"}, burst: dict(chaos_burst.DESTINATION)},
            "JOBS_ROUTING_RULES": {"chaos-burst": burst},
            "BURST_AGENT_URL": agent_url,
        }
    return extra | {
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


def _seed(app: Any, burst: bool) -> Any:
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
        if burst:
            chaos_burst.seed_charge_project(s)
        s.flush()
        s.expunge(user)
    return user


def _submit(app: Any, user: Any, seconds: float, application: str = "chaos") -> int:
    from gateway_kit.db import db
    from gateway_kit.jobs.service import Submission, submit

    with app.app_context():
        merged = db.session.merge(user)
        job, _ = submit(
            db.session, merged, Submission(application=application, inputs={"seconds": f"{seconds:.2f}"})
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
    """Whether two runs (by pid) of one job overlapped in time -- a run lasts from its start
    marker to its last marker (its end, or the last "alive" of a run that was killed) -- and how
    many ran to the end."""
    spans: dict[int, list[float]] = {}
    ended: set[int] = set()
    for what, pid, at in events:
        span = spans.setdefault(pid, [at, at])
        span[0], span[1] = min(span[0], at), max(span[1], at)
        if what == "end":
            ended.add(pid)
    ordered = sorted(spans.values())
    overlap = any(b[0] < a[1] for a, b in itertools.pairwise(ordered))
    return overlap, len(ended)


def _check_ledger(app: Any) -> list[str]:
    from sqlalchemy import select

    from gateway_kit.db import db
    from gateway_kit.identity.models import Project
    from gateway_kit.jobs.models import Allocation, Job, LedgerEntry

    problems: list[str] = []
    with db.session_scope(app) as s:
        project = s.scalars(select(Project).where(Project.name == "chaos")).one()
        alloc = s.scalars(select(Allocation).where(Allocation.project_id == project.id)).one()
        jobs = list(s.scalars(select(Job)))
        charges = list(
            s.scalars(
                select(LedgerEntry).where(LedgerEntry.kind == "charge", LedgerEntry.project_id == project.id)
            )
        )
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


def run_trial(
    backend: str,
    n: int,
    rng: random.Random,
    base: Path,
    pg: PrivatePostgres | None,
    cloud: chaos_burst.ChaosCloud | None = None,
    only: tuple[str, ...] = (),
) -> Trial:
    from gateway_kit import create_app
    from gateway_kit.db import db, upgrade
    from gateway_kit.localcloud.readiness import free_port as loopback_port

    started = time.monotonic()
    trial = Trial(backend, n)
    work = base / f"{backend}-{n}"
    work.mkdir()
    url = f"sqlite:///{work / 'gateway.db'}" if pg is None else pg.new_database(f"chaos_{n}")
    burst = chaos_burst.destination_name(backend, n) if cloud is not None else ""
    agent_port = loopback_port() if burst else 0
    settings = _settings(work, url, burst, f"http://127.0.0.1:{agent_port}")
    app = create_app(settings, instance_path=str(work / "instance"))
    upgrade(app)
    user = _seed(app, bool(burst))
    ids = [_submit(app, user, rng.choice([0.0, 0.2, 0.5, 1.0, 2.0, 3.0])) for _ in range(rng.randint(6, 12))]
    if burst:
        burst_ids = [
            _submit(app, user, rng.choice([0.5, 1.0, 3.0, 8.0]), "chaos-burst")
            for _ in range(rng.randint(1, 3))
        ]
        trial.burst_jobs = len(burst_ids)
        ids += burst_ids
    trial.jobs = len(ids)
    env = _env(settings)
    procs: list[subprocess.Popen[bytes]] = []
    agent_api = chaos_burst.AgentAPI(app, agent_port) if burst else None

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

    def draw() -> str:
        """The next fault: a burst one half the time when there are burst jobs (or one of
        ``only``)."""
        if only:
            return rng.choice(
                [
                    f
                    for f in only
                    if (f != "db_restart" or pg is not None) and (f not in chaos_burst.FAULTS or cloud)
                ]
                or ["worker_kill"]
            )
        at = rng.random()
        if pg is not None and at < 0.25:
            return "db_restart"
        if cloud is not None and at >= 0.5:
            return rng.choice(chaos_burst.FAULTS)
        return "worker_kill"

    def act(fault: str) -> bool:
        """Inject ``fault``; False when it has nothing to act on yet (a burst fault waits for a
        burst job to be running: it hits that job's instance)."""
        if fault == "db_restart":
            assert pg is not None
            pg.restart()
            trial.db_restarts += 1
            db.engine(app).dispose()
            return True
        if fault in chaos_burst.FAULTS:
            assert cloud is not None
            busy = chaos_burst.running_on(app)
            if not busy or not cloud.inject(fault, rng.choice(busy)):
                return False
            trial.burst_faults[fault] += 1
            return True
        victim = rng.choice([p for p in procs if p.poll() is None])
        os.kill(victim.pid, signal.SIGKILL)  # the worker only: its jobs' runners live on
        victim.wait()
        trial.kills += 1
        start_worker()
        return True

    for _ in range(WORKERS):
        start_worker()
    from gateway_kit.jobs.states import TERMINAL

    terminal = {s.value for s in TERMINAL}
    deadline = time.monotonic() + TRIAL_TIMEOUT
    next_action = time.monotonic() + rng.uniform(0.5, 3.0)
    actions_left = rng.randint(1, 3)
    fault = draw()
    jobs: list[Any] = []
    try:
        while time.monotonic() < deadline:
            try:
                jobs = _jobs(app)
                done = all(j.state in terminal for j in jobs) and (
                    cloud is None or chaos_burst.retired(app, cloud, chaos_burst.server_prefix(burst))
                )
            except Exception:  # the database restarting: read again next round
                db.engine(app).dispose()
                time.sleep(0.2)
                continue
            if done:
                break
            if actions_left and time.monotonic() >= next_action:
                if act(fault):
                    actions_left -= 1
                    fault = draw()
                    next_action = time.monotonic() + rng.uniform(0.5, 3.0)
                else:  # no burst job running (yet, or any more): try again shortly
                    next_action = time.monotonic() + 0.3
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
        if cloud is not None:
            trial.ledger += chaos_burst.check_instances(app, cloud, chaos_burst.server_prefix(burst))
    finally:
        stop_all(procs, grace=20)
        if agent_api is not None:
            agent_api.stop()
        db.engine(app).dispose()
    trial.seconds = time.monotonic() - started
    return trial


def main(argv: list[str] | None = None) -> int:
    parser = long_run_parser(__doc__)
    parser.add_argument("--trials", type=int, default=10, help="per backend")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fault",
        action="append",
        choices=["worker_kill", "db_restart", *chaos_burst.FAULTS],
        help="only these faults (default: all, a burst one half the time)",
    )
    parser.add_argument(
        "--no-burst",
        dest="burst",
        action="store_false",
        help="local jobs only (no local cloud, no burst faults)",
    )
    args = parser.parse_args(argv)
    take_interrupts()
    backends = args.backend or ["sqlite", "postgres"]
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="gk-chaos-jobs-"))
    # The gateway's own warnings (agents' requests answered 503 while PostgreSQL restarts...) go to
    # a file, not between the trial lines.
    logging.basicConfig(filename=base / "gateway.log", level=logging.WARNING)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")  # the private PostgreSQL writes below it
    pg: PrivatePostgres | None = None
    cloud: chaos_burst.ChaosCloud | None = None
    trials: list[Trial] = []
    t0 = time.monotonic()
    print(
        f"job chaos: {args.trials} trials per backend ({', '.join(backends)}), seed {args.seed}", flush=True
    )
    try:
        if "postgres" in backends:
            pg = PrivatePostgres(base)
            pg.start()
        if args.burst:
            cloud = chaos_burst.ChaosCloud(base)
            cloud.start()
        for n in range(1, args.trials + 1):  # backends alternate: an early stop leaves both measured
            for backend in backends:
                t = run_trial(
                    backend,
                    n,
                    rng,
                    base,
                    pg if backend == "postgres" else None,
                    cloud,
                    tuple(args.fault or ()),
                )
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
                burst = "".join(f", {k} {v}" for k, v in sorted(t.burst_faults.items()))
                print(
                    f"{backend:<8} trial {n:>4}: {t.jobs:>2} jobs ({t.burst_jobs} burst), {t.kills} worker "
                    f"kills, {t.db_restarts} db restarts{burst} {t.seconds:5.1f}s {flags}",
                    flush=True,
                )
                for detail in (*t.failed, *t.ledger):
                    print(f"    {detail}", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {len(trials)} trials", flush=True)
    finally:
        if cloud is not None:
            cloud.stop()
        if pg is not None:
            pg.stop()
    totals = {
        "trials": len(trials),
        "jobs": sum(t.jobs for t in trials),
        "burst_jobs": sum(t.burst_jobs for t in trials),
        "worker_kills": sum(t.kills for t in trials),
        "db_restarts": sum(t.db_restarts for t in trials),
        "burst_faults": dict(sorted(sum((t.burst_faults for t in trials), Counter()).items())),
        "lost": sum(len(t.lost) for t in trials),
        "doubled": sum(len(t.doubled) for t in trials),
        "reruns": sum(len(t.reruns) for t in trials),
        "failed": sum(len(t.failed) for t in trials),
        "ledger_problems": sum(len(t.ledger) for t in trials),
        "seconds": round(time.monotonic() - t0, 1),
    }
    faults = ", ".join(f"{k} {v}" for k, v in totals["burst_faults"].items()) or "none"
    print(
        f"\ntrials {totals['trials']}  jobs {totals['jobs']} ({totals['burst_jobs']} burst)  "
        f"worker kills {totals['worker_kills']}  database restarts {totals['db_restarts']}  "
        f"burst faults: {faults}"
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
