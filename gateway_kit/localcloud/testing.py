"""Test helpers for code that talks to OpenStack: a local cloud per test, and fault injection.

Use the pytest fixture (add ``pytest_plugins = ["gateway_kit.localcloud.testing"]`` to your
``conftest.py``)::

    def test_boot_survives_a_flaky_nova(local_cloud):
        conn = local_cloud.connect()                      # openstack.connect(cloud="local")
        local_cloud.controller.error_rate("compute", "POST", rate=1.0, status=503, count=1)
        local_cloud.controller.fail_next_create("compute.server")
        ...

``local_cloud`` starts a fresh cloud (own state directory under ``tmp_path``, transitions every
0.05 s) on a free loopback port in a background thread, sets ``OS_CLIENT_CONFIG_FILE`` for the
test and yields a :class:`RunningLocalCloud`. ``local_cloud_process`` does the same with a real
``python -m gateway_kit.localcloud serve`` subprocess (slower to start; use it to test restarts).
Outside pytest, use :func:`running_local_cloud` as a context manager.

Fault injection goes through :class:`LocalCloudController` (the control API, ``/_control``):

=============================================  =========================================================
``error_rate(service, method, rate, status)``  answer matching requests with ``status`` (5xx) at ``rate``
``throttle(service, retry_after=...)``         answer 429 with ``Retry-After``
``slow(service, delay)``                       delay matching requests by ``delay`` seconds
``fail_next_create(kind)``                     the next created ``kind`` ends in ERROR (server ``ERROR``
                                               with a fault, volume/snapshot ``error``, image ``killed``,
                                               other services their own error state)
``hold(kind, id_or_next)`` / ``release``       keep a resource (or the next one created) in
                                               BUILD/creating/PENDING_* until released
``set_quota(project, resource, n)``            the project's limit for ``resource`` (``instances``,
                                               ``cores``, ``ram``, ``volumes``, ``gigabytes``,
                                               ``floatingip``, ``zones``, ``load_balancer``...)
``clock(mode=..., delay=..., polls=...)``      change how fast transitions happen
``reset(resources=False)``                     drop all faults (and, if asked, every resource)
=============================================  =========================================================

Services are named ``identity``, ``compute``, ``image``, ``volume``, ``network``, ``dns``,
``load-balancer``... (see ``GET /_control``); kinds are ``compute.server``, ``volume.volume``,
``volume.snapshot``, ``image.image``, ``network.floatingip``... (``<service>.<noun>``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.readiness import free_port, serve_argv, wait_until_up
from gateway_kit.process_lifetime import stop_process

__all__ = [
    "LocalCloudController",
    "RunningLocalCloud",
    "boot_server",
    "fixed_address",
    "free_port",
    "local_cloud",
    "local_cloud_dataplane",
    "local_cloud_process",
    "running_local_cloud",
    "wait_until",
    "wait_until_up",
]


class LocalCloudController:
    """Client of a local cloud's control API (the one every test uses).

    :param url: the cloud's base URL (``http://127.0.0.1:PORT``).
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request to the control API (``path`` under ``/_control``); its JSON answer, or
        ``RuntimeError`` naming the status and body when it is refused."""
        resp = self._http.request(method, f"{self.url}/_control{path}", json=body, timeout=self.timeout)
        if resp.status_code >= 400:
            raise RuntimeError(f"local cloud control {method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    _call = call

    def state(self) -> dict[str, Any]:
        """Faults, clock and services now in force."""
        result: dict[str, Any] = self._call("GET", "")
        return result

    def add_rule(self, **rule: Any) -> int:
        """Add a raw fault rule (see :class:`gateway_kit.localcloud.faults.FaultRule`)."""
        return int(self._call("POST", "/faults", rule)["id"])

    def remove_rule(self, rule_id: int) -> None:
        self._call("DELETE", f"/faults/{rule_id}")

    def error_rate(
        self,
        service: str,
        method: str = "*",
        rate: float = 1.0,
        status: int = 500,
        *,
        path: str = "",
        count: int | None = None,
        message: str = "",
    ) -> int:
        """Answer ``rate`` of the matching requests with ``status``; return the rule id."""
        return self.add_rule(
            service=service, method=method, rate=rate, status=status, path=path, count=count, message=message
        )

    def throttle(
        self,
        service: str,
        method: str = "*",
        retry_after: int = 1,
        rate: float = 1.0,
        *,
        path: str = "",
        count: int | None = None,
    ) -> int:
        """Answer matching requests with 429 Too Many Requests and ``Retry-After``."""
        return self.add_rule(
            service=service,
            method=method,
            rate=rate,
            status=429,
            retry_after=retry_after,
            path=path,
            count=count,
            message="Rate limit exceeded; retry later.",
        )

    def slow(
        self, service: str, delay: float, method: str = "*", *, path: str = "", count: int | None = None
    ) -> int:
        """Delay matching requests by ``delay`` seconds."""
        return self.add_rule(service=service, method=method, delay=delay, path=path, count=count)

    def fail_next_create(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` creations of ``kind`` end in the error state."""
        self._call("POST", "/fail-next-create", {"kind": kind, "times": times})

    def hold(self, kind: str, id_or_next: str = "next", times: int = 1) -> None:
        """Hold a resource (or the next ``times`` created) in its transitional state."""
        self._call("POST", "/hold", {"kind": kind, "id": id_or_next, "times": times})

    def release(self, kind: str, resource_id: str) -> None:
        """Let a held resource continue its transitions."""
        self._call("POST", "/release", {"kind": kind, "id": resource_id})

    def set_quota(self, project: str, resource: str, limit: int) -> None:
        """Set a project's (name or id) quota for ``resource``; -1 means unlimited."""
        self._call("PUT", "/quotas", {"project": project, "resource": resource, "limit": limit})

    def clock(
        self, mode: str | None = None, delay: float | None = None, polls: int | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in (("mode", mode), ("delay", delay), ("polls", polls)) if v is not None}
        result: dict[str, Any] = self._call("PUT", "/clock", body)
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def reset(self, resources: bool = False) -> None:
        """Drop every fault; with ``resources=True`` also wipe all resources and re-seed."""
        self._call("POST", "/reset", {"resources": resources})


