"""Deploy chaos: ``gateway-kit deploy apply`` SIGKILLed at random points on a faulty cloud.

Each trial, on the local cloud (over HTTP, fast clock) with faults injected at random -- a share of
5xx answers, 429 with ``Retry-After``, servers ending in ERROR, a load balancer held in
PENDING_CREATE past the kit's timeout, a full instance quota -- runs ``gateway-kit deploy apply
deploy/examples/standard.toml`` as a process, SIGKILLs it at a random point (after a random number
of resources are recorded ready), then re-applies until it converges. A re-apply that fails must
fail cleanly: exit status 1 and a message naming what failed and the command to continue; the
operator then "fixes the cloud" (faults cleared, holds released, quota restored) and either
re-applies or destroys. After each trial it checks the cloud's own state (the local cloud's
store): no duplicate (two resources of one kind and name), no orphan (a resource carrying the
kit's marks that the recorded deployment does not own), and after ``deploy destroy`` nothing
left at all compared with the cloud before the trial. Run::

    .venv/bin/python bench/chaos_deploy.py --trials 200 [--seed 1] [--json]

It prints one line per trial and the totals: trials, kills, faults injected, re-applies needed,
clean failures, duplicates, orphans, leaked resources, unclear messages.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchkit import ROOT, long_run_parser, take_interrupts

sys.path.insert(0, str(ROOT))
SPEC = ROOT / "deploy" / "examples" / "standard.toml"

#: The kit's settings for every apply: quick polls, and a load-balancer timeout short enough that
#: a held load balancer times out within seconds.
SETTINGS: dict[str, Any] = {
    "HOSTING_POLL_INTERVAL": 0.02,
    "HOSTING_SERVER_TIMEOUT": 30.0,
    "HOSTING_VOLUME_TIMEOUT": 30.0,
    "HOSTING_LB_TIMEOUT": 3.0,
    "HOSTING_DNS_TIMEOUT": 30.0,
    "HOSTING_MEMBER_TIMEOUT": 30.0,
    "HOSTING_RETRY_BASE_WAIT": 0.01,
    "HOSTING_RETRY_MAX_WAIT": 0.05,
}
FAULTS = ("5xx", "429", "server_error", "lb_stuck", "quota")
#: Re-applies after which a trial that has not converged counts as stuck.
MAX_REAPPLIES = 6
#: Store kinds that are bookkeeping, not resources (tokens, quota overrides...).
NOT_RESOURCES = ("identity.token", "core.quota", "core.event", "core.request", "compute.deleted_seq")


@dataclass
class Trial:
    n: int
    faults: list[str]
    killed: bool = False
    reapplies: int = 0
    clean_failures: int = 0
    unclear: list[str] = field(default_factory=list)
    destroyed_after_failure: bool = False
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    stuck: bool = False
    seconds: float = 0.0


class Bench:
    def __init__(self, tmp: Path, delay: float) -> None:
        from gateway_kit.localcloud.clock import ClockConfig
        from gateway_kit.localcloud.core import LocalCloudConfig
        from gateway_kit.localcloud.server import LocalCloudServer
        from gateway_kit.localcloud.testing import LocalCloudController

        self.tmp = tmp
        self.server = LocalCloudServer(LocalCloudConfig(clock=ClockConfig(mode="time", delay=delay))).start()
        self.clouds_yaml = self.server.write_clouds_yaml(tmp / "clouds.yaml")
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        self.control = LocalCloudController(self.server.url)

    # -- the cloud's own state ------------------------------------------------------------------

    def inventory(self) -> dict[tuple[str, str], dict[str, Any]]:
        store = self.server.cloud.store
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for kind in list(store.kinds()):
            if kind.startswith(NOT_RESOURCES):
                continue
            for doc in store.all(kind):
                found[(kind, str(doc.get("id")))] = doc
        return found

    def release_holds(self) -> None:
        cloud = self.server.cloud
        for kind in list(cloud.store.kinds()):
            for doc in cloud.store.all(kind):
                if (doc.get("_lc") or {}).get("held"):
                    cloud.release(kind, str(doc["id"]))
        cloud.faults.hold_next.clear()

    def heal(self) -> None:
        """The operator fixes the cloud: no faults, holds released, quotas back."""
        self.control.clear_faults()
        self.server.cloud.faults.create_failures.clear()
        self.release_holds()
        for doc in self.server.cloud.store.all("core.quota"):
            self.server.cloud.store.delete("core.quota", str(doc["id"]))

    def inject(self, fault: str, rng: random.Random) -> None:
        if fault == "5xx":
            for service in ("compute", "network", "load_balancer", "volume", "dns"):  # blueprint names
                self.control.add_rule(
                    service=service, status=rng.choice([500, 502, 503]), rate=0.15, count=rng.randint(1, 4)
                )
        elif fault == "429":
            self.control.add_rule(service="*", status=429, retry_after=rng.choice([0, 1]), rate=0.1, count=4)
        elif fault == "server_error":
            self.control.fail_next_create("compute.server", rng.randint(1, 2))
        elif fault == "lb_stuck":
            self.control.hold("octavia.loadbalancer", "next")
        elif fault == "quota":
            self.control.set_quota("demo", "instances", 2)

    def stop(self) -> None:
        self.server.stop()


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    env.update(GATEWAY_KIT_DATABASE_URL=f"sqlite:///{db}", GATEWAY_KIT_ENV="testing")
    env.update({f"GATEWAY_KIT_{k}": str(v) for k, v in SETTINGS.items()})
    return env


def _ready(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM hosting_resources WHERE status = 'ready'").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def _kit(args: list[str], db: Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway_kit", *args],
        env=_env(db),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _clear_message(err: str) -> bool:
    """What an operator needs: one error message (no traceback) naming a command to run next."""
    text = " ".join(err.split())
    return "Traceback" not in err and "Error: " in text and "gateway-kit " in text


def _tagged_names(inv: dict[tuple[str, str], dict[str, Any]]) -> Counter[tuple[str, str]]:
    names: Counter[tuple[str, str]] = Counter()
    for (kind, _id), doc in inv.items():
        name = doc.get("name")
        if isinstance(name, str) and name.startswith("standard"):
            names[(kind, name)] += 1
    return names


def _made(
    before: dict[tuple[str, str], dict[str, Any]], after: dict[tuple[str, str], dict[str, Any]]
) -> list[tuple[str, str]]:
    """Resources in ``after`` and not ``before``, less what the cloud makes for itself: the
    project's ``default`` security group (and its rules), made by Neutron on first use."""
    default_groups = {
        i for (k, i), doc in after.items() if k == "network.security_group" and doc.get("name") == "default"
    }
    return [
        (k, i)
        for (k, i), doc in after.items()
        if (k, i) not in before
        and i not in default_groups
        and str(doc.get("security_group_id")) not in default_groups
    ]


