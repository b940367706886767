"""Peak RSS of a gunicorn worker while anonymous clients send multi-hundred-MB bodies.

    python bench/body_limits.py [--mb 400] [--requests 6] [--workers 1]

Starts gunicorn as the Procfile does (``-c python:gateway_kit.gunicorn_conf``, one worker, on a
free loopback port, a throw-away instance folder), measures the worker's RSS when idle (after a
few warm-up pages), then sends ``--requests`` anonymous requests that each really stream ``--mb``
MB (url-encoded form fields, JSON, multipart) to a form page, an API endpoint and an unknown path.
It samples the worker's RSS every 10 ms throughout and prints idle and peak side by side with the
answers' statuses; then the same requests again without a Content-Length (chunked transfer
encoding), which the gateway refuses to an anonymous caller (403: no CSRF token or session; 401;
404) before reading. Every declared body must be refused with 413, every chunked one answered before all of it
was sent, and the peak must stay within a few MB of idle.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from benchkit import GUNICORN

TARGETS = [
    ("POST", "/datasets/new", "application/x-www-form-urlencoded"),
    ("POST", "/api/v1/datasets", "application/json"),
    ("POST", "/no/such/page", "application/x-www-form-urlencoded"),
    ("PUT", "/api/v1/datasets/x/uploads/y/chunks/0", "application/octet-stream"),
    ("POST", "/apps/x", "multipart/form-data; boundary=b"),
    ("POST", "/profile/tokens", "application/x-www-form-urlencoded"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send_big(
    port: int, method: str, path: str, ctype: str, size: int, chunked: bool = False
) -> tuple[int, int]:
    """Stream ``size`` bytes of ``a=1&a=1...`` until the server answers; (status, bytes sent).

    ``chunked``: no Content-Length (``Transfer-Encoding: chunked``), so nothing tells the server
    the size up front."""
    chunk = b"a=1&" * (256 * 1024)  # 1 MiB of tiny form fields
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
            f"{length}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        sent = 0
        answer = b""
        while sent < size:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered before reading the body
            try:
                if chunked:
                    sock.sendall(frame)
                    sent += len(chunk)
                else:
                    sent += sock.send(chunk[: min(len(chunk), size - sent)])
            except OSError:
                break
        sock.settimeout(60)
        try:
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=400)
    ap.add_argument("--requests", type=int, default=len(TARGETS))
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gk-bench-body-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
        env.update(
            GATEWAY_KIT_INSTANCE=str(Path(tmp) / "instance"),
            GATEWAY_KIT_ENV="development",
            GUNICORN_BIND=f"127.0.0.1:{port}",
            GUNICORN_WORKERS=str(args.workers),
        )
        cmd = GUNICORN
        master = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    for page in ("/", "/api/", "/static/gk/gateway-kit.css", "/no/such/page"):
                        # An HTTPError is an answer all the same (the 404 warms the error pages).
                        with contextlib.suppress(urllib.error.HTTPError):
                            urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=10).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or master.poll() is not None:
                        raise SystemExit("gunicorn did not start") from None
                    time.sleep(0.3)
            workers = psutil.Process(master.pid).children()
            time.sleep(1.0)
            idle = max(w.memory_info().rss for w in workers)
            peak = idle
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not stop.is_set():
                    for w in workers:
                        with contextlib.suppress(psutil.Error):
                            peak = max(peak, w.memory_info().rss)
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            size = args.mb * 1024 * 1024
            results: list[tuple[str, str, int, int]] = []
            chunked: list[tuple[str, str, int, int]] = []
            started = time.monotonic()
            for i in range(args.requests):
                method, path, ctype = TARGETS[i % len(TARGETS)]
                status, sent = send_big(port, method, path, ctype, size)
                results.append((method, path, status, sent))
            for i in range(args.requests):
                method, path, ctype = TARGETS[i % len(TARGETS)]
                status, sent = send_big(port, method, path, ctype, size, chunked=True)
                chunked.append((method, path, status, sent))
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            stop.set()
            sampler.join()
        finally:
            master.terminate()
            master.wait(timeout=30)
    mb = 1024 * 1024
    print(
        f"{args.requests} anonymous requests declaring {args.mb} MB each, gunicorn {args.workers} worker(s)"
    )
    print(f"{'method':<7}{'path':<42}{'status':>7}{'MB sent before the answer':>28}")
    for method, path, status, sent in results:
        print(f"{method:<7}{path:<42}{status:>7}{sent / mb:>28.1f}")
    print("the same without Content-Length (Transfer-Encoding: chunked), anonymous: answered unread")
    for method, path, status, sent in chunked:
        print(f"{method:<7}{path:<42}{status:>7}{sent / mb:>28.1f}")
    print(
        f"worker RSS idle {idle / mb:.1f} MB | peak under the requests {peak / mb:.1f} MB | "
        f"growth {(peak - idle) / mb:+.1f} MB | {elapsed:.1f} s for all requests"
    )
    answered = all(400 <= r[2] < 500 or r[2] == 302 for r in chunked)
    unread = answered and all(r[3] < args.mb * mb for r in chunked)
    ok = all(r[2] == 413 for r in results) and unread and peak - idle < 16 * mb
    print(
        "OK: every declared body refused with 413, every chunked one answered before it was sent, "
        "peak within 16 MB of idle"
        if ok
        else "FAILED"
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
