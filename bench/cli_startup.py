"""CPU time of ``gateway-kit --version`` and ``--help`` next to ``python -c pass``.

    python bench/cli_startup.py [--runs 7]

Each command runs ``--runs`` times in a fresh interpreter (the same one as this script, so the
same virtualenv); the table gives the median user+system CPU seconds of the child process
(``resource.getrusage(RUSAGE_CHILDREN)`` around each run), which does not count time spent
waiting for a busy machine's cores. Target: < 0.3 s for ``--version`` and ``--help``.
The last column is the command's own cost: its median minus that of ``python -c pass``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "gateway-kit --version": [sys.executable, "-m", "gateway_kit", "--version"],
    "gateway-kit --help": [sys.executable, "-m", "gateway_kit", "--help"],
}


def cpu_seconds(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    medians = {
        name: statistics.median(cpu_seconds(argv) for _ in range(args.runs))
        for name, argv in COMMANDS.items()
    }
    base = medians["python -c pass"]
    print(f"{'command':24} {'CPU s (median of ' + str(args.runs) + ')':>22} {'minus python -c pass':>22}")
    for name, value in medians.items():
        print(f"{name:24} {value:22.3f} {value - base:22.3f}")


if __name__ == "__main__":
    main()
