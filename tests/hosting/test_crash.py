"""SIGKILL of `gateway-kit deploy apply` at random points, then re-apply: no duplicate, no orphan."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.hosting.engine import engine_for
from gateway_kit.hosting.spec import load_spec
from gateway_kit.localcloud.testing import LocalCloudController

from .conftest import FAST, STANDARD, make_app


def _started(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db) as conn:
            return bool(conn.execute("SELECT count(*) FROM hosting_steps").fetchone()[0])
    except sqlite3.Error:
        return False


def _ready(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(
                conn.execute("SELECT count(*) FROM hosting_resources WHERE status = 'ready'").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


# GK_CRASH_SEEDS=50 for a longer soak; CI runs six.
@pytest.mark.parametrize("seed", range(1, 1 + int(os.environ.get("GK_CRASH_SEEDS", "6"))))
def test_sigkill_then_reapply_converges(seed: int, tmp_path: Path, control: LocalCloudController) -> None:
    rng = random.Random(seed)
    instance = tmp_path / "instance"
    app = make_app(tmp_path, **FAST)  # migrates the database the subprocess will use
    db = instance / "gateway.db"
    env = {**os.environ, "GATEWAY_KIT_DATABASE_URL": f"sqlite:///{db}", "GATEWAY_KIT_ENV": "testing"}
    env.update({f"GATEWAY_KIT_{k}": ",".join(v) if isinstance(v, list) else str(v) for k, v in FAST.items()})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "deploy", "apply", str(STANDARD)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not _started(db) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _started(db), proc.stderr.read().decode()[-2000:] if proc.stderr else "apply never started"
    # Kill once a random number of resources are ready (plus a random fraction of a step), so
    # the kill lands mid-apply whatever the machine's speed.
    target = rng.randint(0, 18)
    while _ready(db) < target and proc.poll() is None and time.monotonic() < deadline + 60:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "apply finished before the kill: lower the delay"
    with sqlite3.connect(db) as conn:
        progress = conn.execute("SELECT count(*) FROM hosting_resources WHERE status = 'ready'").fetchone()[0]
    assert progress < 22  # killed part-way

    engine = engine_for(app)
    engine.apply(load_spec(STANDARD))
    conn = engine.cloud.conn
    names: Counter[str] = Counter(s.name for s in conn.compute.servers() if s.name.startswith("standard-"))
    assert names == Counter(["standard-web-1", "standard-web-2", "standard-database-1"])
    vols: Counter[Any] = Counter(
        v.name for v in conn.block_storage.volumes() if (v.name or "").startswith("standard-")
    )
    assert vols == Counter(["standard-datasets", "standard-database-1-data"])
    assert len(list(conn.load_balancer.load_balancers(name="standard-lb"))) == 1
    assert len(list(conn.network.ips(tags="gateway-kit"))) == 1
    assert len(list(conn.network.security_groups(name="standard"))) == 1
    pool = conn.load_balancer.find_pool("standard-pool")
    assert len(list(conn.load_balancer.members(pool.id))) == 2
    assert engine.orphans() == []
    _, rows = engine.status("standard")
    assert all(r.recorded == "ready" and not r.drift for r in rows), [
        (r.key, r.recorded, r.drift) for r in rows
    ]
    engine.destroy("standard")
    assert engine.orphans() == []
