"""A GPU job on the local executor, on a host that really has an NVIDIA GPU.

Skipped where ``nvidia-smi`` is absent (CI has no GPU); run on a lent GPU machine with
``pytest tests/jobs/test_gpu_device.py``. The job goes the whole way: API submission, the queue,
the local executor's GPU slot (``JOBS_LOCAL_GPUS = ["auto"]`` reads ``nvidia-smi -L``), and a CUDA
computation inside the job that sees exactly the device it was given.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from gateway_kit.jobs.executors.local import detect_gpus
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..conftest import make_token
from .conftest import World

pytestmark = pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no NVIDIA GPU on this host")

PROBE = """
import json, os, subprocess
out = {"visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
out["smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
try:
    import torch
except ImportError:
    out["torch"] = None
else:
    out["torch"] = torch.cuda.device_count()
    a = torch.ones((2048, 2048), device="cuda")
    out["sum"] = float((a @ a).sum().item())
json.dump(out, open("gpu.json", "w"))
print(json.dumps(out))
"""


def _gpu_app(tmp_path: Path) -> str:
    folder = tmp_path / "gpuapps"
    folder.mkdir()
    command = json.dumps([sys.executable, "-c", PROBE])
    (folder / "gpu.toml").write_text(
        "[[application]]\n"
        'id = "gpu-probe"\n'
        'title = "GPU probe"\n'
        'version = "1"\n'
        f"command = {command}\n"
        'outputs = ["gpu.json"]\n'
        "[application.resources]\n"
        "gpus = 1\n"
        "walltime = 120\n"
    )
    return str(folder)


def test_gpu_job_sees_exactly_its_device(tmp_path: Path) -> None:
    gpus = detect_gpus()
    assert gpus, "nvidia-smi is present but lists no GPU"
    w = World(tmp_path, JOBS_APPLICATION_FILES=[_gpu_app(tmp_path)], JOBS_LOCAL_GPUS=["auto"])
    c = w.app.test_client()
    h = {"Authorization": f"Bearer {make_token(w.app, w.alice, ['jobs:read', 'jobs:write'])}"}
    r = c.post("/api/v1/jobs", headers=h, json={"application": "gpu-probe", "inputs": {}})
    assert r.status_code == 201, r.json
    job = wait_for(w.app, r.json["id"], set(TERMINAL), 180)
    stderr = c.get(f"/api/v1/jobs/{job.id}/logs?stream=stderr&offset=0", headers=h).json["data"]
    assert job.state == "COMPLETED", (job.state_reason, stderr)
    log = c.get(f"/api/v1/jobs/{job.id}/logs?stream=stdout&offset=0", headers=h).json["data"]
    seen = json.loads(log.strip().splitlines()[-1])
    print("GPU job saw:", seen)
    assert seen["visible"] in gpus, seen
    if seen["torch"] is not None:
        assert seen["torch"] == 1, seen
        assert seen["sum"] == 2048.0 * 2048 * 2048, seen
    usage = c.get("/api/v1/usage", headers=h).json["projects"][0]
    assert usage["su_used"] > 0 and usage["su_reserved"] == 0
