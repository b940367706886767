"""Each example gateway's own test suite, run as its developer would: a separate pytest process
with the example's folder on PYTHONPATH (as if installed), so the examples cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WITH_TESTS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "tests").is_dir())


def test_every_example_is_a_project() -> None:
    assert {"quickstart", "seqstats", "jetstream2"} <= set(WITH_TESTS)
    for name in [
        p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name not in ("instance", "__pycache__")
    ]:
        assert (EXAMPLES / name / "README.md").is_file(), name


@pytest.mark.parametrize("name", WITH_TESTS)
def test_example_suite_passes(name: str, tmp_path: Path) -> None:
    folder = EXAMPLES / name
    assert (folder / "pyproject.toml").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    env["PYTHONPATH"] = str(folder)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            "--basetemp",
            str(tmp_path / "t"),
            str(folder / "tests"),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert " passed" in res.stdout and "failed" not in res.stdout
