"""The data plane's cloud-config pieces: Jinja instance data, unit files, the dpkg check (pure)."""

from __future__ import annotations

from gateway_kit.localcloud.dataplane import cloudconfig, systemd


def test_jinja_user_data_gets_cloud_init_instance_data() -> None:
    server = {"id": "abc", "name": "web-1", "hostname": "web-1", "metadata": {"role": "web"}}
    text = "## template: jinja\n#cloud-config\nbind: {{ v1.local_ipv4 }}:8000 {{ v1.instance_id }} {{ v1.local_hostname }} {{ ds.meta_data.meta.role }} {{ v1.nope }}\n"
    out = cloudconfig.render(text, cloudconfig.instance_data(server, "127.100.0.7", "127.64.0.9"))
    assert out.splitlines()[0] == "#cloud-config"
    assert "bind: 127.100.0.7:8000 abc web-1 web CI_MISSING_JINJA_VAR/nope" in out
    assert (
        cloudconfig.render("#cloud-config\n{{ x }}\n", {}) == "#cloud-config\n{{ x }}\n"
    )  # no header: as is


def test_broken_template_names_the_problem() -> None:
    try:
        cloudconfig.render("## template: jinja\n{% if %}\n", {})
    except ValueError as exc:
        assert "not a valid Jinja template" in str(exc)
    else:
        raise AssertionError("a broken template must be refused")


def test_unit_file_parsing_follows_systemd() -> None:
    main = """[Unit]
Description=Portal web
[Service]
Type=simple
Environment="A=1 2" B=3
EnvironmentFile=-/etc/portal/env
WorkingDirectory=/srv/portal
ExecStartPre=/bin/mkdir -p /srv/portal/run
ExecStart=/usr/bin/python3 -m http.server \\
    --bind ${ADDR} $PORTS
Restart=on-failure
RestartSec=500ms
[Install]
WantedBy=multi-user.target
"""
    dropin = "[Service]\nExecStartPre=\nRestart=always\n"
    unit = systemd.parse_unit("web.service", [main, dropin])
    assert unit.description == "Portal web"
    assert unit.environment == ["A=1 2", "B=3"]
    assert unit.environment_files == ["-/etc/portal/env"]
    assert unit.exec_start_pre == []  # an empty value resets the list
    assert unit.restart == "always" and unit.restart_sec == 0.5
    assert unit.wanted_by == ["multi-user.target"]
    argv, ignore = systemd.command_argv(unit.exec_start[0], {"ADDR": "127.100.0.1", "PORTS": "8000 8001"})
    assert argv == ["/usr/bin/python3", "-m", "http.server", "--bind", "127.100.0.1", "8000", "8001"]
    assert not ignore
    assert systemd.command_argv("-/bin/false", {})[1] is True


def test_environment_files_and_paths_map_into_the_rootfs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert systemd.parse_env_file("# c\nexport A='x y'\nB=\"q\"\n;d\nC=3=4\n") == {
        "A": "x y",
        "B": "q",
        "C": "3=4",
    }
    (tmp_path / "opt/app").mkdir(parents=True)
    mapped = systemd.map_argv(
        tmp_path, ["/usr/bin/python3", "/opt/app/run.py", "--config=/opt/app/c.toml", "x"]
    )
    assert mapped == [
        "/usr/bin/python3",
        str(tmp_path / "opt/app/run.py"),
        f"--config={tmp_path}/opt/app/c.toml",
        "x",
    ]


def test_packages_the_host_lacks_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    status = tmp_path / "status"
    status.write_text(
        "Package: curl\nStatus: install ok installed\n\nPackage: nginx\nStatus: deinstall ok config-files\n"
    )
    config = {"packages": ["curl", "nginx", ["postgresql", "16"]]}
    assert cloudconfig.missing_packages(cloudconfig.package_names(config), status) == ["nginx", "postgresql"]
    assert cloudconfig.missing_packages(["curl"], tmp_path / "none") == ["curl"]
