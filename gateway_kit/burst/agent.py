"""``gateway-kit agent``: runs on a burst instance and works for the gateway that launched it.

It reads its configuration (a JSON file the instance's user data wrote: ``gateway``, ``token``,
``instance``, ``heartbeat``, ``cpus``, ``gpus``, ``memory_mb``, ``workdir``) and then loops:

* **heartbeat** every ``heartbeat`` seconds (the answer lists jobs to cancel and whether to
  drain), and **renews** its token at half-life, keeping the new one in ``workdir/token``;
* **takes work** while it has room (``POST /work``), downloads the job's inputs (uploaded files
  from the agent API; **datasets** from their manifests, see :meth:`Agent.stage_datasets`) and
  runs it with
  :class:`~gateway_kit.jobs.executors.local.LocalExecutor` -- the local executor's own code path
  (its runner, walltime, memory limit, process groups), on this instance;
* **streams logs** (``stdout.txt``/``stderr.txt`` chunks at offsets, so a repeat is harmless),
  and when the job ends **uploads its outputs**, then **reports** the exit status;
* for a job that **serves** (an interactive session: its server writes
  :data:`~gateway_kit.jobs.executors.base.SERVER_ADDRESS_FILE` once it has a port), **reports the
  port** to the gateway, which connects to the server at this instance's address; the server
  runs until it ends or the gateway cancels it (a heartbeat's answer), like any job.

It needs nothing of the gateway's configuration: no database, no Flask app. HTTP only, with the
standard library.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import stat
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..jobs.executors.base import (
    KIT_ADDRESS_MARK,
    KIT_PYTHON_MARK,
    SERVER_ADDRESS_FILE,
    JobSpec,
    PollResult,
)
from ..jobs.executors.local import LocalExecutor

log = logging.getLogger("gateway_kit.burst.agent")
SKIP = (".gk", "inputs", "tmp")
#: A dataset's manifest URL as :func:`gateway_kit.data.jobinputs.resolve_value` puts it in argv.
MANIFEST_URL = re.compile(
    r"https?://[^\s\"'<>]*?/api/v1/datasets/(ds-[A-Za-z0-9_-]+)/manifest"
    r"\?token=[A-Za-z0-9_.~%-]+"
)
DOWNLOAD_TRIES = 3
CHUNK = 1024 * 1024


class DatasetError(Exception):
    """A dataset input could not be fetched intact (the job fails with this message)."""


def safe_rel(rel: str) -> Path:
    """``rel`` as a relative path without ``..`` (a manifest's or an input's name)."""
    path = Path(rel)
    if not rel or path.is_absolute() or any(p in ("..", ".", "") for p in rel.split("/")):
        raise DatasetError(f"unsafe path {rel!r}")
    return path


def remove_tree(path: Path) -> None:
    """``shutil.rmtree`` that also empties read-only folders (staged datasets are 0555)."""
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path)


def read_only(root: Path) -> None:
    """Files 0444 and folders 0555 under ``root``, as the local executor's dataset views."""
    folders = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        folders += [Path(dirpath) / d for d in dirnames]
        for f in filenames:
            (Path(dirpath) / f).chmod(0o444)
    for folder in reversed(folders):
        folder.chmod(0o555)


def own_address(gateway: str) -> str:
    """This instance's address, for servers to listen on: the local cloud's ``INSTANCE_IP``, else
    the address this machine reaches the gateway from (a UDP socket's local end: nothing is sent)."""
    if os.environ.get("INSTANCE_IP"):
        return os.environ["INSTANCE_IP"]
    parts = urllib.parse.urlsplit(gateway)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((parts.hostname or "127.0.0.1", parts.port or 443))
            return str(s.getsockname()[0])
    except OSError:
        return "0.0.0.0"


class AgentHTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass
class Client:
    """The agent API, with the instance's bearer token."""

    base: str
    token: str
    timeout: float = 30.0

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        if not self.base.startswith(("https://", "http://")):
            raise AgentHTTPError(0, f"the gateway URL {self.base!r} is not http(s)")
        url = self.base.rstrip("/") + "/api/v1/agent" + path
        req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - checked above
        req.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            raise AgentHTTPError(exc.code, exc.read()[:300].decode("utf-8", "replace")) from exc

    def json(self, method: str, path: str, data: Any = None) -> Any:
        status, raw = self.request(method, path, json.dumps(data or {}).encode())
        return json.loads(raw) if status != 204 and raw else None


