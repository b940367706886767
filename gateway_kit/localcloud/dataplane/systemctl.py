"""The ``systemctl``/``journalctl`` an instance on the data plane runs (a client of the supervisor).

Run as a file, not as a module (it imports only the standard library so that it starts fast)::

    python systemctl.py --control ROOT/<id>/systemd/control.json systemctl enable --now web
"""

from __future__ import annotations

import json
import socket
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "--control":
        sys.stderr.write("usage: systemctl.py --control FILE systemctl|journalctl ARGS...\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        control = json.load(f)
    request = {"instance": control["instance"], "token": control["token"], "tool": argv[2], "argv": argv[3:]}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(600)
        try:
            sock.connect(control["address"])
        except OSError as exc:
            sys.stderr.write(f"Failed to connect to bus: {exc.strerror} (is the local cloud running?)\n")
            return 1
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data or b'{"rc": 1, "out": "no answer\\n"}')
    out = str(answer.get("out", ""))
    rc = int(answer.get("rc", 1))
    # Failures go to stderr as systemd writes them; status reports to stdout.
    (sys.stderr if rc and out.startswith(("Failed", "Job for", "Unknown")) else sys.stdout).write(out)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
