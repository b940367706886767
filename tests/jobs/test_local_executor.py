"""The local executor: the contract suite, plus slots, GPUs, memory and the clean environment."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.jobs.executors import CapacityExhausted, ExecutorError, load_executor_class
from gateway_kit.jobs.executors.local import LocalExecutor, _alive, parse_nvidia_smi
from gateway_kit.jobs.states import JobState

from .executor_contract import ExecutorContract


def settings(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "INSTANCE_PATH": str(tmp_path),
        "JOBS_DIR": str(tmp_path / "jobs"),
        "JOBS_LOCAL_MAX_CONCURRENT": 8,
        "JOBS_LOCAL_CPUS": 8,
        "JOBS_LOCAL_GPUS": [],
        "JOBS_LOCAL_KILL_GRACE": 1.0,
        **extra,
    }


class TestLocalContract(ExecutorContract):
    @pytest.fixture()
    def executor(self, tmp_path: Path) -> LocalExecutor:
        return LocalExecutor("local", {}, settings(tmp_path))


def test_entry_point_resolves_local_and_unknown_names_list_choices() -> None:
    assert load_executor_class("local") is LocalExecutor
    with pytest.raises(Exception, match=r"unknown executor 'nope'.*local"):
        load_executor_class("nope")


def _run(ex: LocalExecutor, tmp_path: Path, name: str, code: str, **kw: Any) -> tuple[Path, Any]:
    contract = ExecutorContract()
    wd = tmp_path / name
    wd.mkdir()
    state = ex.submit(contract.spec(wd, code, **kw))
    return wd, contract.wait(ex, state)


def test_memory_limit_ends_a_greedy_job(tmp_path: Path) -> None:
    ex = LocalExecutor("local", {}, settings(tmp_path))
    wd, result = _run(ex, tmp_path, "greedy", "x = bytearray(512 * 1024 * 1024)", memory_mb=128)
    assert result.state is JobState.FAILED
    assert "MemoryError" in (wd / "stderr.txt").read_text()


def test_gpu_jobs_get_their_gpus_and_others_none(tmp_path: Path) -> None:
    ex = LocalExecutor("gpu", {"gpus": ["0", "1", "2"]}, settings(tmp_path))
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"
    wd, result = _run(ex, tmp_path, "two", code, gpus=2, walltime=30)
    assert result.state is JobState.COMPLETED
    assert (wd / "stdout.txt").read_text().strip() == "0,1"
    wd, result = _run(ex, tmp_path, "none", code, gpus=0)
    assert (wd / "stdout.txt").read_text().strip() == ""


def test_slots_limit_concurrency_and_gpus(tmp_path: Path) -> None:
    ex = LocalExecutor("gpu", {"gpus": ["0"], "max_concurrent": 2, "cpus": 3}, settings(tmp_path))
    c = ExecutorContract()
    sleep = "import time; time.sleep(30)"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    a = ex.submit(c.spec(tmp_path / "a", sleep, gpus=1))
    with pytest.raises(CapacityExhausted):  # the only GPU is taken
        ex.submit(c.spec(tmp_path / "b", sleep, gpus=1))
    with pytest.raises(CapacityExhausted):  # 1 + 3 CPUs > 3
        ex.submit(c.spec(tmp_path / "b", sleep, cpus=3))
    b = ex.submit(c.spec(tmp_path / "b", sleep, cpus=2))
    with pytest.raises(CapacityExhausted):  # two jobs at most
        ex.submit(c.spec(tmp_path / "c", "print(1)"))
    with pytest.raises(ExecutorError, match="asks for 2 GPUs"):
        ex.submit(c.spec(tmp_path / "c", "print(1)", gpus=2))
    for state in (a, b):
        ex.cancel(state)
        ex.release(state)
    third = ex.submit(c.spec(tmp_path / "c", "print(1)", gpus=1))
    assert c.wait(ex, third).state is JobState.COMPLETED


def test_jobs_do_not_see_the_gateways_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_KIT_SECRET_KEY", "top-secret")
    ex = LocalExecutor("local", {}, settings(tmp_path))
    code = "import json, os; json.dump(dict(os.environ), open('env.json', 'w'))"
    wd, _ = _run(ex, tmp_path, "env", code)
    env = json.loads((wd / "env.json").read_text())
    assert "GATEWAY_KIT_SECRET_KEY" not in env and "top-secret" not in json.dumps(env)
    assert env["HOME"] == str(wd) and env["OMP_NUM_THREADS"] == "1"


def test_a_job_outlives_its_killed_supervisor_and_keeps_its_walltime(tmp_path: Path) -> None:
    ex = LocalExecutor("local", {}, settings(tmp_path))
    c = ExecutorContract()
    wd = tmp_path / "orphan"
    wd.mkdir()
    state = ex.submit(c.spec(wd, "import time; time.sleep(600)", walltime=600))
    c.wait(ex, state, {JobState.RUNNING})
    os.kill(state["pid"], signal.SIGKILL)  # the runner dies; the job's group lives on
    deadline = time.monotonic() + 30  # gone (its launcher reaps it)
    while _alive(state["pid"], state["start"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(state["pid"], state["start"])
    assert ex.poll(state).state is JobState.RUNNING
    # The walltime comes from the saved state: a state whose walltime has passed is enforced
    # by the executor itself now (the clock is not raced: 600 s is far away, 0 s is behind us).
    result = c.wait(ex, {**state, "walltime": 0}, timeout=30)
    assert result.state is JobState.TIMED_OUT, result.reason


def test_nvidia_smi_listing_is_parsed() -> None:
    text = (
        "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n"
        "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)\n  MIG 1g.10gb Device 0: (UUID: MIG-x)\n"
    )
    assert parse_nvidia_smi(text) == ["0", "1"]
    assert parse_nvidia_smi("") == []
