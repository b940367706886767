"""The CI variants of the chaos benches: a few trials each, the same figures, all zero.

The full runs (``--trials 200`` etc.), their commands and figures are in docs/src/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``bench/SCRIPT --json ARGS`` and return its totals (the last line, JSON)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--json", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), proc.stdout[-3000:] + proc.stderr[-3000:]
    totals: dict[str, Any] = json.loads(lines[-1])
    totals["output"] = proc.stdout
    totals["returncode"] = proc.returncode
    return totals


def test_deploy_chaos_short() -> None:
    # Seed 32: 5xx answers, 429s and a server in ERROR on the cloud, an apply SIGKILLed mid-way.
    t = run_bench("chaos_deploy.py", "--trials", "1", "--seed", "32")
    assert t["trials"] == 1 and t["faults"] == {"5xx": 1, "429": 1, "server_error": 1}, t["output"]
    bad = {k: t[k] for k in ("duplicates", "orphans", "leaks", "stuck", "unclear_messages") if t[k]}
    assert bad == {} and t["returncode"] == 0, t["output"]


def test_job_chaos_short() -> None:
    # Seed 3: a worker SIGKILLed, PostgreSQL restarted, a burst instance stopped under its job and
    # the local cloud restarted.
    t = run_bench("chaos_jobs.py", "--trials", "1", "--seed", "3")
    assert t["trials"] == 2 and t["worker_kills"] + t["db_restarts"] >= 1, t["output"]
    assert t["burst_jobs"] >= 1 and sum(t["burst_faults"].values()) >= 1, t["output"]
    bad = {k: t[k] for k in ("lost", "doubled", "failed", "ledger_problems") if t[k]}
    assert bad == {} and t["returncode"] == 0, t["output"]


def test_soak_short() -> None:
    t = run_bench("soak_api.py", "--duration", "15", "--outage", "2", "--clients", "2")
    assert t["accepted"] > 0 and any(k.endswith(" 503") for k in t["by_status"]), t["output"]
    assert t["status_500"] == 0 and t["status_503_without_retry_after"] == 0, t["output"]
    assert t["lost"] == 0 and t["returncode"] == 0, t["output"]