def run_trial(bench: Bench, n: int, rng: random.Random, app_factory: Any) -> Trial:
    from gateway_kit.hosting.engine import engine_for

    started = time.monotonic()
    faults = [f for f in FAULTS if rng.random() < 0.35]
    trial = Trial(n, faults)
    work = bench.tmp / f"trial-{n}"
    work.mkdir()
    app = app_factory(work)
    db = work / "instance" / "gateway.db"
    before = bench.inventory()
    for fault in faults:
        bench.inject(fault, rng)

    # 1. An apply killed at a random point (or ending by itself first).
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "deploy", "apply", str(SPEC)],
        env=_env(db),
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    target = rng.randint(0, 18)
    deadline = time.monotonic() + 120
    while _ready(db) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.1))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        trial.killed = True
    _, first_err = proc.communicate()
    converged = proc.returncode == 0
    if proc.returncode not in (0, -signal.SIGKILL):
        trial.clean_failures += 1
        if not _clear_message(first_err):
            trial.unclear.append(first_err.strip()[-300:])

    # 2. Re-apply until converged; a failure must be clean, then the operator heals the cloud and
    #    (half the time) destroys instead of re-applying.
    healed = False
    while not converged and trial.reapplies < MAX_REAPPLIES:
        trial.reapplies += 1
        result = _kit(["deploy", "apply", str(SPEC)], db, work)
        if result.returncode == 0:
            converged = True
            break
        trial.clean_failures += 1
        if result.returncode != 1 or not _clear_message(result.stderr):
            trial.unclear.append(f"exit {result.returncode}: {result.stderr.strip()[-300:]}")
        if not healed:
            bench.heal()
            healed = True
            if rng.random() < 0.5:
                trial.destroyed_after_failure = True
                break
    bench.heal()

    engine = engine_for(app)
    try:
        if converged:
            inv = bench.inventory()
            trial.duplicates = [f"{k}:{name} x{c}" for (k, name), c in _tagged_names(inv).items() if c > 1]
            _, rows = engine.status("standard")
            bad = [r.key for r in rows if r.recorded != "ready" or r.drift]
            trial.duplicates += [f"status {k}" for k in bad]
        elif not trial.destroyed_after_failure:
            trial.stuck = True
        trial.orphans = [f"{o.get('kind')}:{o.get('name')}" for o in engine.orphans()]
        if any(d.name == "standard" for d in engine.deployments()):  # none if nothing began
            engine.destroy("standard")  # in this process: one interpreter start less per trial
        after = bench.inventory()
        trial.leaks = [f"{key[0]}:{after[key].get('name') or key[1]}" for key in _made(before, after)]
        trial.orphans += [f"after destroy {o.get('kind')}:{o.get('name')}" for o in engine.orphans()]
    finally:
        engine.cloud.close()
    if trial.leaks:  # start the next trial from a clean cloud; the leak is counted
        bench.control.reset(resources=True)
    trial.seconds = time.monotonic() - started
    return trial