@dataclass
class Running:
    job_id: int
    spec: JobSpec
    state: dict[str, Any]
    offsets: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    #: The port its server reported (a session's), once sent to the gateway.
    port_sent: int = 0


class Agent:
    """One agent (see the module docstring)."""

    def __init__(self, config: dict[str, Any], root: Path) -> None:
        self.config = config
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        token_file = self.root / "token"
        token = token_file.read_text().strip() if token_file.exists() else str(config["token"])
        self.client = Client(str(config["gateway"]), token)
        self.heartbeat_every = float(config.get("heartbeat", 5.0))
        self.executor = LocalExecutor(
            "agent",
            {
                "max_concurrent": int(config.get("cpus", 1)) or 1,
                "cpus": int(config.get("cpus", 1)) or 1,
                "gpus": [str(i) for i in range(int(config.get("gpus", 0)))],
            },
            {"JOBS_DIR": str(self.root / "jobs"), "INSTANCE_PATH": str(self.root)},
        )
        self.running: dict[int, Running] = {}
        #: Jobs taken (``POST /work``) and still being started: held, though not running yet.
        self.taken: set[int] = set()
        self.stop = threading.Event()
        self.draining = False
        self.token_renew_at = 0.0
        self.next_beat = 0.0
        self.address = own_address(str(config["gateway"]))

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.beat_if_due()
                if not self.draining:
                    self.take_work()
                for run in list(self.running.values()):
                    self.advance(run)
            except AgentHTTPError as exc:
                if exc.status == 401:  # revoked: the instance is being deleted
                    log.error("agent token refused; stopping")
                    self.cancel_all()
                    return
                log.warning("gateway answered %s", exc)
            except (urllib.error.URLError, OSError) as exc:
                log.warning("gateway unreachable: %s", exc)
            self.stop.wait(0.2)

    def beat_if_due(self) -> None:
        """Heartbeat when one is due (also called during long downloads)."""
        if time.monotonic() >= self.next_beat:
            self.heartbeat()
            self.next_beat = time.monotonic() + self.heartbeat_every

    def heartbeat(self) -> None:
        # Every job this agent holds: the gateway requeues a job of this instance missing here.
        answer = self.client.json("POST", "/heartbeat", {"running": sorted(set(self.running) | self.taken)})
        self.draining = bool(answer.get("drain"))
        for job_id in answer.get("cancel", []):
            run = self.running.get(int(job_id))
            if run is not None:
                self.executor.cancel(run.state)
        expires_in = float(answer.get("token_expires_in", 0))
        if self.token_renew_at == 0.0:
            self.token_renew_at = time.monotonic() + expires_in / 2
        if time.monotonic() >= self.token_renew_at:
            fresh = self.client.json("POST", "/token")
            self.client.token = str(fresh["token"])
            (self.root / "token").write_text(self.client.token)
            os.chmod(self.root / "token", 0o600)
            self.token_renew_at = time.monotonic() + float(fresh["expires_in"]) / 2

    def free_cpus(self) -> int:
        return self.executor.cpus - sum(r.spec.cpus for r in self.running.values())

    def take_work(self) -> None:
        if self.free_cpus() <= 0:
            return
        status, raw = self.client.request("POST", "/work", b"{}")
        if status == 204 or not raw:
            return
        work = json.loads(raw)
        job_id = int(work["job_id"])
        self.taken.add(job_id)
        try:
            self.start_job(job_id, work)
        finally:
            self.taken.discard(job_id)

    def start_job(self, job_id: int, work: dict[str, Any]) -> None:
        """Stage the inputs of a job just taken and start it (or report why it could not start)."""
        spec = dict(work["spec"])
        workdir = self.root / "jobs" / f"job-{job_id}-{work.get('attempt', 1)}"
        if workdir.exists():
            remove_tree(workdir)
        (workdir / "inputs").mkdir(parents=True)
        for rel in work.get("inputs", []):
            quoted = urllib.parse.quote(rel)
            _s, data = self.client.request("GET", f"/jobs/{job_id}/inputs/{quoted}")
            target = workdir / "inputs" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        gateway_dir = str(spec.get("workdir", ""))
        argv = [a.replace(gateway_dir, str(workdir)) if gateway_dir else a for a in spec["argv"]]
        argv = [
            sys.executable if a == KIT_PYTHON_MARK else a.replace(KIT_ADDRESS_MARK, self.address)
            for a in argv
        ]
        try:
            argv = self.stage_datasets(workdir, argv, list(work.get("datasets") or []))
        except DatasetError as exc:
            log.warning("job %s: %s", job_id, exc)
            self.client.json(
                "POST",
                f"/jobs/{job_id}/status",
                {
                    "state": "FAILED",
                    "exit_code": None,
                    "reason": f"dataset input: {exc}",
                    "started": None,
                    "finished": time.time(),
                },
            )
            return
        job = JobSpec(
            job_id=job_id,
            argv=argv,
            workdir=str(workdir),
            env=dict(spec.get("env", {})),
            cpus=int(spec.get("cpus", 1)),
            memory_mb=int(spec.get("memory_mb", 1024)),
            gpus=int(spec.get("gpus", 0)),
            walltime=int(spec.get("walltime", 3600)),
            app_id=str(spec.get("app_id", "")),
        )
        try:
            state = self.executor.submit(job)
        except Exception as exc:  # report any start failure as the job's, never crash the agent
            self.client.json(
                "POST",
                f"/jobs/{job_id}/status",
                {
                    "state": "FAILED",
                    "exit_code": None,
                    "reason": f"the agent could not start it: {exc}",
                    "started": None,
                    "finished": time.time(),
                },
            )
            return
        self.running[job_id] = Running(job_id, job, state)
        log.info("job %s started in %s", job_id, workdir)

    # -- datasets ------------------------------------------------------------------------

    def stage_datasets(self, workdir: Path, argv: list[str], datasets: list[dict[str, Any]]) -> list[str]:
        """Download each dataset input into ``inputs/<input name>/`` and put that path in argv.

        ``datasets`` (from ``POST /work``) names each dataset input, its dataset id and a
        freshly signed manifest URL; the input's value in argv is the dataset's manifest URL
        with a token scoped to this job (:mod:`gateway_kit.data.jobinputs`). Each file listed by
        the manifest is downloaded with that token, its size and SHA-256 checked against the
        manifest (a mismatch is retried, then fails the job: it never runs on data that is not
        the dataset's), and the tree is made read-only (folders 0555, files 0444) -- the layout
        and value the local executor gives (``inputs/<name>``, relative to the job's folder,
        where the job runs).
        """
        for entry in datasets:
            name, uid = str(entry.get("input", "")), str(entry.get("dataset", ""))
            safe_rel(name)
            urls = sorted({m.group(0) for a in argv for m in MANIFEST_URL.finditer(a) if m.group(1) == uid})
            if not urls:
                continue  # not in argv (the same dataset under another input: already there)
            target = workdir / "inputs" / name
            # The gateway's fresh token if it sent one (the one in argv may have expired while
            # the job waited for an instance).
            self.fetch_dataset(str(entry.get("manifest") or urls[0]), target)
            value = f"inputs/{name}"
            out = []
            for arg in argv:
                for url in urls:
                    arg = arg.replace(url, value)
                out.append(arg)
            argv = out
        return argv

    def on_gateway(self, url: str) -> str:
        """``url`` re-based on this agent's gateway URL.

        Manifest URLs are built from the gateway's ``PUBLIC_URL``, which an instance may not
        reach (``BURST_AGENT_URL`` is how agents reach it); and a dataset token is only ever sent
        to the gateway this agent works for.
        """
        parts = urllib.parse.urlsplit(url)
        at = parts.path.find("/api/v1/datasets/")
        if at < 0:
            raise DatasetError(f"not a dataset URL: {parts.path!r}")
        query = f"?{parts.query}" if parts.query else ""
        return self.client.base.rstrip("/") + parts.path[at:] + query

    def fetch_dataset(self, manifest_url: str, target: Path) -> None:
        manifest = self.get_json(self.on_gateway(manifest_url))
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, list):
            raise DatasetError("the manifest lists no files")
        uid = str(manifest.get("id", "?"))
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            rel = safe_rel(str(f["path"]))
            self.download(
                self.on_gateway(str(f["url"])),
                target / rel,
                int(f["size"]),
                str(f["sha256"]).lower(),
                f"{uid}/{rel.as_posix()}",
            )
        read_only(target)
        log.info("dataset %s: %d file(s) in %s", uid, len(files), target)

    def get_json(self, url: str) -> Any:
        last = ""
        for attempt in range(DOWNLOAD_TRIES):
            try:
                with urllib.request.urlopen(url, timeout=self.client.timeout) as resp:  # noqa: S310
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} for the manifest"
                if exc.code < 500:
                    break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = f"the manifest: {exc}"
            time.sleep(min(2.0**attempt, 5.0))
        raise DatasetError(last)

    def download(self, url: str, dst: Path, size: int, sha256: str, label: str) -> None:
        """Stream ``url`` to ``dst``; size and SHA-256 must match the manifest's."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        part = dst.with_name(f".{dst.name}.part")
        last = ""
        for attempt in range(DOWNLOAD_TRIES):
            digest, got = hashlib.sha256(), 0
            try:
                with (
                    urllib.request.urlopen(url, timeout=self.client.timeout) as resp,  # noqa: S310 - our gateway (on_gateway)
                    open(part, "wb") as out,
                ):
                    while chunk := resp.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        got += len(chunk)
                        self.beat_if_due()  # a large dataset must not look like a dead agent
            except urllib.error.HTTPError as exc:
                last = f"{label}: HTTP {exc.code}"
                if exc.code < 500:
                    break
            except (urllib.error.URLError, OSError) as exc:
                last = f"{label}: {exc}"
            else:
                if got == size and digest.hexdigest() == sha256:
                    os.replace(part, dst)
                    return
                last = (
                    f"{label}: SHA-256 mismatch (got {got} bytes, sha256 "
                    f"{digest.hexdigest()}; the manifest says {size} bytes, sha256 {sha256})"
                )
            time.sleep(min(2.0**attempt, 5.0) * 0.25)
        part.unlink(missing_ok=True)
        raise DatasetError(last)

    def stream_logs(self, run: Running) -> None:
        for stream in ("stdout", "stderr"):
            path = run.spec.path / f"{stream}.txt"
            if not path.exists():
                continue
            with open(path, "rb") as f:
                f.seek(run.offsets[stream])
                while chunk := f.read(256 * 1024):
                    self.client.request(
                        "PUT",
                        f"/jobs/{run.job_id}/logs/{stream}?offset={run.offsets[stream]}",
                        chunk,
                        "application/octet-stream",
                    )
                    run.offsets[stream] += len(chunk)

    def report_address(self, run: Running) -> None:
        """Send the port of the job's server, once it wrote one (see the module docstring)."""
        try:
            data = json.loads((run.spec.path / SERVER_ADDRESS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # not serving, or not yet
        port = data.get("port") if isinstance(data, dict) else None
        if isinstance(port, int) and not isinstance(port, bool) and port != run.port_sent:
            self.client.json("POST", f"/jobs/{run.job_id}/address", {"port": port})
            run.port_sent = port
            log.info("job %s serves on port %s", run.job_id, port)

    def advance(self, run: Running) -> None:
        result: PollResult = self.executor.poll(run.state)
        self.stream_logs(run)
        if not result.state.terminal:
            self.report_address(run)
        if not result.state.terminal:
            return
        self.upload_outputs(run)
        self.client.json(
            "POST",
            f"/jobs/{run.job_id}/status",
            {
                "state": result.state.value,
                "exit_code": result.exit_code,
                "reason": result.reason,
                "started": result.started_at,
                "finished": result.finished_at,
            },
        )
        self.executor.release(run.state)
        del self.running[run.job_id]
        log.info("job %s ended: %s", run.job_id, result.state.value)

    def upload_outputs(self, run: Running) -> None:
        root = run.spec.path
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if (
                not path.is_file()
                or path.is_symlink()
                or rel.parts[0] in SKIP
                or rel.as_posix() in ("stdout.txt", "stderr.txt")
            ):
                continue
            self.client.request(
                "PUT",
                f"/jobs/{run.job_id}/outputs/{urllib.parse.quote(rel.as_posix())}",
                path.read_bytes(),
                "application/octet-stream",
            )

    def cancel_all(self) -> None:
        for run in self.running.values():
            self.executor.cancel(run.state)


def load_config(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for key in ("gateway", "token", "instance"):
        if key not in data:
            raise click.ClickException(f"{path}: the agent configuration lacks {key!r}.")
    return data


@click.command("agent")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The agent's JSON configuration (written by the instance's user data).",
)
def agent(config_path: Path) -> None:
    """Run the burst agent on this instance (pulls and runs the gateway's jobs)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(message)s")
    config = load_config(config_path)
    root = Path(str(config.get("workdir", "/var/lib/gateway-kit-agent")))
    if os.environ.get("INSTANCE_ROOT"):  # the local cloud's data plane: paths under its rootfs
        root = Path(os.environ["INSTANCE_ROOT"]) / root.relative_to(root.anchor)
    worker = Agent(config, root)

    def on_term(_sig: int, _frame: Any) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    worker.run()
    worker.cancel_all()
