from pathlib import Path

import pytest

from gateway_kit import create_app
from gateway_kit.errors import ConfigError
from gateway_kit.settings import DEV_SECRET_KEY, load_settings


def test_layers_override_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('gateway_name = "From File"\nlog_level = "DEBUG"\nplugins = ["a"]\n')
    env = {"GATEWAY_KIT_LOG_LEVEL": "WARNING", "GATEWAY_KIT_DB_POOL_SIZE": "7"}
    loaded = load_settings(tmp_path, {"DB_POOL_SIZE": 9}, environ=env)
    assert loaded.values["GATEWAY_NAME"] == "From File"
    assert loaded.sources["GATEWAY_NAME"] == f"file:{cfg}"
    assert loaded.values["LOG_LEVEL"] == "WARNING"
    assert loaded.sources["LOG_LEVEL"] == "env:GATEWAY_KIT_LOG_LEVEL"
    assert loaded.values["DB_POOL_SIZE"] == 9
    assert loaded.sources["DB_POOL_SIZE"] == "override"
    assert loaded.values["PLUGINS"] == ["a"]
    assert loaded.sources["ENV"] == "default"
    assert loaded.values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'gateway.db'}"


def test_config_path_from_environment(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('gateway_name = "Elsewhere"\n')
    loaded = load_settings(tmp_path, environ={"GATEWAY_KIT_CONFIG": str(other)})
    assert loaded.values["GATEWAY_NAME"] == "Elsewhere"


def test_env_lists_and_bools_parse(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path, environ={"GATEWAY_KIT_PLUGINS": "a.b, c"})
    assert loaded.values["PLUGINS"] == ["a.b", "c"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        (
            {"GATEWAY_KIT_DB_POOL_SIZE": "many"},
            "DB_POOL_SIZE has an invalid value 'many': expected an integer",
        ),
        ({"GATEWAY_KIT_DB_POOL_SIZE": "0"}, "expected a number greater than 0"),
        ({"GATEWAY_KIT_ENV": "prod"}, "expected one of 'development', 'production', 'testing'"),
        ({"GATEWAY_KIT_LOG_LEVL": "INFO"}, "Did you mean GATEWAY_KIT_LOG_LEVEL?"),
        ({"GATEWAY_KIT_CONFIG": "/nonexistent/gk.toml"}, "does not exist"),
    ],
)
def test_bad_values_name_the_key_and_what_is_valid(tmp_path: Path, env: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ=env)
    assert needle in info.value.user_message


def test_unknown_key_in_file(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text('gateway_nam = "x"\n')
    with pytest.raises(ConfigError, match=r"Unknown setting 'GATEWAY_NAM'.*Did you mean GATEWAY_NAME\?"):
        load_settings(tmp_path, environ={})


def test_malformed_toml(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text("gateway_name = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(tmp_path, environ={})


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, {"SECRET_KEY": 12345}, environ={})
    assert "12345" not in info.value.user_message
    assert "***" in info.value.user_message


def test_production_refuses_development_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY must be changed in production"):
        create_app({"ENV": "production"}, instance_path=str(tmp_path))
    with pytest.raises(ConfigError):
        create_app({"ENV": "production", "SECRET_KEY": "short"}, instance_path=str(tmp_path))
    app = create_app({"ENV": "production", "SECRET_KEY": "x" * 40}, instance_path=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SECRET_KEY"] != DEV_SECRET_KEY


def test_create_app_rejects_unknown_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown setting 'NOPE'"):
        create_app({"NOPE": 1}, instance_path=str(tmp_path))


def test_bad_plugin_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PLUGINS names module 'no_such_module_xyz'"):
        create_app({"PLUGINS": ["no_such_module_xyz"]}, instance_path=str(tmp_path))


def test_dict_settings_are_kept_whole_and_other_tables_flatten(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(
        '[identity.project_map]\n"astro-lab" = "demo"\n\n[jobs]\npoll_interval = 2.5\n'
    )
    loaded = load_settings(tmp_path, environ={})
    assert loaded.values["IDENTITY_PROJECT_MAP"] == {"astro-lab": "demo"}
    assert loaded.values["JOBS_POLL_INTERVAL"] == 2.5


def test_the_demo_lifeline_variable_is_not_a_setting(tmp_path: Path) -> None:
    # Every child of the demo (worker, session proxy) gets it; it must not stop their start-up.
    loaded = load_settings(tmp_path, environ={"GATEWAY_KIT_LIFELINE_FD": "5:1234"})
    assert "LIFELINE_FD" not in loaded.values
