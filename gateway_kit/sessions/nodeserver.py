"""Start a session's server on a compute node and report where it listens (batch connect).

Run by a SLURM job (or any remote executor) as::

    python -m gateway_kit.sessions.nodeserver --bind HOST --address-file FILE -- ARGV...

It takes a free port on the node, puts it into ``ARGV`` where the kit wrote :data:`PORT_MARK`
(the ``{port}`` of the application's command), writes ``{"host": ..., "port": ...}`` to the
address file (in the job's directory, on the shared filesystem the gateway reads) and replaces
itself with the server (``exec``), so the server is the batch job's own process. Standard library
only: it runs with whatever Python the node has.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

#: Stands for the port in the rendered command until the node has chosen one.
PORT_MARK = "@@gateway-kit-port@@"


def free_port(bind: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET) as s:
        s.bind((bind, 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="0.0.0.0", help="address the server listens on")
    parser.add_argument(
        "--report-host",
        default="",
        help="host the gateway connects to (default: --bind, or this node's name when binding every address)",
    )
    parser.add_argument("--address-file", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    port = free_port(args.bind)
    host = args.report_host or (args.bind if args.bind not in ("0.0.0.0", "::") else socket.getfqdn())
    target = Path(args.address_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"host": host, "port": port, "pid": os.getpid()}), encoding="utf-8")
    os.replace(tmp, target)
    final = [part.replace(PORT_MARK, str(port)) for part in command]
    sys.stdout.flush()
    os.execvp(final[0], final)  # noqa: S606 - an argv list: no shell ever parses it


if __name__ == "__main__":
    main()
