"""The kit as a user gets it: a wheel installed (not editable) into a fresh virtual environment
outside the checkout, with no package index. Everything it reads at run time must be in the
wheel: the demo, ``new`` and a deployment whose roles use the kit's own cloud-init templates
(``gateway-kit:web``, ``gateway-kit:postgres-on-volume`` and the script it carries)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from gateway_kit.scaffold.wheels import build_from_source, repack
from tests.demo_support import running_demo

REPO = Path(__file__).resolve().parents[2]

SPEC = """
name = "packaged"
[network]
name = "private"
external = "public"
[[network.rules]]
protocol = "tcp"
port = 80
cidr = "0.0.0.0/0"
[roles.database]
count = 1
flavor = "m3.small"
image = "Featured-Ubuntu24"
cloud_init = "gateway-kit:postgres-on-volume"
[roles.database.volume]
size = 1
[roles.web]
count = 1
flavor = "m3.small"
image = "Featured-Ubuntu24"
cloud_init = "gateway-kit:web"
"""


def requirement_closure(requires: list[str]) -> set[str]:
    """Every installed distribution that ``requires`` needs here (markers evaluated, no extras)."""
    seen: set[str] = set()
    todo = list(requires)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        dist = metadata.distribution(req.name)
        key = dist.metadata["Name"].lower()
        if key not in seen:
            seen.add(key)
            todo += dist.requires or []
    return seen


def wheel_requires(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def kit_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_KIT_", "OS_", "PYTHON"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{env.get('PATH', os.defpath)}")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run_fails(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0, res.stdout
    return res.stdout + res.stderr


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"{argv}: {out[-6000:]}"
    return out


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_runs_demo_new_and_deploy(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    kit = build_from_source(REPO, wheelhouse)
    for name in requirement_closure(wheel_requires(kit)):
        repack(name, wheelhouse)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = kit_env(venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    run([*pip, "--find-links", str(wheelhouse), str(kit)], tmp_path, env, timeout=600)
    where = run(
        [str(venv / "bin" / "python"), "-c", "import gateway_kit; print(gateway_kit.__file__)"], tmp_path, env
    )
    assert str(venv) in where and str(REPO) not in where

    gk = str(venv / "bin" / "gateway-kit")
    run([gk, "new", "portal", "--name", "Packaged Portal"], tmp_path, env)
    project = tmp_path / "portal"
    # the kit's wheel, repacked from the installed files (no checkout to build from here)
    assert [p.name for p in (project / "wheels").glob("gateway_kit-*.whl")] == [kit.name]
    run([*pip, "--find-links", str(wheelhouse), "--find-links", "wheels", "."], project, env)
    shown = run([gk, "config", "show"], project, env)
    assert "Packaged Portal" in shown and re.search(r"GATEWAY_NAME\s.*Packaged Portal", shown)

    with (
        running_demo(tmp_path, env=env, cwd=project, ready_timeout=180, argv0=[gk]) as demo,
        urllib.request.urlopen(f"{demo.url}/healthz", timeout=30) as resp,
    ):
        assert resp.status == 200
    assert "Packaged Portal is running" in demo.output

    # deploy plan/apply/destroy on a local cloud served by the installed kit
    state = project / "instance" / "localcloud"
    serve = [
        gk,
        "localcloud",
        "serve",
        "--port",
        "0",
        "--no-dns",
        "--delay",
        "0.05",
        "--state-dir",
        str(state),
    ]
    cloud = subprocess.Popen(
        serve, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (state / "clouds.yaml").is_file():
            assert cloud.poll() is None, cloud.stdout.read() if cloud.stdout else ""
            assert time.monotonic() < deadline, "the local cloud did not start"
            time.sleep(0.2)
        cloud_env = {**env, "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml")}
        (project / "deploy.toml").write_text(SPEC)
        bad = run_fails(
            [gk, "deploy", "plan", "deploy.toml"], project, {**cloud_env, "GATEWAY_KIT_CLOUD_NAME": "nowhere"}
        )
        assert "Cloud 'nowhere' is not in clouds.yaml" in bad and "Traceback" not in bad
        out = run([gk, "deploy", "plan", "deploy.toml"], project, cloud_env)
        assert re.search(r"Plan: \d+ to create, 0 to change, 0 to delete", out)
        out = run([gk, "deploy", "apply", "deploy.toml"], project, cloud_env, timeout=600)
        assert "Deployment packaged is ready." in out
        out = run([gk, "deploy", "destroy", "packaged", "--yes"], project, cloud_env, timeout=600)
        assert "Deployment packaged destroyed" in out
        assert "packaged" not in run([gk, "deploy", "orphans"], project, cloud_env)
    finally:
        cloud.terminate()
        cloud.communicate(timeout=30)
    assert "demo part localcloud is not available" not in demo.output
