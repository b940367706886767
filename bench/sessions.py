"""Interactive sessions: launch-to-ready per executor, and the session proxy next to a direct connection.

    .venv/bin/python bench/sessions.py [--launches 5] [--jupyter] [--requests 400] [--messages 2000]
                                       [--no-burst] [--no-slurm]

* launch-to-ready: ``POST``-equivalent launch (service.launch) until the session is ``ready``, the
  worker's sessions pass run back to back (no poll interval), for the ``hello-web`` example on
  ``local`` (and JupyterLab once with ``--jupyter``), on ``slurm`` (the local SLURM, when ``sinfo``
  answers) and on ``burst`` (the local cloud with its data plane, in this process: the first
  launch boots an instance -- "cold" -- the next ones find it up -- "warm").
* HTTP: sequential GETs of the session's page (latency, median and p95) and 16 concurrent clients
  (requests per second), straight to the server with its token vs through the proxy with the
  gateway's login cookie.
* WebSocket: sequential 1 KiB echo round trips (latency) and 256 pipelined 64 KiB messages
  (throughput, MB/s), same two paths.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--jupyter", action="store_true", help="also time one JupyterLab launch")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-burst", action="store_true", help="skip the burst row (no local cloud)")
    parser.add_argument("--no-slurm", action="store_true", help="skip the slurm row")
    args = parser.parse_args()

    import httpx
    import uvicorn
    from flask import session as flask_session
    from websockets.asyncio.client import connect

    from gateway_kit import create_app
    from gateway_kit.db import db, upgrade
    from gateway_kit.identity.access import login_user
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.jobs import accounting
    from gateway_kit.sessions import service
    from gateway_kit.sessions.lifecycle import run_sessions
    from gateway_kit.sessions.models import InteractiveSession
    from gateway_kit.sessions.proxy import SessionProxy

    tmp = Path(tempfile.mkdtemp(prefix="gk-bench-sessions-"))
    table: dict[str, Any] = {"local": {"executor": "local"}}
    settings: dict[str, Any] = {}
    if not args.no_slurm and slurm_answers():
        table["slurm"] = {"executor": "slurm", "partition": "debug", "session_bind": "127.0.0.1"}
        settings |= {"SLURM_POLL_CACHE_SECONDS": 0.0, "SLURM_JOB_NAME_PREFIX": f"gkbench{os.getpid()}"}
    cloud = plane = None
    if not args.no_burst:
        from gateway_kit.localcloud import dataplane
        from gateway_kit.localcloud.clock import ClockConfig
        from gateway_kit.localcloud.core import LocalCloudConfig
        from gateway_kit.localcloud.server import LocalCloudServer

        cloud = LocalCloudServer(LocalCloudConfig(clock=ClockConfig(delay=0.05))).start()
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(cloud.write_clouds_yaml(tmp / "clouds.yaml"))
        plane = dataplane.enable(cloud.cloud, tmp / "dataplane", interval=0.1)
        gateway_port = free_port()
        table["burst"] = {
            "executor": "burst",
            "cloud": "local",
            "image": "cirros-0.6.2-x86_64-disk",
            "su_per_cpu_hour": 1.0,
            "max_instances": 2,
            "idle_timeout": 300.0,
            "charge_project": "bench",
        }
        settings |= {
            "BURST_AGENT_URL": f"http://127.0.0.1:{gateway_port}",
            "BURST_HEARTBEAT_INTERVAL": 0.3,
        }
    app = create_app(
        {
            "ENV": "testing",
            "PLUGINS": ["gateway_kit.sessions.examples"],
            "JOBS_LOCAL_GPUS": [],
            "JOBS_LOCAL_KILL_GRACE": 1.0,
            "SESSIONS_MAX_PER_USER": 50,
            "JOBS_DESTINATIONS_MAP": table,
            **settings,
        },
        instance_path=str(tmp / "instance"),
    )
    upgrade(app)
    if "burst" in table:  # the agents call the gateway over HTTP
        from werkzeug.serving import make_server

        web = make_server("127.0.0.1", gateway_port, app, threaded=True)
        threading.Thread(target=web.serve_forever, daemon=True).start()
    with db.session_scope(app) as s:
        user = User(username="bench", display_name="Bench", email="bench@example.org", role="user")
        s.add(user)
        project = Project(name="bench", title="Bench")
        s.add(project)
        s.flush()
        s.add(ProjectMember(project_id=project.id, user_id=user.id))
        accounting.set_allocation(s, project, 1e6, None, top_up=False, note="bench")
        uid = user.id

    def launch_ready(app_id: str, where: str = "local") -> tuple[int, float]:
        with app.test_request_context():
            u = db.session.get(User, uid)
            assert u is not None
            t0 = time.perf_counter()
            row = service.launch(db.session, u, service.Launch(application=app_id, destination=where))
            sid = row.id
        while True:
            with app.app_context():
                run_sessions(app)
                row = db.session.get(InteractiveSession, sid)
                assert row is not None
                state, reason = row.state, row.state_reason
            if state == "ready":
                return sid, time.perf_counter() - t0
            if state in ("failed", "ended"):
                raise SystemExit(f"session {sid} {state}: {reason}")
            time.sleep(0.01)

    def end(sid: int) -> None:
        with app.app_context():
            row = db.session.get(InteractiveSession, sid)
            assert row is not None
            row.end_requested = True
            db.session.commit()
            run_sessions(app)

    def row(label: str, app_id: str, times: list[float]) -> None:
        print(
            f"  {label:<14} {app_id:<12} {len(times):>3} {statistics.median(times):>9.2f} {max(times):>7.2f}",
            flush=True,
        )

    print("launch-to-ready (worker passes back to back)")
    print(f"  {'executor':<14} {'application':<12} {'n':>3} {'median s':>9} {'max s':>7}")
    for where in table:
        times = []
        for _ in range(args.launches):
            sid, took = launch_ready("hello-web", where)
            times.append(took)
            end(sid)
        if where == "burst":  # the first launch booted the instance the next ones used
            row("burst (cold)", "hello-web", times[:1])
            if len(times) > 1:
                row("burst (warm)", "hello-web", times[1:])
        else:
            row(where, "hello-web", times)
        if args.jupyter:
            sid, took = launch_ready("jupyterlab", where)
            end(sid)
            row(where, "jupyterlab", [took])
    if "slurm" not in table:
        print("  slurm: skipped (--no-slurm, or sinfo does not answer)")
    if "burst" not in table:
        print("  burst: skipped (--no-burst)")

    sid, _ = launch_ready("hello-web")
    with app.app_context():
        row = db.session.get(InteractiveSession, sid)
        assert row is not None
        direct = f"http://127.0.0.1:{row.backend_port}/sessions/{sid}/"
        token = row.token(app.config)
    with app.test_request_context():
        login_user(db.session.get(User, uid))  # type: ignore[arg-type]
        cookie = app.session_interface.get_signing_serializer(app).dumps(dict(flask_session))  # type: ignore[attr-defined]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            SessionProxy(app), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    proxied = f"http://127.0.0.1:{port}/sessions/{sid}/"
    paths: dict[str, tuple[str, dict[str, str]]] = {
        "direct": (direct, {"Authorization": f"token {token}"}),
        "proxy": (proxied, {"Cookie": f"session={cookie}"}),
    }

    async def http_latency(url: str, headers: dict[str, str]) -> list[float]:
        out = []
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(20):
                (await client.get(url, headers=headers)).raise_for_status()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                (await client.get(url, headers=headers)).raise_for_status()
                out.append((time.perf_counter() - t0) * 1000)
        return out

    async def http_throughput(url: str, headers: dict[str, str]) -> float:
        n = args.requests * 2
        done = 0

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal done
            while done < n:
                done += 1
                (await client.get(url, headers=headers)).raise_for_status()

        async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=16)) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(client) for _ in range(16)))
            return n / (time.perf_counter() - t0)

    async def ws_figures(url: str, headers: dict[str, str]) -> tuple[list[float], float]:
        uri = url.replace("http://", "ws://") + "echo"
        async with connect(uri, additional_headers=headers, max_size=None, proxy=None) as ws:  # type: ignore[arg-type]
            small = b"x" * 1024
            lat = []
            for i in range(args.messages + 50):
                t0 = time.perf_counter()
                await ws.send(small)
                await ws.recv()
                if i >= 50:
                    lat.append((time.perf_counter() - t0) * 1000)
            big = b"y" * 65536
            count = 256

            async def sender() -> None:
                for _ in range(count):
                    await ws.send(big)

            t0 = time.perf_counter()
            task = asyncio.ensure_future(sender())
            for _ in range(count):
                await ws.recv()
            await task
            mbps = count * len(big) * 2 / (time.perf_counter() - t0) / 1e6  # both directions
        return lat, mbps

    results: dict[str, dict[str, Any]] = {}
    for name, (url, headers) in paths.items():
        lat = asyncio.run(http_latency(url, headers))
        rps = asyncio.run(http_throughput(url, headers))
        wlat, mbps = asyncio.run(ws_figures(url, headers))
        results[name] = {"lat": lat, "rps": rps, "wlat": wlat, "mbps": mbps}
    server.should_exit = True
    thread.join(timeout=10)
    end(sid)

    d, p = results["direct"], results["proxy"]
    print()
    print(f"  {'':<34} {'direct':>10} {'proxy':>10} {'added':>10}")
    rows = [
        ("HTTP GET median ms", statistics.median(d["lat"]), statistics.median(p["lat"])),
        ("HTTP GET p95 ms", pct(d["lat"], 0.95), pct(p["lat"], 0.95)),
        ("HTTP req/s (16 clients)", d["rps"], p["rps"]),
        ("WebSocket 1 KiB round trip med ms", statistics.median(d["wlat"]), statistics.median(p["wlat"])),
        ("WebSocket 1 KiB round trip p95 ms", pct(d["wlat"], 0.95), pct(p["wlat"], 0.95)),
        ("WebSocket 64 KiB echo MB/s", d["mbps"], p["mbps"]),
    ]
    for label, a, b in rows:
        print(f"  {label:<34} {a:>10.2f} {b:>10.2f} {b - a:>+10.2f}")
    if cloud is not None and plane is not None:
        from gateway_kit.localcloud import dataplane

        dataplane.disable(cloud.cloud)
        cloud.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def slurm_answers() -> bool:
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


if __name__ == "__main__":
    main()