def main(argv: list[str] | None = None) -> int:
    parser = long_run_parser(__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay", type=float, default=0.02, help="local cloud's transition delay (s)")
    args = parser.parse_args(argv)
    take_interrupts()

    from gateway_kit import create_app
    from gateway_kit.db import upgrade

    def app_factory(work: Path) -> Any:
        app = create_app({"ENV": "testing", **SETTINGS}, instance_path=str(work / "instance"))
        upgrade(app)
        return app

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="gk-chaos-deploy-"))
    bench = Bench(tmp, args.delay)
    trials: list[Trial] = []
    t0 = time.monotonic()
    print(f"deploy chaos: {args.trials} trials, seed {args.seed}, spec {SPEC.relative_to(ROOT)}", flush=True)
    try:  # Ctrl-C (SIGINT) ends the run early and still prints the totals of the trials done
        for n in range(1, args.trials + 1):
            t = run_trial(bench, n, rng, app_factory)
            trials.append(t)
            flags = [
                f"{len(t.duplicates)} dup" if t.duplicates else "",
                f"{len(t.orphans)} orphan" if t.orphans else "",
                f"{len(t.leaks)} leak" if t.leaks else "",
                "STUCK" if t.stuck else "",
                f"{len(t.unclear)} unclear" if t.unclear else "",
            ]
            print(
                f"trial {n:>4}: faults {','.join(t.faults) or '-':<32} "
                f"killed {'yes' if t.killed else 'no ':<3} "
                f"re-applies {t.reapplies} {'destroyed after failure ' if t.destroyed_after_failure else ''}"
                f"{t.seconds:5.1f}s {' '.join(f for f in flags if f)}",
                flush=True,
            )
            for detail in (*t.duplicates, *t.orphans, *t.leaks, *t.unclear):
                print(f"    {detail}", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {len(trials)} trials", flush=True)
    finally:
        bench.stop()
    fault_counts = Counter(f for t in trials for f in t.faults)
    totals = {
        "trials": len(trials),
        "kills": sum(t.killed for t in trials),
        "faults": dict(fault_counts),
        "reapplies": sum(t.reapplies for t in trials),
        "clean_failures": sum(t.clean_failures for t in trials),
        "destroyed_after_failure": sum(t.destroyed_after_failure for t in trials),
        "duplicates": sum(len(t.duplicates) for t in trials),
        "orphans": sum(len(t.orphans) for t in trials),
        "leaks": sum(len(t.leaks) for t in trials),
        "stuck": sum(t.stuck for t in trials),
        "unclear_messages": sum(len(t.unclear) for t in trials),
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(
        f"\ntrials {totals['trials']}  kills {totals['kills']}  faults "
        + ", ".join(f"{k} {v}" for k, v in sorted(fault_counts.items()))
        + f"  re-applies {totals['reapplies']}  clean failures {totals['clean_failures']}"
        f"  destroyed after failure {totals['destroyed_after_failure']}"
    )
    print(
        f"duplicates {totals['duplicates']}  orphans {totals['orphans']}  leaks {totals['leaks']}"
        f"  stuck {totals['stuck']}  unclear messages {totals['unclear_messages']}"
        f"  ({totals['seconds']} s, {totals['seconds'] / max(1, len(trials)):.1f} s/trial)"
    )
    if args.json:
        print(json.dumps(totals))
    bad = totals["duplicates"] + totals["orphans"] + totals["leaks"] + totals["stuck"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
