"""The real ``gateway-kit demo`` in a subprocess, and a real browser (headless Chromium) on it.

- :func:`running_demo` starts ``python -m gateway_kit demo --port 0 --ready-file ...`` in its own
  session, waits for the ready file and yields a :class:`RunningDemo` (``url, instance, proc``
  when unpacked); on exit, even after a failure, it stops the demo's whole process group
  (SIGTERM, then SIGKILL) and keeps what the demo printed in :attr:`RunningDemo.output`.
- :func:`chromium_browser` launches Debian's Chromium through Playwright (skipped without it,
  a failure in CI: :func:`tests.conftest.require_service`).
- :func:`login_with_dev_provider` logs a page in through the development OpenID provider's page.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from tests.conftest import require_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class RunningDemo:
    url: str  #: without a trailing slash
    instance: Path
    proc: subprocess.Popen[str]
    output: str = ""  #: what the demo printed (stdout and stderr), once it is stopped

    def __iter__(self) -> Iterator[Any]:
        return iter((self.url, self.instance, self.proc))


def demo_env(
    extra: Mapping[str, str] | None = None, drop: tuple[str, ...] = ("GATEWAY_KIT_",)
) -> dict[str, str]:
    """This process's environment without variables starting with ``drop``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra or {})
    return env


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = 20.0) -> str:
    """SIGTERM ``proc``'s process group (SIGKILL after ``timeout`` s); return its output."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out if isinstance(out, str) else ""


@contextlib.contextmanager
def running_demo(
    tmp_path: Path,
    *,
    args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    instance: Path | None = None,
    cwd: Path | None = None,
    ready_timeout: float = 60.0,
    stop_timeout: float = 20.0,
    capture: bool = True,
    argv0: Iterable[str] = (sys.executable, "-m", "gateway_kit"),
) -> Iterator[RunningDemo]:
    """Run ``gateway-kit demo --port 0`` (``--instance instance`` if given, then ``args``).

    :param env: the demo's whole environment (default :func:`demo_env`).
    :param cwd: its working folder (default ``tmp_path``); without ``instance`` the demo uses
        ``cwd/instance``.
    :param capture: keep its output (for failure messages and :attr:`RunningDemo.output`);
        ``False`` sends it to /dev/null.
    :param argv0: the command (default: this interpreter's gateway_kit; an installed kit's
        ``gateway-kit`` script for a packaging test).
    """
    cwd = cwd or tmp_path
    ready = tmp_path / "ready"
    argv = [*argv0, "demo", "--port", "0"]
    if instance is not None:
        argv += ["--instance", str(instance)]
    argv += [*args, "--ready-file", str(ready)]
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else demo_env(),
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    running = RunningDemo("", instance or cwd / "instance", proc)
    try:
        deadline = time.monotonic() + ready_timeout
        while not ready.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "the demo ended"
            assert time.monotonic() < deadline, f"the demo did not start in {ready_timeout:g} s"
            time.sleep(0.2)
        running.url = ready.read_text().strip().rstrip("/")
        yield running
    finally:
        running.output = stop_process_group(proc, stop_timeout)


@contextlib.contextmanager
def serving(wsgi: Any) -> Iterator[str]:
    """Serve ``wsgi`` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)


def require_chromium() -> None:
    require_service(
        "Chromium",
        CHROMIUM.exists(),
        "install Debian's chromium (apt-get install chromium); .ci/services.sh does",
    )


@contextlib.contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed on exit."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_until(page: Any, expression: str, timeout: float = 30000) -> None:
    """Poll a JavaScript expression on ``page`` until it is true (``timeout`` in ms).

    Use this instead of ``page.wait_for_function``: Playwright's polling evaluates the predicate
    with ``eval``, which the gateway's Content-Security-Policy (no ``unsafe-eval``) refuses;
    ``page.evaluate`` goes through the DevTools protocol and is not subject to the CSP.
    """
    from playwright.sync_api import Error as PlaywrightError

    def holds() -> bool:
        try:
            return bool(page.evaluate(expression))
        except PlaywrightError as exc:  # the page navigated (a live page reloading itself)
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            return False

    deadline = time.monotonic() + timeout / 1000
    while not holds():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} was not true within {timeout / 1000:g} s")
        page.wait_for_timeout(100)


def dataset_with_file(page: Any, url: str, name: str, description: str, license: str, file: Path) -> str:
    """Create a dataset through its form and upload ``file`` on its page; returns its id."""
    page.goto(url + "/datasets/new")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=description]", description)
    page.fill("input[name=license]", license)
    page.click("form button[type=submit]")
    page.wait_for_selector("#dataset-id")
    with page.expect_navigation():  # the page reloads once the file has arrived
        page.set_input_files("#pick-files", str(file))
    page.wait_for_selector(f"#files a:text('{file.name}')")
    return str(page.inner_text("#dataset-id")).strip()


def submit_job_form(page: Any, timeout: float) -> None:
    """Submit the application form on ``page`` and wait (``timeout`` in ms) until the job page
    shows the job COMPLETED; else fail with what the job page says."""
    page.click("#job-form button[type=submit]")
    page.wait_for_selector("#job-state")
    try:
        wait_until(page, "document.querySelector('#job-state').textContent.trim() == 'COMPLETED'", timeout)
    except Exception:
        page.reload()
        raise AssertionError(page.inner_text("#job")) from None


def dev_password(username: str) -> str:
    """The development provider's password of its demo accounts (alan, grace, ada)."""
    return f"{username}-dev-password"


def sign_in_on_dev_provider_page(page: Any, username: str, password: str | None = None) -> None:
    """On the development provider's page, sign in and wait to be back, signed in."""
    page.wait_for_selector("#username")
    page.fill("#username", username)
    page.fill("#password", password if password is not None else dev_password(username))
    page.click("#sign-in")
    page.wait_for_selector("#signed-in-as", timeout=15000)


def login_with_dev_provider(page: Any, base_url: str, username: str, password: str | None = None) -> None:
    """From the home page: Log in, the development provider, its form."""
    page.goto(base_url.rstrip("/") + "/")
    page.click("#login-link")
    page.click("#provider-dev")
    sign_in_on_dev_provider_page(page, username, password)
