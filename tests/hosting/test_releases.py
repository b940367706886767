"""Releases: ``[app] wheel`` travels in the user data with its SHA-256 (checked on the VM before
anything is installed), ``deploy release`` replaces only the web and worker VMs, ``deploy status``
shows each VM's release, ``deploy rollback`` returns to the previous one from the kept wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.releases import MAX_WHEEL_BYTES, META_RELEASE
from gateway_kit.localcloud.dataplane import decode_user_data
from gateway_kit.localcloud.services.compute import SERVER
from gateway_kit.localcloud.testing import LocalCloudController

from .conftest import STANDARD
from .test_day2 import _cli


def make_wheel(folder: Path, version: str, pad: int = 0) -> Path:
    """A small real wheel of project ``tinyportal`` (``pad`` bytes of incompressible filler)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tinyportal-{version}-py3-none-any.whl"
    info = f"tinyportal-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tinyportal/__init__.py", f'VERSION = "{version}"\n')
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: tinyportal\nVersion: {version}\n")
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
        if pad:
            zf.writestr("tinyportal/filler.bin", os.urandom(pad))
    return path


def write_spec(folder: Path, wheel: str, workers: int = 0, **roles: int) -> Path:
    """The standard example running ``wheel``, with ``workers`` worker VMs and other roles' counts."""
    text = STANDARD.read_text()
    for role, count in roles.items():
        text = re.sub(rf"(\[roles\.{role}\]\ncount = )\d+", rf"\g<1>{count}", text)
    text += f'\n[app]\nrequirement = "tinyportal"\nwheel = "{wheel}"\n'
    if workers:
        text += f'[roles.worker]\ncount = {workers}\nflavor = "m3.small"\nimage = "Featured-Ubuntu24"\n'
        text += 'cloud_init = "gateway-kit:worker"\n'
    path = folder / "portal.toml"
    path.write_text(text)
    return path


def _user_data(engine: Engine, localcloud: Any, name: str) -> str:
    server_id = engine.cloud.conn.compute.find_server(name).id
    return decode_user_data(localcloud.cloud.store.get(SERVER, server_id)["user_data"])


def _releases(engine: Engine) -> dict[str, str]:
    _, rows = engine.status("standard")
    return {
        r.key: (r.detail.get("metadata") or {}).get(META_RELEASE, "-") for r in rows if r.kind == "server"
    }


def _release(wheel: Path) -> str:
    """The release a wheel makes: project-version+first 12 hex digits of its SHA-256."""
    import hashlib

    project, version = wheel.name.split("-")[:2]
    return f"{project}-{version}+{hashlib.sha256(wheel.read_bytes()).hexdigest()[:12]}"


