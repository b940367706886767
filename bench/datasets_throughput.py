"""Dataset download and upload throughput through the gateway (gunicorn), side by side with a
plain static file server and a plain upload sink serving/receiving the same bytes in the same run.

    .venv/bin/python bench/datasets_throughput.py [--size-mb 512] [--rounds 3] [--clients 4]
                                                  [--upload-only]

Download: the gateway's ``GET /api/v1/datasets/<id>/files/<path>`` (access check, ETag, Range
support, ``send_file``; gunicorn 4 sync workers) vs ``python -m http.server`` (or nginx when it is
installed) serving the very file on the datasets root; one client, then ``--clients`` in parallel.
Upload: the chunk protocol (8 MB chunks, each with its SHA-256 checked by the server, the whole
file's SHA-256 checked at the end) vs a minimal WSGI sink under the same gunicorn that writes the
same chunks to disk with no checks, into a new file each round as the gateway does (rewriting one
file would reuse its cached pages). Client-side hashing is done before the clock starts.
Everything runs on loopback on this host, so the figures are CPU and page-cache bound.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 8 * 1024 * 1024

SINK = """
import os
ROOT = os.environ["SINK_DIR"]
def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    name = os.path.join(ROOT, os.path.basename(environ.get("PATH_INFO", "")) or "upload.bin")
    offset = int(environ.get("HTTP_X_OFFSET", "0"))
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o600)
    stream = environ["wsgi.input"]
    done = 0
    while done < length:
        block = stream.read(min(1 << 20, length - done))
        if not block:
            break
        os.pwrite(fd, block, offset + done)
        done += len(block)
    os.close(fd)
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def download(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status} {resp.read()[:200]!r}")
    total = 0
    while block := resp.read(1 << 20):
        total += len(block)
    conn.close()
    return total


def timed_downloads(
    port: int, path: str, clients: int, rounds: int, headers: dict[str, str] | None = None
) -> float:
    """MB/s (10^6 bytes) moved by ``clients`` parallel downloads, best of ``rounds``."""
    best = 0.0
    for _ in range(rounds):
        moved = [0] * clients

        def one(i: int, moved: list[int] = moved) -> None:
            moved[i] = download(port, path, headers)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        best = max(best, sum(moved) / (time.perf_counter() - t0) / 1e6)
    return best


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def upload_gateway(
    port: int, token: str, uid: str, name: str, data: bytes, digests: list[str], whole: str
) -> tuple[float, tuple[float, float, float]]:
    """MB/s of one whole upload, and the seconds spent in (start, chunks, complete)."""
    import json

    auth = {"Authorization": f"Bearer {token}"}
    body = json.dumps({"path": name, "size": len(data), "sha256": whole, "chunk_size": CHUNK})
    t0 = time.perf_counter()
    status, out = request(
        port,
        "POST",
        f"/api/v1/datasets/{uid}/uploads",
        body.encode(),
        {**auth, "Content-Type": "application/json"},
    )
    assert status == 201, out
    up = json.loads(out)["id"]
    t1 = time.perf_counter()
    for i, digest in enumerate(digests):
        status, out = request(
            port,
            "PUT",
            f"/api/v1/datasets/{uid}/uploads/{up}/chunks/{i}",
            data[i * CHUNK : (i + 1) * CHUNK],
            {**auth, "X-Chunk-SHA256": digest, "Content-Type": "application/octet-stream"},
        )
        assert status == 200, out
    t2 = time.perf_counter()
    status, out = request(port, "POST", f"/api/v1/datasets/{uid}/uploads/{up}/complete", None, auth)
    assert status == 201, out
    t3 = time.perf_counter()
    return len(data) / (t3 - t0) / 1e6, (t1 - t0, t2 - t1, t3 - t2)


def upload_sink(port: int, data: bytes, name: str) -> float:
    """MB/s of the same chunks PUT to the plain sink, into a new file ``name`` (as the gateway
    writes a new file per upload: rewriting one file would reuse its cached pages)."""
    t0 = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        status, _ = request(port, "PUT", f"/{name}", data[i : i + CHUNK], {"X-Offset": str(i)})
        assert status == 200
    return len(data) / (time.perf_counter() - t0) / 1e6


