"""Application definitions: validation at start-up names the application and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway_kit.errors import ConfigError
from gateway_kit.jobs.apps import Application, load_toml, render_argv
from gateway_kit.jobs.states import TRANSITIONS, JobState, check_transition, parse_state

from ..conftest import make_app
from .conftest import jobs_settings

GOOD: dict[str, Any] = {"id": "ok", "title": "OK", "version": "1", "command": ["/bin/true"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "Bad Id"}, "'id'"),
        ({"command": "echo {x}"}, "'command'"),
        ({"command": []}, "'command'"),
        ({"command": ["{msg}"], "inputs": [{"name": "msg", "type": "string"}]}, "'command[0]'"),
        ({"command": ["/bin/echo", "{nope}"]}, "'command[1]'"),
        (
            {
                "command": ["/bin/echo", {"if": "x", "args": ["-v"]}],
                "inputs": [{"name": "x", "type": "string"}],
            },
            "'command[1].if'",
        ),
        ({"command": ["/bin/echo", "{b}"], "inputs": [{"name": "b", "type": "boolean"}]}, "'command[1]'"),
        ({"inputs": [{"name": "x", "type": "colour"}]}, "'inputs.x.type'"),
        ({"inputs": [{"name": "x", "type": "string", "pattern": "("}]}, "'inputs.x.pattern'"),
        ({"inputs": [{"name": "x", "type": "integer", "minimum": 5, "maximum": 1}]}, "'inputs.x.minimum'"),
        (
            {"inputs": [{"name": "x", "type": "string", "min_length": 3, "max_length": 2}]},
            "'inputs.x.min_length'",
        ),
        ({"inputs": [{"name": "x", "type": "choice"}]}, "'inputs.x.choices'"),
        ({"inputs": [{"name": "x", "type": "integer", "default": "3"}]}, "'inputs.x.default'"),
        ({"inputs": [{"name": "x", "type": "integer", "maximum": 2, "default": 3}]}, "'inputs.x.default'"),
        ({"inputs": [{"name": "x", "type": "file", "default": "a"}]}, "'inputs.x.default'"),
        ({"inputs": [{"name": "x", "type": "string", "colour": 1}]}, "'inputs.x.colour'"),
        ({"inputs": [{"name": "x", "type": "string"}, {"name": "x", "type": "string"}]}, "'inputs'"),
        ({"inputs": [{"name": "cpus", "type": "integer"}]}, "'inputs'"),
        ({"resources": {"cpus": 0}}, "'resources.cpus'"),
        ({"resources": {"cpus": 4, "max_cpus": 2}}, "'resources.max_cpus'"),
        ({"resources": {"disks": 1}}, "'resources.disks'"),
        ({"outputs": ["../secrets"]}, "'outputs'"),
        ({"colour": "red"}, "'colour'"),
        ({"env": {"A": 1}}, "'env'"),
    ],
)
def test_bad_definitions_name_the_app_and_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        Application.from_mapping({**GOOD, **change})
    assert field in err.value.user_message
    if "id" not in change:
        assert "'ok'" in err.value.user_message


def test_a_missing_or_unparsable_application_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"JOBS_APPLICATION_FILES names .*nope.toml, which does not exist"):
        load_toml(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("id = \n")
    with pytest.raises(ConfigError, match=r"Application file .*bad.toml is not valid TOML"):
        load_toml(tmp_path / "bad.toml")


def test_bad_toml_application_stops_start_up_naming_file_app_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "broken"\nversion = "1"\ncommand = ["/bin/echo", "{missing}"]\n')
    with pytest.raises(ConfigError, match=r"'broken'.*bad.toml.*'command\[1\]'.*missing"):
        make_app(tmp_path, **{**jobs_settings(tmp_path), "JOBS_APPLICATION_FILES": [str(bad)]})


def test_unknown_destination_in_definition_stops_start_up(tmp_path: Path) -> None:
    f = tmp_path / "d.toml"
    f.write_text('id = "far"\nversion = "1"\ncommand = ["/bin/true"]\ndestinations = ["mars"]\n')
    with pytest.raises(ConfigError, match=r"'far'.*'destinations'.*mars"):
        make_app(tmp_path, **{**jobs_settings(tmp_path), "JOBS_APPLICATION_FILES": [str(f)]})


def test_unknown_executor_in_destinations_lists_installed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"destination 'hpc'.*unknown executor 'pbs'.*local"):
        make_app(tmp_path, JOBS_DESTINATIONS_MAP={"hpc": {"executor": "pbs"}})


def test_toml_loads_several_and_argv_renders_one_element_per_item(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text("""
[[application]]
id = "one"
version = "1"
command = ["/bin/echo", "--msg={msg}", {if = "v", args = ["-v", "{msg}"]}, "{{literal}}", "{cpus}"]
[[application.inputs]]
name = "msg"
type = "string"
[[application.inputs]]
name = "v"
type = "boolean"
required = false
[[application]]
id = "two"
version = "1"
command = ["/bin/true"]
""")
    one, two = load_toml(f)
    assert two.id == "two"
    res = {"cpus": 2, "memory_mb": 1, "gpus": 0, "walltime": 5}
    assert render_argv(one, {"msg": "a b; c", "v": True}, res) == [
        "/bin/echo",
        "--msg=a b; c",
        "-v",
        "a b; c",
        "{literal}",
        "2",
    ]
    assert render_argv(one, {"msg": "$(x)", "v": False}, res) == ["/bin/echo", "--msg=$(x)", "{literal}", "2"]


def test_transition_table() -> None:
    assert JobState.RUNNING in TRANSITIONS[JobState.SUBMITTED]
    for terminal in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELED, JobState.TIMED_OUT):
        assert TRANSITIONS[terminal] == frozenset() and terminal.terminal
    with pytest.raises(Exception, match="cannot move"):
        check_transition(JobState.COMPLETED, JobState.RUNNING)
    assert set(TRANSITIONS) == set(JobState)
    assert parse_state("WEIRD") is JobState.UNKNOWN
