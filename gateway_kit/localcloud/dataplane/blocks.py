"""Which block of loopback space each local cloud's data plane uses, claimed per machine.

Instances of a cloud get ``127.100.<block>.y``, its load balancers ``127.101.<block>.y`` and its
floating IPs ``127.64.<block>.y`` (:func:`.instances.cloud_block`). Several clouds run on one
machine at once (two checkouts running the test suite, a demo beside them), so a cloud *claims*
its block: an exclusive ``flock`` on ``<tmp>/gateway-kit-dataplane-blocks-<uid>/<block>.lock``, held
for as long as its data plane runs and released by the kernel when its process ends, however it
ends. A new cloud takes a block no running cloud holds; a cloud whose state already has instances
keeps its own block (their addresses are recorded) even when another holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
from pathlib import Path

#: Blocks 1-254 (0 and 255 left out).
BLOCKS = range(1, 255)


def claims_dir() -> Path:
    """The user's claims (a folder of its own: another user cannot take or hold them)."""
    return Path(tempfile.gettempdir()) / f"gateway-kit-dataplane-blocks-{os.getuid()}"


def claim(block: int) -> int | None:
    """A descriptor holding ``block`` exclusively for this process, or None if a running cloud
    on this machine holds it."""
    where = claims_dir()
    where.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(where / f"{block}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim_free() -> tuple[int, int | None]:
    """A block no running cloud holds, in random order, and its claim; a random block without a
    claim when all 254 are held."""
    order = sorted(BLOCKS, key=lambda _b: secrets.randbits(32))
    for block in order:
        fd = claim(block)
        if fd is not None:
            return block, fd
    return order[0], None


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