def test_release_rolls_web_vms_status_shows_it_and_rollback_returns(
    engine: Engine,
    hosting_app: Any,
    control: LocalCloudController,
    localcloud: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v1, v2 = make_wheel(tmp_path / "dist", "1.0"), make_wheel(tmp_path / "dist", "2.0")
    spec = write_spec(tmp_path, "dist/" + v1.name, workers=1)
    r = _cli(hosting_app, "deploy", "apply", str(spec))
    assert r.exit_code == 0, r.output
    one = _release(v1)
    assert _releases(engine) == {
        "server:database-1": "-",
        "server:web-1": one,
        "server:web-2": one,
        "server:worker-1": one,
    }
    text = _user_data(engine, localcloud, "standard-web-1")
    sha = __import__("hashlib").sha256(v1.read_bytes()).hexdigest()
    assert f"{sha}  {v1.name}" in text and f"GK_RELEASE={one}" in text
    first = {n: engine.cloud.conn.compute.find_server(f"standard-{n}").id for n in ("web-1", "database-1")}

    # a release that changes something else is refused, nothing changed
    bigger = write_spec(tmp_path, "dist/" + v2.name, workers=1, web=3)
    r = _cli(hosting_app, "deploy", "release", str(bigger))
    assert r.exit_code != 0 and "also changes: server:web-3" in r.output and "deploy apply" in r.output
    assert engine.cloud.conn.compute.find_server("standard-web-1").id == first["web-1"]

    spec = write_spec(tmp_path, "dist/" + v2.name, workers=1)
    worker = engine.cloud.conn.compute.find_server("standard-worker-1").id
    stopped = _stops(monkeypatch)
    r = _cli(hosting_app, "deploy", "release", str(spec))
    assert r.exit_code == 0, r.output
    two = _release(v2)
    assert f"runs release {two}" in r.output
    assert _releases(engine) == {
        "server:database-1": "-",
        "server:web-1": two,
        "server:web-2": two,
        "server:worker-1": two,
    }
    assert engine.cloud.conn.compute.find_server("standard-database-1").id == first["database-1"]
    assert engine.cloud.conn.compute.find_server("standard-web-1").id != first["web-1"]
    # the old worker VM was shut down cleanly (its units' SIGTERM) before it was deleted; the
    # web VMs' members were drained instead
    assert stopped == [worker]
    r = _cli(hosting_app, "deploy", "status", "standard")
    assert f"web-1 runs release {two}" in r.output and f"web-2 runs release {two}" in r.output
    assert "database-1 runs" not in r.output
    assert "no changes" in _cli(hosting_app, "deploy", "release", str(spec)).output

    # rollback comes back to 1.0 from the kept wheel, even with its file gone
    v1.unlink()
    r = _cli(hosting_app, "deploy", "rollback", "standard")
    assert r.exit_code == 0, r.output
    assert f"runs release {one} again" in r.output
    assert _releases(engine) == {
        "server:database-1": "-",
        "server:web-1": one,
        "server:web-2": one,
        "server:worker-1": one,
    }
    assert f"{sha}  {v1.name}" in _user_data(engine, localcloud, "standard-web-2")
    engine.destroy("standard")
    assert engine.orphans() == []


def _stops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The servers Nova is asked to stop from now on (the request still goes to the cloud)."""
    from openstack.compute.v2._proxy import Proxy

    stopped: list[str] = []
    real = Proxy.stop_server

    def stop_server(self: Proxy, server: Any) -> Any:
        stopped.append(str(getattr(server, "id", server)))
        return real(self, server)

    monkeypatch.setattr(Proxy, "stop_server", stop_server)
    return stopped


def test_gk_install_refuses_a_wheel_that_does_not_match_its_sha256(engine: Engine, tmp_path: Path) -> None:
    """The VM's install script, as rendered, run on this machine against the files it wrote."""
    from gateway_kit.hosting.engine import render_user_data
    from gateway_kit.hosting.spec import load_spec

    wheel = make_wheel(tmp_path / "dist", "1.0")
    text = render_user_data(load_spec(write_spec(tmp_path, "dist/" + wheel.name)))("web", "web-1", 1)
    files = {f["path"]: f for f in yaml.safe_load(text)["write_files"]}
    vm = tmp_path / "vm"
    (vm / "release").mkdir(parents=True)
    script = vm / "gk-install"
    script.write_text(files["/usr/local/sbin/gk-install"]["content"])
    (vm / "release" / "SHA256SUMS").write_text(files["/var/lib/gateway-kit/release/SHA256SUMS"]["content"])
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}  # gateway-kit on it, as the image's

    (vm / "release" / wheel.name).write_bytes(wheel.read_bytes())
    ok = subprocess.run(["sh", str(script)], cwd=vm, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    # the image's kit stays; the release's project is installed beside it, once
    assert (vm / "release" / "site" / "tinyportal" / "__init__.py").read_text() == 'VERSION = "1.0"\n'
    (vm / "release" / "site" / "tinyportal" / "__init__.py").unlink()
    again = subprocess.run(["sh", str(script)], cwd=vm, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and not (vm / "release" / "site" / "tinyportal" / "__init__.py").exists()

    (vm / "release" / wheel.name).write_bytes(wheel.read_bytes() + b"tampered")
    bad = subprocess.run(["sh", str(script)], cwd=vm, env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "does not match its SHA-256" in bad.stderr


def test_a_wheel_too_big_for_the_user_data_is_refused_before_any_change(
    engine: Engine, tmp_path: Path
) -> None:
    from gateway_kit.errors import ConfigError
    from gateway_kit.hosting.spec import load_spec

    wheel = make_wheel(tmp_path / "dist", "1.0", pad=MAX_WHEEL_BYTES + 1)
    with pytest.raises(ConfigError, match=r"at most 30720 \(Nova's 64 KiB limit\)"):
        engine.apply(load_spec(write_spec(tmp_path, "dist/" + wheel.name)))
    assert list(engine.cloud.conn.compute.servers()) == []
