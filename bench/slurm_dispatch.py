"""SLURM dispatch: the gateway's slurm executor against a raw ``sbatch`` loop, on a real SLURM.

1. N trivial jobs (``true``) submitted through :class:`gateway_kit.slurm.executor.SlurmExecutor`
   (what the job queue drives: one ``submit`` per job, then one ``poll`` per job per cycle) until
   all are COMPLETED; then the same N jobs as a raw ``sbatch --wrap true`` loop followed by
   ``squeue`` until none is left, in alternating rounds. Prints the median throughputs and the
   ratio.
2. The number of SLURM commands the executor runs per poll cycle at 1, 100 and 1000 active jobs
   (scripted transport: counting needs no cluster).

Run (SLURM from .ci/services.sh)::

    source /tmp/gk-services/env.sh   # SLURM_CONF
    .venv/bin/python bench/slurm_dispatch.py [-n 100] [--poll 0.25] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway_kit.jobs.executors.base import JobSpec  # noqa: E402
from gateway_kit.jobs.states import JobState  # noqa: E402
from gateway_kit.slurm.executor import SlurmExecutor  # noqa: E402
from gateway_kit.slurm.testing import (  # noqa: E402
    ScriptedTransport,
    requested_ids,
    result,
    squeue_lines,
)


def gateway_run(n: int, poll: float, root: Path) -> tuple[float, int, int, float]:
    ex = SlurmExecutor(
        "bench",
        {"executor": "slurm"},
        {
            "SLURM_POLL_CACHE_SECONDS": poll / 2,
            "SLURM_SUBMIT_RETRIES": 1,
            "SLURM_JOB_NAME_PREFIX": f"gkb{int(time.time())}",
        },
    )
    start = time.monotonic()
    cpu0 = time.process_time()
    states = []
    for i in range(n):
        d = root / f"g{i}"
        d.mkdir()
        states.append(
            ex.submit(JobSpec(job_id=i + 1, argv=["true"], workdir=str(d), memory_mb=100, walltime=600))
        )
    submit_commands = ex.transport.commands_run
    submit_cpu = (time.process_time() - cpu0) / n * 1000
    pending = list(states)
    cycles = 0
    while pending:
        cycles += 1
        ex._snapshot_at = -1e9  # each cycle starts a new squeue (as after JOBS_POLL_INTERVAL)
        still = []
        for s in pending:
            r = ex.poll(s)
            if not r.state.terminal:
                still.append(s)
            elif r.state is not JobState.COMPLETED:
                raise SystemExit(f"job {s} ended {r.state}: {r.reason}")
        pending = still
        if pending:
            time.sleep(poll)
    elapsed = time.monotonic() - start
    return elapsed, ex.transport.commands_run - submit_commands, cycles, submit_cpu


def raw_run(n: int, poll: float, root: Path) -> float:
    start = time.monotonic()
    ids = []
    for i in range(n):
        out = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--mem=100M",
                "--time=10",
                f"--output={root}/r{i}.out",
                "--wrap",
                "true",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(out.stdout.strip().split(";")[0])
    while True:
        out = subprocess.run(
            ["squeue", "--noheader", "--jobs=" + ",".join(ids), "-o", "%i"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode == 0 and not out.stdout.strip():
            break
        if out.returncode != 0 and "Invalid job id" not in out.stderr:
            raise SystemExit(out.stderr)
        if out.returncode != 0:
            break
        time.sleep(poll)
    return time.monotonic() - start


def commands_per_cycle(active: int) -> int:
    t = ScriptedTransport(
        [("^squeue", lambda argv, _: result(squeue_lines({i: "RUNNING" for i in requested_ids(argv)})))]
    )
    ex = SlurmExecutor("count", {"executor": "slurm"}, {"SLURM_POLL_CACHE_SECONDS": 60.0}, transport=t)
    states = [{"slurm_job_id": str(10_000 + i)} for i in range(active)]
    ex.poll_many(states)  # first cycle: the worker learns its jobs
    before = t.commands_run
    ex._snapshot_at = -1e9
    for s in states:  # a steady-state cycle: the queue polls each job
        ex.poll(s)
    return t.commands_run - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="jobs per side")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between poll cycles")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--counts-only", action="store_true", help="skip the real-SLURM part")
    args = parser.parse_args()

    if not args.counts_only:
        if not shutil.which("sbatch"):
            raise SystemExit("sbatch not found: start SLURM with .ci/services.sh (start_slurm)")
        root = Path(tempfile.mkdtemp(prefix="gk-slurm-bench-"))
        g_times: list[float] = []
        r_times: list[float] = []
        g_cmds = cycles = 0
        g_cpu: list[float] = []
        for r in range(args.rounds):  # alternate who goes first: the controller's load drifts
            for side in ("gateway", "raw") if r % 2 == 0 else ("raw", "gateway"):
                where = root / f"{side}{r}"
                where.mkdir()
                if side == "gateway":
                    elapsed, g_cmds, cycles, cpu = gateway_run(args.n, args.poll, where)
                    g_times.append(elapsed)
                    g_cpu.append(cpu)
                else:
                    r_times.append(raw_run(args.n, args.poll, where))
        g_time, r_time = statistics.median(g_times), statistics.median(r_times)
        g_rate, r_rate = args.n / g_time, args.n / r_time
        print(
            f"jobs: {args.n} trivial jobs per side, poll every {args.poll}s, "
            f"medians of {args.rounds} alternating rounds"
        )
        print(
            f"gateway (SlurmExecutor): {g_time:7.2f} s  {g_rate:7.1f} jobs/s  "
            f"({g_cmds} poll commands over {cycles} cycles in the last round); "
            f"submit: {statistics.median(g_cpu):.1f} ms of the gateway's CPU per job (without sbatch's own)"
        )
        print(f"raw sbatch loop        : {r_time:7.2f} s  {r_rate:7.1f} jobs/s")
        print(
            f"ratio gateway/raw throughput: {g_rate / r_rate:.2f} (target >= 0.9; rounds: "
            + ", ".join(f"{r / g:.2f}" for g, r in zip(g_times, r_times, strict=True))
            + ")"
        )
        shutil.rmtree(root, ignore_errors=True)
    for active in (1, 100, 1000):
        print(f"SLURM commands per poll cycle at {active:4d} active jobs: {commands_per_cycle(active)}")


if __name__ == "__main__":
    main()
