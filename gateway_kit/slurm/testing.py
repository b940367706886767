"""A scripted transport for tests and the benchmark: regex on the joined argv -> canned answer.

For edge cases a real SLURM cannot be made to produce on demand (and for counting commands at
1000 active jobs); the real path is always tested against a real SLURM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .transport import CommandResult, Transport

Answer = Callable[[list[str], str | None], CommandResult] | CommandResult


def result(stdout: str = "", stderr: str = "", rc: int = 0) -> CommandResult:
    return CommandResult(("scripted",), rc, stdout, stderr)


class ScriptedTransport(Transport):
    """Answers each command with the first rule whose regex matches ``" ".join(argv)``."""

    name = "scripted"

    def __init__(self, rules: Sequence[tuple[str, Answer]]) -> None:
        super().__init__()
        self.rules = list(rules)
        self.calls: list[list[str]] = []

    def _run(self, argv: list[str], *, stdin: str | None, timeout: float) -> CommandResult:
        self.calls.append(argv)
        line = " ".join(argv)
        for pattern, answer in self.rules:
            if re.search(pattern, line):
                return answer(argv, stdin) if callable(answer) else answer
        raise AssertionError(f"unexpected command: {line}")


def squeue_lines(
    states: dict[str, str], *, exit_codes: dict[str, int] | None = None, reasons: dict[str, str] | None = None
) -> str:
    """squeue output in the format of :func:`~gateway_kit.slurm.commands.squeue_argv`."""
    exit_codes, reasons = exit_codes or {}, reasons or {}
    return "".join(
        f"{jid}|{state}|{reasons.get(jid, 'None')}|{exit_codes.get(jid, 0)}|node1|"
        f"2024-01-01T00:00:00|2024-01-01T00:01:00|\n"
        for jid, state in states.items()
    )


def requested_ids(argv: Sequence[str]) -> list[str]:
    """The job ids of a ``--jobs=`` argument."""
    for arg in argv:
        if arg.startswith("--jobs="):
            return arg.split("=", 1)[1].split(",")
    return []
