"""``gateway-kit datasets upload`` and ``download`` against a gateway served over HTTP: a folder
uploaded in chunks, an interrupted upload resumed (only its missing chunks sent), files already
there skipped, downloads checked against their SHA-256, clear errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gateway_kit.cli import main

from ..conftest import make_token
from ..demo_support import serving
from .conftest import CHUNK, World, sha, start


class Counter:
    """WSGI middleware counting chunk PUTs."""

    def __init__(self, app: Any) -> None:
        self.app, self.chunks = app, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "PUT" and "/chunks/" in environ["PATH_INFO"]:
            self.chunks += 1
        return self.app(environ, start_response)


def _run(args: list[str], url: str, token: str) -> Any:
    env = {"GATEWAY_KIT_URL": url, "GATEWAY_KIT_TOKEN": token}
    return CliRunner().invoke(main, ["datasets", *args], env=env, catch_exceptions=False)


def test_upload_a_folder_resume_and_download(tmp_path: Path) -> None:
    world = World(tmp_path, DATA_CHUNK_MB=CHUNK / 1024 / 1024)
    c = world.client("alice")
    uid = world.create(c)
    run = tmp_path / "local" / "run-7"
    (run / "logs").mkdir(parents=True)
    big = os.urandom(3 * CHUNK + 100)
    (run / "big.bin").write_bytes(big)
    (run / "logs" / "out.txt").write_text("done\n")
    (run / "logs" / "link").symlink_to("/etc/passwd")  # links are not followed
    # An earlier upload of big.bin stopped after its first chunk.
    first = start(c, uid, "run-7/big.bin", big).get_json()
    r = c.put(
        f"/api/v1/datasets/{uid}/uploads/{first['id']}/chunks/0",
        data=big[:CHUNK],
        headers={"X-Chunk-SHA256": sha(big[:CHUNK])},
    )
    assert r.status_code == 200
    token = make_token(world.app, world.users["alice"], ["datasets:read", "datasets:write"])
    counter = Counter(world.app)
    with serving(counter) as url:
        out = _run(["upload", uid, str(run)], url, token)
        assert out.exit_code == 0, out.output
        assert "run-7/big.bin" in out.output and "resumed: 3 of 4 chunks sent" in out.output
        assert "Uploaded 2 file(s)" in out.output
        assert counter.chunks == 3 + 1  # big.bin's three missing chunks, out.txt's one
        files = {f["path"]: f["sha256"] for f in c.get(f"/api/v1/datasets/{uid}").get_json()["files"]}
        assert files == {
            "run-7/big.bin": hashlib.sha256(big).hexdigest(),
            "run-7/logs/out.txt": hashlib.sha256(b"done\n").hexdigest(),
        }
        # Again: nothing changed, nothing sent.
        out = _run(["upload", uid, str(run)], url, token)
        assert out.exit_code == 0 and out.output.count("already there") == 2 and counter.chunks == 4

        target = tmp_path / "copy"
        out = _run(["download", uid, "run-7/logs", "--to", str(target)], url, token)
        assert out.exit_code == 0, out.output
        assert [p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()] == [
            "run-7/logs/out.txt"
        ]
        out = _run(["download", uid, "--to", str(target)], url, token)
        assert out.exit_code == 0 and "Downloaded 1 file(s)" in out.output and "1 already there" in out.output
        assert (target / "run-7" / "big.bin").read_bytes() == big

        # Clear errors: a wrong token, a dataset the caller cannot write, a missing folder.
        out = _run(["upload", uid, str(run)], url, "nope")
        assert out.exit_code == 1 and "HTTP 401" in out.output and "Traceback" not in out.output
        reader = make_token(world.app, world.users["alice"], ["datasets:read"])
        out = _run(["upload", uid, str(run / "logs" / "out.txt")], url, reader)
        assert out.exit_code == 1 and "datasets:write" in out.output
        out = _run(["download", uid, "no/such", "--to", str(target)], url, token)
        assert out.exit_code == 1 and "no file or folder named no/such" in out.output
        out = _run(["upload", uid, str(tmp_path / "missing")], url, token)
        assert out.exit_code == 2 and "does not exist" in out.output
