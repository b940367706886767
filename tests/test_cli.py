"""The gateway-kit command line, run as a real subprocess where the exit code matters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway_kit.cli import main

KIT = [sys.executable, "-m", "gateway_kit"]


def run_kit(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    full_env.update(env or {})
    return subprocess.run(KIT + args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def test_config_show_lists_every_key_with_source(tmp_path: Path) -> None:
    res = run_kit(
        ["config", "show"],
        tmp_path,
        {"GATEWAY_KIT_GATEWAY_NAME": "Env Portal", "GATEWAY_KIT_SECRET_KEY": "super-secret-value-xyz"},
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Env Portal" in out and "env:GATEWAY_KIT_GATEWAY_NAME" in out
    assert "DATABASE_URL" in out and "SECRET_KEY" in out
    assert "super-secret-value-xyz" not in out


@pytest.mark.parametrize(
    ("env", "files", "needle"),
    [
        ({"GATEWAY_KIT_DB_POOL_SIZE": "lots"}, {}, "DB_POOL_SIZE has an invalid value 'lots'"),
        ({"GATEWAY_KIT_COLOUR": "blue"}, {}, "Unknown setting 'GATEWAY_KIT_COLOUR'"),
        ({}, {"instance/gateway.toml": "gateway_name = [\n"}, "is not valid TOML"),
        ({}, {"instance/gateway.toml": "frobnicate = 1\n"}, "Unknown setting 'FROBNICATE'"),
    ],
)
def test_bad_configuration_exits_2_with_one_message(
    tmp_path: Path, env: dict, files: dict, needle: str
) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    for args in (["config", "show"], ["db", "upgrade"], ["worker", "--once"]):
        res = run_kit(args, tmp_path, env)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert needle in res.stderr
        assert "Traceback" not in res.stderr


def test_db_upgrade_creates_the_sqlite_database(tmp_path: Path) -> None:
    res = run_kit(["db", "upgrade"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "instance" / "gateway.db").is_file()


def test_db_upgrade_unreachable_database_is_one_clear_message(tmp_path: Path) -> None:
    res = run_kit(
        ["db", "upgrade"],
        tmp_path,
        {"GATEWAY_KIT_DATABASE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/x"},
    )
    assert res.returncode != 0
    assert "Cannot connect to the database at postgresql+psycopg://u:***@127.0.0.1:1/x" in res.stderr
    assert "hunter2" not in res.stderr and "Traceback" not in res.stderr


def test_worker_once_runs(tmp_path: Path) -> None:
    res = run_kit(["worker", "--once"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "worker started" in res.stderr


def test_new_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "portal"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    res = run_kit(["new", str(target)], tmp_path)
    assert res.returncode != 0
    assert "is not empty" in res.stderr and "never overwrites" in res.stderr
    assert (target / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_new_refuses_a_file_and_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert "is a file" in run_kit(["new", str(tmp_path / "afile")], tmp_path).stderr
    res = run_kit(["new", str(tmp_path / "123")], tmp_path)
    assert res.returncode != 0 and "package name" in res.stderr


def test_new_project_installs_and_its_tests_pass(tmp_path: Path) -> None:
    target = tmp_path / "my-portal"
    res = run_kit(["new", str(target), "--name", "My Portal"], tmp_path)
    assert res.returncode == 0, res.stderr
    for rel in (
        "pyproject.toml",
        "gateway.toml",
        "Procfile",
        "README.md",
        ".gitignore",
        "my_portal/gateway.py",
        "tests/test_gateway.py",
    ):
        assert (target / rel).is_file(), rel
    site = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    assert (site / "my_portal" / "gateway.py").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    env["PYTHONPATH"] = str(site)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target / "tests")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout


def test_cli_help_lists_commands() -> None:
    from click.testing import CliRunner

    res = CliRunner().invoke(main, ["--help"])
    for cmd in ("serve", "demo", "db", "config", "new", "worker"):
        assert cmd in res.output
