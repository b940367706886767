"""The documentation builds with warnings as errors, and the tutorial's commands work as written.

The tutorial marks the commands a reader types with ``{.bash .tutorial}`` fences; this test runs
them in order, in one shell, in an empty folder. The ``{.bash .tutorial-setup}`` block (``pip
install gateway-kit`` into a new virtual environment) is replaced by the same thing done offline:
a virtual environment that sees this checkout's installed packages, with a ``gateway-kit``
command, and ``pip`` installing without dependencies or network. The ``{.bash .tutorial-cloud}``
blocks (the deployment, typed "in a second terminal" while ``gateway-kit demo`` runs) run
afterwards in a second shell in the project's folder, against a local cloud the test starts where
the demo keeps its own (``instance/localcloud/``, with its ``clouds.yaml``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
TUTORIAL = DOCS / "src" / "tutorial.md"
FENCE = re.compile(r"^```\{\.bash \.(tutorial|tutorial-setup|tutorial-cloud)\}\n(.*?)^```$", re.S | re.M)


def tutorial_blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(TUTORIAL.read_text())]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip(
        "mkdocs", reason="MkDocs is not installed: pip install -e '.[docs]' (the dev extra includes it)"
    )
    mkdocs = Path(sys.executable).with_name("mkdocs")
    cmd = [str(mkdocs)] if mkdocs.exists() else [sys.executable, "-m", "mkdocs"]
    res = subprocess.run(
        [*cmd, "build", "--strict", "-f", str(DOCS / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    site = tmp_path / "site"
    for page in (
        "tutorial/index.html",
        "reference/settings/index.html",
        "reference/cli/index.html",
        "reference/api/index.html",
        "architecture/index.html",
        "howto/identity-providers/index.html",
    ):
        assert (site / page).is_file(), page
    settings = (site / "reference/settings/index.html").read_text()
    assert "JOBS_DESTINATIONS_MAP" in settings and "DATABASE_URL" in settings
    assert "gateway-kit deploy apply" in (site / "reference/cli/index.html").read_text()
    api = (site / "reference/api/index.html").read_text()
    assert "/api/v1/jobs" in api and "jobs:write" in api
    assert (site / "images/topology.svg").is_file()


def test_reference_covers_every_setting_and_command() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import gen_reference
    finally:
        sys.path.remove(str(DOCS))
    from gateway_kit.settings import all_settings

    text = gen_reference.settings_page()
    missing = [name for name in all_settings() if f"`{name}`" not in text]
    assert missing == []
    cli = gen_reference.cli_page()
    for cmd in ("gateway-kit new", "gateway-kit db upgrade", "gateway-kit worker", "gateway-kit config show"):
        assert f"`{cmd}`" in cli


def test_tutorial_has_marked_commands() -> None:
    kinds = [kind for kind, _ in tutorial_blocks()]
    assert kinds[0] == "tutorial-setup" and kinds.count("tutorial") >= 5
    # The deployment runs against the demo's local cloud, after every other command.
    assert "tutorial-cloud" in kinds
    assert kinds.index("tutorial-cloud") > max(i for i, k in enumerate(kinds) if k == "tutorial")


def _offline_install(folder: Path) -> dict[str, str]:
    """What ``python3 -m venv .venv && source .venv/bin/activate && pip install gateway-kit``
    gives, without the network: a venv whose interpreter also sees this checkout's packages."""
    venv = folder / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next(venv.glob("lib/python*/site-packages"))
    # addsitedir (not a plain path line) so the checkout's own .pth files, such as the editable
    # install of gateway-kit, are processed too.
    (site / "gateway_kit_checkout.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    )
    py = venv / "bin" / "python"
    scripts = {
        "gateway-kit": f'#!/bin/sh\nexec "{py}" -m gateway_kit "$@"\n',
        "pip": f'#!/bin/sh\nexec "{py}" -m pip "$@" --no-deps --no-build-isolation --no-index -q\n',
        "pytest": f'#!/bin/sh\nexec "{py}" -m pytest -p no:cacheprovider "$@"\n',
    }
    for name, text in scripts.items():
        path = venv / "bin" / name
        path.write_text(text)
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_KIT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}:{env.get('PATH', os.defpath)}",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


@pytest.mark.slow
def test_tutorial_commands_run(tmp_path: Path) -> None:
    from gateway_kit.localcloud.testing import running_local_cloud

    env = _offline_install(tmp_path)

    def script(kinds: str) -> str:
        return "set -euo pipefail\n" + "".join(
            f"echo '--- tutorial block {i}'\n{body}"
            for i, (kind, body) in enumerate(tutorial_blocks())
            if kind == kinds
        )

    res = subprocess.run(
        ["bash", "-c", script("tutorial")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    assert "3 passed" in out  # the generated project's own tests
    assert "5 passed" in out  # ... plus the two the tutorial adds
    assert "GATEWAY_NAME" in out and "My Portal" in out
    project = tmp_path / "my-portal"
    assert (project / "instance" / "gateway.db").is_file()
    from gateway_kit.hosting.spec import load_spec

    spec = load_spec(project / "deploy.toml")
    assert [r.name for r in spec.roles] == ["web"]

    # Section 7, "in a second terminal in the same folder" while the demo runs: the demo's local
    # cloud keeps its state and clouds.yaml in instance/localcloud/; so does this one.
    with running_local_cloud(project / "instance" / "localcloud") as cloud:
        assert cloud.clouds_yaml == project / "instance" / "localcloud" / "clouds.yaml"
        env = {k: v for k, v in env.items() if not k.startswith("OS_")}
        res = subprocess.run(
            ["bash", "-c", script("tutorial-cloud")],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    assert "Plan: 4 to create, 0 to change, 0 to delete." in out
    assert "Deployment my-portal is ready." in out
    assert "4 resources, 0 drifted" in out
    assert "my-portal-web-1\tACTIVE\tm3.small" in out
    assert "web-1.my-portal.example.org.\tA\t" in out
    # the release and the rollback (section 7's second block): the web VM runs 0.1.1, then 0.1.0
    one, two = (f"my_portal-{v}+" for v in ("0.1.0", "0.1.1"))
    assert f"Deployment my-portal runs release {two}" in out
    assert f"web-1 runs release {two}" in out
    assert re.search(rf"Deployment my-portal runs release {re.escape(one)}[0-9a-f]{{12}} again", out)
    assert out.rindex(f"web-1 runs release {one}") > out.rindex(f"web-1 runs release {two}")
    assert "Deployment my-portal destroyed (4 resources deleted)." in out
