"""Transports: how SLURM commands are run. The command builders in :mod:`.commands` are pure; a
transport takes their argv and returns what the command printed.

* :class:`LocalShell` runs the commands on this host (the gateway is a submit host), with an argv
  list and never ``shell=True``.
* :class:`SSHTransport` runs them on a login node with the system ``ssh`` client and the key named in
  ``SLURM_SSH_KEY``. The remote side always goes through a shell (that is how ssh works), so the
  argv is joined with :func:`shlex.quote` by :func:`ssh_argv`: arguments arrive literally.

A transport raises :class:`~.errors.SlurmUnavailable` when it cannot run the command at all
(timeout, ssh cannot connect); a command that ran and failed is a :class:`CommandResult` with its
exit status, for the caller's parser to judge.
"""

from __future__ import annotations

import abc
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import SlurmUnavailable

#: ssh exits with this status when it could not connect or authenticate.
SSH_FAILED = 255


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0


class Transport(abc.ABC):
    """Runs one command; counts them (the benchmark and tests read :attr:`commands_run`)."""

    name = ""

    def __init__(self) -> None:
        self.commands_run = 0

    def run(self, argv: Sequence[str], *, stdin: str | None = None, timeout: float = 30.0) -> CommandResult:
        self.commands_run += 1
        return self._run(list(argv), stdin=stdin, timeout=timeout)

    @abc.abstractmethod
    def _run(self, argv: list[str], *, stdin: str | None, timeout: float) -> CommandResult:
        """Run ``argv``; raise SlurmUnavailable if it could not be run at all."""


def _execute(
    argv: list[str], shown: Sequence[str], *, stdin: str | None, timeout: float, env: Mapping[str, str] | None
) -> CommandResult:
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmUnavailable(
            "The batch cluster did not answer in time.", log_message=f"{shown[0]} timed out after {timeout}s"
        ) from exc
    except FileNotFoundError as exc:
        raise SlurmUnavailable(
            "The SLURM commands are not installed on this host.", log_message=f"{argv[0]}: {exc}"
        ) from exc
    return CommandResult(tuple(shown), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


class LocalShell(Transport):
    """Run the SLURM commands on this host.

    :param bin_dir: folder of the SLURM commands ('' = search ``PATH``).
    :param env: extra environment (e.g. ``SLURM_CONF``) on top of this process's.
    """

    name = "local"

    def __init__(self, bin_dir: str = "", env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.bin_dir = bin_dir
        self.env = {**os.environ, **env} if env else None

    def _run(self, argv: list[str], *, stdin: str | None, timeout: float) -> CommandResult:
        if self.bin_dir and "/" not in argv[0]:
            argv = [os.path.join(self.bin_dir, argv[0]), *argv[1:]]
        return _execute(argv, argv, stdin=stdin, timeout=timeout, env=self.env)


@dataclass(frozen=True)
class SshTarget:
    """A login node and how to reach it: ``ssh`` with keys only, never a prompt."""

    host: str
    user: str = ""
    port: int = 22
    key_file: str = ""
    known_hosts: str = ""
    connect_timeout: int = 10
    ssh: str = "ssh"

    def argv(self, remote: Sequence[str]) -> list[str]:
        """The ``ssh`` argv that runs ``remote`` on the host (pure).

        ``BatchMode=yes`` so that it never prompts; host keys are checked
        (``StrictHostKeyChecking=yes`` against ``known_hosts`` when given): a gateway must not
        submit jobs to whoever answers.
        """
        if not self.host or self.host.startswith("-"):
            raise ValueError(f"invalid ssh host {self.host!r}")
        argv = [self.ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(self.connect_timeout)}"]
        argv += ["-o", "StrictHostKeyChecking=yes", "-p", str(int(self.port))]
        if self.key_file:
            argv += ["-i", self.key_file, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        login = f"{self.user}@{self.host}" if self.user else self.host
        return [*argv, login, "--", " ".join(shlex.quote(a) for a in remote)]


class SSHTransport(Transport):
    """Run the SLURM commands on a login node over ssh (the job directories are on a filesystem
    shared by the gateway and the cluster)."""

    name = "ssh"

    def __init__(self, target: SshTarget) -> None:
        super().__init__()
        self.target = target

    def _run(self, argv: list[str], *, stdin: str | None, timeout: float) -> CommandResult:
        full = self.target.argv(argv)
        result = _execute(full, argv, stdin=stdin, timeout=timeout, env=None)
        if result.returncode == SSH_FAILED:
            raise SlurmUnavailable(
                "The cluster's login node cannot be reached.",
                log_message=f"ssh {self.target.host}: {result.stderr.strip()}",
            )
        return result
