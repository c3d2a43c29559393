"""`horae serve`: settings errors before anything starts, and the real command serving the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from horae.cli import app
from horae.cli._serve import FLAGS, settings_overrides
from horae.server import ENVIRONMENT, load_settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "error: setting 'port': must be between 0 and 65535, got 99999 (from --port)"),
        (
            ["--runtime", "docker", "--docker-socket", "/nonexistent/docker.sock"],
            "error: setting 'runtime': no Docker engine answers at /nonexistent/docker.sock",
        ),
        (["--docker-mode", "cold"], "error: setting 'docker_mode': must be one of warm, exec, fresh"),
        (["--store", "horae.db"], "error: setting 'store': must be a database URL"),
        (["--log-level", "loud"], "error: setting 'log_level': must be one of"),
        (["--kill-grace", "ten seconds"], "error: setting 'kill_grace': must be an ISO 8601 duration"),
        # A ZooKeeper URL is parsed with the settings; ZooKeeper itself is asked only once serving.
        (["--mesos", "zk://nohost"], "error: setting 'mesos': 'zk://nohost' is not zk://host:port"),
        (
            ["--mesos", "http://127.0.0.1:1", "--runtime", "process"],
            "error: setting 'runtime': 'process' contradicts 'mesos'",
        ),
        (
            ["--mesos", "http://127.0.0.1:1", "--mesos-secret", "s3cret"],
            "error: setting 'mesos_secret': a secret needs mesos_principal",
        ),
        (
            ["--framework-name", " "],
            "error: setting 'mesos_framework_name': must not be empty (from --mesos-framework-name)",
        ),
        (["--failover-timeout", "PT0S"], "error: setting 'mesos_failover_timeout': must be positive"),
        (["--mesos-executor-uris", "horae.pyz"], "error: setting 'mesos_executor_uris': 'horae.pyz' is"),
    ],
)
def test_bad_settings_exit_2_before_anything_starts(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert not (tmp_path / "horae.db").exists()


def test_horae_executor_refuses_to_start_outside_a_mesos_agent() -> None:
    unset = {"MESOS_AGENT_ENDPOINT": None, "MESOS_FRAMEWORK_ID": None, "MESOS_EXECUTOR_ID": "horae.x.1"}
    result = CliRunner().invoke(app, ["executor"], env=unset)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: horae executor is started by a Mesos agent: MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID not set"
    )


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml" in result.stderr


def _serve_flags(*args: str) -> dict[str, Any]:
    """What `horae serve ARGS` parses its flags into, without starting anything."""
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command.commands["serve"].make_context("serve", list(args)).params


def test_every_setting_is_a_serve_flag_naming_its_environment_variable() -> None:
    by_name = {flag.name: flag for flag in FLAGS}
    assert set(by_name) == set(ENVIRONMENT) | {"config"}
    for name, variable in ENVIRONMENT.items():
        assert f"env var {variable}" in by_name[name].help, name
    assert set(_serve_flags()) == set(by_name)


def test_flags_map_onto_settings_over_the_environment(tmp_path: Path) -> None:
    flags = _serve_flags(
        *("--host", "0.0.0.0", "-p", "4500", "--data-dir", str(tmp_path), "--runtime", "process"),
        *("--auth", "a:b", "--apply", str(tmp_path / "jobs"), "--apply", str(tmp_path / "more.yaml")),
        *("--log-level", "debug", "--history-keep", "5", "--history-max-age", "P7D", "--kill-grace", "PT3S"),
        *("--docker-socket", str(tmp_path / "docker.sock"), "--docker-mode", "exec"),
    )
    overrides = settings_overrides(flags)
    assert overrides["store"] is None and overrides["token"] is None  # absent: the environment decides
    settings = load_settings(overrides, {"HORAE_PORT": "4600", "HORAE_TOKEN": "from-env"}, None)
    assert (settings.host, settings.port, settings.data_dir, settings.runtime) == (
        "0.0.0.0",
        4500,
        tmp_path,
        "process",
    )
    assert (settings.auth, settings.token, settings.log_level) == ("a:b", "from-env", "debug")
    assert (settings.docker_socket, settings.docker_mode) == (tmp_path / "docker.sock", "exec")
    assert settings.apply == (tmp_path / "jobs", tmp_path / "more.yaml")
    assert (settings.history_keep, settings.history_max_age, settings.kill_grace) == (
        5,
        timedelta(days=7),
        timedelta(seconds=3),
    )
    assert settings.store_url == f"sqlite:///{tmp_path / 'horae.db'}"
    # an --apply given no times leaves HORAE_APPLY in force
    assert settings_overrides(_serve_flags())["apply"] is None
    assert load_settings(settings_overrides(_serve_flags()), {"HORAE_APPLY": "x"}).apply == (Path("x"),)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_horae_serve_applies_files_and_answers_the_cli(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "hello.yaml").write_text(
        "name: hello\ncommand: echo hello\nschedule: R/2030-01-01T00:00:00Z/PT1H\n"
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-c",
        "from horae.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--apply",
        str(jobs),
        "--log-level",
        "warning",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORAE_")}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/ping").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "horae serve did not answer in 30s"
                time.sleep(0.1)
            listed = CliRunner().invoke(app, ["job", "ls", "--json", "--server", url])
            assert listed.exit_code == 0
            assert [j["name"] for j in json.loads(listed.stdout)] == ["hello"]
            assert (tmp_path / "data" / "horae.db").exists()
        finally:
            server.send_signal(signal.SIGTERM)
            _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Traceback" not in err