def setup_gateway(inst: Path) -> tuple[str, str]:
    """A public dataset (empty) and a token with datasets scopes; returns (uid, token)."""
    sys.path.insert(0, str(ROOT))
    from gateway_kit import create_app
    from gateway_kit.data import catalog
    from gateway_kit.db import db, upgrade
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.identity.tokens import create_token

    app = create_app({"ENV": "testing", "DATA_PROJECT_QUOTA_GB": 1000.0}, instance_path=str(inst))
    upgrade(app)
    with app.test_request_context():
        user = User(username="bench", display_name="Bench", email="b@example.org")
        project = Project(name="bench", title="Bench")
        db.session.add_all([user, project])
        db.session.flush()
        db.session.add(ProjectMember(project_id=project.id, user_id=user.id, role="manager"))
        db.session.commit()
        ds = catalog.create(db.session, user, {"name": "bench", "project": "bench", "visibility": "public"})
        _row, token = create_token(db.session, user, "bench", ["datasets:read", "datasets:write"], 1)
        db.session.commit()
        return ds.uid, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--upload-only", action="store_true", help="measure the uploads only (no download runs)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gk-bench-data-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        inst = work / "instance"
        uid, token = setup_gateway(inst)
        data = os.urandom(args.size_mb * 1024 * 1024)
        digests = [hashlib.sha256(data[i : i + CHUNK]).hexdigest() for i in range(0, len(data), CHUNK)]
        whole = hashlib.sha256(data).hexdigest()
        # The instance folder is ./instance of gunicorn's working directory.
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GATEWAY_KIT_ENV": "testing",
            "GATEWAY_KIT_DATA_PROJECT_QUOTA_GB": "1000",
            "GATEWAY_KIT_LOG_LEVEL": "WARNING",
        }
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))

        def serve(port: int, *app: str) -> list[str]:
            """gunicorn with ``--workers`` workers on ``port``, serving ``app``."""
            options = ["-w", str(args.workers), "--timeout", "300", "--log-level", "warning"]
            return [gunicorn, *options, "-b", f"127.0.0.1:{port}", *app]

        gw_port, static_port, sink_port = free_port(), free_port(), free_port()
        procs.append(subprocess.Popen(serve(gw_port, "gateway_kit:create_app()"), cwd=work, env=env))
        sink_dir = work / "sink"
        sink_dir.mkdir()
        (sink_dir / "sinkapp.py").write_text(SINK)
        sink = serve(sink_port, "--chdir", str(sink_dir), "sinkapp:app")
        procs.append(subprocess.Popen(sink, env={**os.environ, "SINK_DIR": str(sink_dir)}))
        for port in (gw_port, sink_port):
            wait_port(port)

        up_gw, phases = max(
            upload_gateway(gw_port, token, uid, f"up{r}.bin", data, digests, whole)
            for r in range(args.rounds)
        )
        up_sink = max(upload_sink(sink_port, data, f"up{r}.bin") for r in range(args.rounds))
        upload_line = (
            f"{'':<34}{1:>8}{up_gw:>16.0f}{up_sink:>15.0f}{'':>19}"
            f"{up_gw / up_sink:>7.2f}\n{'  best gateway upload, seconds:':<34}start "
            f"{phases[0]:.3f}, {len(digests)} chunks {phases[1]:.3f}, complete "
            f"{phases[2]:.3f}"
        )
        if args.upload_only:
            print(
                f"file {args.size_mb} MiB, gunicorn {args.workers} sync workers, best of "
                f"{args.rounds}, MB/s = 10^6 bytes/s, loopback, {os.cpu_count()} CPUs"
            )
            print(f"{'upload (8 MiB chunks, 1 client)':<34}{'':>8}{'gateway':>16}{'plain sink':>15}")
            print(upload_line)
            return

        files_dir = inst / "datasets" / uid / "files"
        nginx = shutil.which("nginx")
        static_name = "plain http.server"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    str(static_port),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(files_dir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        if nginx:
            static_name = "plain http.server (nginx found but not configured by this bench)"
        wait_port(static_port)
        gw_path = f"/api/v1/datasets/{uid}/files/up0.bin"
        auth = {"Authorization": f"Bearer {token}"}
        rows = []
        for clients in (1, args.clients):
            gw = timed_downloads(gw_port, gw_path, clients, args.rounds, auth)
            anon = timed_downloads(gw_port, gw_path, clients, args.rounds)
            static = timed_downloads(static_port, "/up0.bin", clients, args.rounds)
            rows.append((clients, gw, anon, static))
        print(
            f"file {args.size_mb} MiB, gunicorn {args.workers} sync workers, best of "
            f"{args.rounds}, MB/s = 10^6 bytes/s, loopback, {os.cpu_count()} CPUs"
        )
        print(
            f"{'download':<34}{'clients':>8}{'gateway(token)':>16}{'gateway(anon)':>15}"
            f"{static_name[:17]:>19}{'ratio':>7}"
        )
        for clients, gw, anon, static in rows:
            print(f"{'':<34}{clients:>8}{gw:>16.0f}{anon:>15.0f}{static:>19.0f}{gw / static:>7.2f}")
        print(f"{'upload (8 MiB chunks, 1 client)':<34}{'':>8}{'gateway':>16}{'plain sink':>15}")
        print(upload_line)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
