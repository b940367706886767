"""GPU sessions get their devices as GPU jobs do (the local executor's slots) and pay GPU rates."""

from __future__ import annotations

from pathlib import Path

from .conftest import World


def test_gpu_sessions_get_distinct_devices(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        JOBS_LOCAL_GPUS=["0", "1"],
        JOBS_DESTINATIONS_MAP={
            "local": {"executor": "local", "su_per_cpu_hour": 1.0, "su_per_gpu_hour": 4.0}
        },
    )
    try:
        estimate = world.client.post("/api/v1/sessions/estimate", json={"application": "gpu-web"}).get_json()
        assert estimate["su_per_hour"] == 5.0  # 1 CPU at 1 SU/h + 1 GPU at 4 SU/h
        assert estimate["su_estimate"] == round(5.0 * 600 / 3600, 6)
        devices = []
        for _ in range(2):
            r = world.client.post("/api/v1/sessions", json={"application": "gpu-web"})
            assert r.status_code == 201, r.get_json()
            row = world.run_until(r.get_json()["id"], {"ready", "failed"})
            assert row.state == "ready", row.state_reason
            started = (Path(row.workdir) / ".gk" / "started.json").read_text()
            pgid = int(started.split('"pgid": ')[1].split(",")[0])
            env = Path(f"/proc/{pgid}/environ").read_bytes().split(b"\0")
            devices += [e.decode() for e in env if e.startswith(b"CUDA_VISIBLE_DEVICES=")]
        assert sorted(devices) == ["CUDA_VISIBLE_DEVICES=0", "CUDA_VISIBLE_DEVICES=1"]
        # Both GPUs are held: a third GPU session waits for one (queued, with the reason).
        r = world.client.post("/api/v1/sessions", json={"application": "gpu-web"})
        third = world.run_until(r.get_json()["id"], {"queued"})
        with world.app.app_context():
            from gateway_kit.sessions.lifecycle import run_sessions

            run_sessions(world.app)
        shown = world.client.get(f"/api/v1/sessions/{third.id}").get_json()
        assert shown["state"] == "queued" and "waiting for capacity" in shown["state_reason"]
    finally:
        world.end_all()