@dataclass
class RunningLocalCloud:
    """What the fixtures yield."""

    url: str
    clouds_yaml: Path
    state_dir: Path
    controller: LocalCloudController
    process: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    dns_port: int | None = None  #: the DNS server's UDP/TCP port (``dns=True``, or a subprocess)

    def connect(self, cloud: str = "local", **kwargs: Any) -> Any:
        """``openstack.connect(cloud=...)`` against this local cloud."""
        import openstack
        import openstack.config

        # load_envvars=False: an OS_CLIENT_CONFIG_FILE or OS_CLOUD in the environment must not
        # redirect this connection to another cloud.
        config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)], load_envvars=False)
        region = config.get_one(cloud=cloud, **kwargs)
        return openstack.connection.Connection(config=region)


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true (connection errors count as not yet).

    :raises AssertionError: after ``timeout`` seconds, naming ``what`` and the last answer.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def boot_server(
    cloud: RunningLocalCloud,
    name: str,
    user_data: str = "",
    *,
    network: str = "private",
    flavor: str = "m3.tiny",
    image: str = "cirros-0.6.2-x86_64-disk",
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Boot a server through openstacksdk and wait until ACTIVE; ``(connection, server)``.

    With the data plane on, :func:`fixed_address` of it is the instance's ``127.100.x.y``.
    """
    import base64

    conn = cloud.connect()
    server = conn.compute.create_server(
        name=name,
        image_id=conn.image.find_image(image, ignore_missing=False).id,
        flavor_id=conn.compute.find_flavor(flavor, ignore_missing=False).id,
        networks=[{"uuid": conn.network.find_network(network, ignore_missing=False).id}],
        user_data=base64.b64encode(user_data.encode()).decode() if user_data else None,
        **kwargs,
    )
    server = conn.compute.wait_for_server(server, wait=120)
    return conn, conn.compute.get_server(server.id)


def fixed_address(server: Any) -> str:
    """A server's first fixed IPv4 address (from Nova's ``addresses``)."""
    for addresses in (server.addresses or {}).values():
        for item in addresses:
            if item.get("OS-EXT-IPS:type", "fixed") == "fixed" and item.get("version", 4) == 4:
                return str(item["addr"])
    raise AssertionError(f"server {server.id} has no fixed IPv4 address")


@contextmanager
def running_local_cloud(
    state_dir: Path,
    *,
    subprocess_mode: bool = False,
    delay: float = 0.05,
    mode: str = "time",
    seed: Path | None = None,
    dns: bool = False,
    dataplane: bool = False,
) -> Iterator[RunningLocalCloud]:
    """Start a local cloud (thread or subprocess) and stop it on exit.

    ``dns=True`` (thread mode) also serves the Designate zones over DNS on a free loopback port
    (:attr:`RunningLocalCloud.dns_port`); the subprocess always runs its DNS server.
    ``dataplane=True`` turns the data plane on (``serve --dataplane``; instances run under
    ``state_dir/dataplane``, see :mod:`gateway_kit.localcloud.dataplane`); in thread mode
    ``extra["dataplane"]`` is the :class:`~gateway_kit.localcloud.dataplane.DataPlane`.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    clouds_yaml = state_dir / "clouds.yaml"
    if subprocess_mode:
        port = free_port()
        dns_port = free_port()
        argv = serve_argv(
            port, state_dir, clouds_yaml=clouds_yaml, clock=mode, delay=delay, dns_port=dns_port
        )
        if seed is not None:
            argv += ["--seed", str(seed)]
        if dataplane:
            argv += ["--dataplane"]
        log = (state_dir / "localcloud.log").open("ab")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, process=proc)
            yield RunningLocalCloud(
                url, clouds_yaml, state_dir, LocalCloudController(url), process=proc, dns_port=dns_port
            )
        finally:
            stop_process(proc, grace=10)
        return
    from gateway_kit.localcloud.server import LocalCloudServer

    config = LocalCloudConfig(state_dir=state_dir, seed=seed, clock=ClockConfig(mode=mode, delay=delay))
    server = LocalCloudServer(config, dns_port=0 if dns else None).start()
    plane = None
    try:
        server.write_clouds_yaml(clouds_yaml)
        running = RunningLocalCloud(
            server.url, clouds_yaml, state_dir, LocalCloudController(server.url), dns_port=server.dns_port
        )
        running.extra["server"] = server
        if dataplane:
            from gateway_kit.localcloud import dataplane as dp

            plane = dp.enable(server.cloud, state_dir / "dataplane", interval=0.1)
            running.extra["dataplane"] = plane
        yield running
    finally:
        if plane is not None:
            dp.disable(server.cloud)
        server.stop()


@pytest.fixture
def local_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningLocalCloud]:
    """A fresh local cloud in a thread; ``OS_CLIENT_CONFIG_FILE`` points at its clouds.yaml."""
    with running_local_cloud(tmp_path / "localcloud") as cloud:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
        yield cloud


@pytest.fixture
def local_cloud_dataplane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningLocalCloud]:
    """Like :func:`local_cloud`, with the data plane on and the DNS server running: instances run
    their cloud-config and units (``extra["dataplane"]`` is the data plane)."""
    with running_local_cloud(tmp_path / "localcloud", dataplane=True, dns=True) as cloud:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
        yield cloud


@pytest.fixture
def local_cloud_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningLocalCloud]:
    """Like :func:`local_cloud`, as a real ``serve`` subprocess."""
    with running_local_cloud(tmp_path / "localcloud", subprocess_mode=True) as cloud:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
        yield cloud
