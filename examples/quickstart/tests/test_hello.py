"""The hello application: declared by the plugin, submitted through the REST API with a token."""

from pathlib import Path

from quickstart.hello import greeting

from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL


def test_greeting() -> None:
    assert greeting("Ada") == "Hello, Ada!"
    assert greeting("Ada", shout=True) == "HELLO, ADA!"


def test_submit_hello_through_the_api(app, headers) -> None:
    client = app.test_client()

    ids = {a["id"] for a in client.get("/api/v1/applications", headers=headers).json["applications"]}
    assert {"hello", "echo-toml"} <= ids
    schema = client.get("/api/v1/applications/hello", headers=headers).json["inputs"]
    assert schema["properties"]["times"]["maximum"] == 10

    resp = client.post(
        "/api/v1/jobs",
        headers=headers,
        json={"application": "hello", "inputs": {"who": "Ada; rm -rf ~", "times": 2, "shout": True}},
    )
    assert resp.status_code == 201, resp.json
    job = wait_for(app, resp.json["id"], set(TERMINAL), timeout=30)
    assert job.state == "COMPLETED", job.state_reason

    outputs = client.get(f"/api/v1/jobs/{job.id}/outputs", headers=headers).json["outputs"]
    hello = next(o for o in outputs if o["path"] == "hello.txt")
    text = client.get(hello["url"], headers=headers).get_data(as_text=True)
    assert text == "1: HELLO, ADA; RM -RF ~!\n2: HELLO, ADA; RM -RF ~!\n"
    assert (Path(job.workdir) / "hello.txt").is_file()


def test_bad_inputs_are_refused_before_queueing(app, headers) -> None:
    resp = app.test_client().post(
        "/api/v1/jobs", headers=headers, json={"application": "hello", "inputs": {"times": 11}}
    )
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json["errors"]] == ["inputs.times"]


def test_toml_application_runs(app, headers) -> None:
    resp = app.test_client().post(
        "/api/v1/jobs", headers=headers, json={"application": "echo-toml", "inputs": {}}
    )
    assert resp.status_code == 201, resp.json
    job = wait_for(app, resp.json["id"], set(TERMINAL), timeout=30)
    assert job.state == "COMPLETED", job.state_reason
    log = app.test_client().get(f"/api/v1/jobs/{job.id}/logs?stream=stdout", headers=headers).json
    assert log["data"] == "Hello from TOML\n"
