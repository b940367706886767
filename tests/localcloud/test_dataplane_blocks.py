"""Clouds running at once on one machine (two test runs, a demo) never share a loopback block."""

from __future__ import annotations

from gateway_kit.localcloud.core import LocalCloud, LocalCloudConfig
from gateway_kit.localcloud.dataplane import blocks
from gateway_kit.localcloud.dataplane.instances import BLOCK_KIND, cloud_block


def test_a_new_cloud_takes_a_block_no_running_cloud_holds() -> None:
    first = LocalCloud(LocalCloudConfig())
    second = LocalCloud(LocalCloudConfig())
    a, claim_a = cloud_block(first)
    try:
        # The second cloud's state names the first one's block (as two random picks may): it is
        # held, the second cloud has no instance yet, so it takes another.
        second.store.put(BLOCK_KIND, {"id": "block", "block": a})
        b, claim_b = cloud_block(second)
        try:
            assert claim_a is not None and claim_b is not None
            assert b != a and second.store.get(BLOCK_KIND, "block") == {"id": "block", "block": b}
            assert blocks.claim(a) is None and blocks.claim(b) is None  # both held while they run
        finally:
            blocks.release(claim_b)
    finally:
        blocks.release(claim_a)
    again = blocks.claim(a)  # released with its cloud
    assert again is not None
    blocks.release(again)
