"""OpenStack API calls and wall time of deploying deploy/examples/standard.toml on the local cloud.

Prints, for a fresh apply, a no-op re-apply and a destroy: the number of HTTP requests the SDK
sent by method (mutating ones separately) and the wall time. Run::

    .venv/bin/python bench/deploy_calls.py [--delay 0.05] [--poll 0.05]

``--delay`` is the local cloud's transition delay per step (BUILD->ACTIVE etc.), ``--poll`` the
kit's polling interval; both shape the wall time, not the mutating-call counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--spec", type=Path, default=ROOT / "deploy" / "examples" / "standard.toml")
    args = parser.parse_args()

    from gateway_kit import create_app
    from gateway_kit.db import upgrade
    from gateway_kit.hosting.engine import engine_for
    from gateway_kit.hosting.spec import load_spec
    from gateway_kit.localcloud.clock import ClockConfig
    from gateway_kit.localcloud.core import LocalCloudConfig
    from gateway_kit.localcloud.server import LocalCloudServer

    tmp = Path(tempfile.mkdtemp(prefix="gk-bench-"))
    server = LocalCloudServer(LocalCloudConfig(clock=ClockConfig(mode="time", delay=args.delay))).start()
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(server.write_clouds_yaml(tmp / "clouds.yaml"))
    app = create_app({"ENV": "testing", "HOSTING_POLL_INTERVAL": args.poll}, instance_path=str(tmp / "inst"))
    upgrade(app)
    engine = engine_for(app)
    spec = load_spec(args.spec)
    engine.cloud.conn.authorize()  # the token request is not part of the figures
    print(f"spec: {args.spec.relative_to(ROOT)}  local cloud delay {args.delay}s, poll {args.poll}s")
    print(f"{'phase':<10} {'wall s':>7} {'calls':>6} {'mutating':>9}  by method")
    try:
        for phase, fn in (
            ("apply", lambda: engine.apply(spec)),
            ("re-apply", lambda: engine.apply(spec)),
            ("destroy", lambda: engine.destroy(spec.name)),
        ):
            engine.cloud.requests.clear()
            t0 = time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
            reqs = engine.cloud.requests
            methods = ", ".join(f"{m} {n}" for m, n in sorted(reqs.by_method().items()))
            print(f"{phase:<10} {wall:>7.2f} {len(reqs.records):>6} {len(reqs.mutating()):>9}  {methods}")
    finally:
        engine.cloud.close()
        server.stop()


if __name__ == "__main__":
    main()
