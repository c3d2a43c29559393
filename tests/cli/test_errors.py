"""Failures: no server, authentication, where the server and credentials come from, and help texts."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from horae.cli import app
from tests.cli.conftest import Horae, LiveServer


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CLIENT_COMMANDS = [
    ["job", "ls"],
    ["job", "get", "x"],
    ["job", "rm", "x"],
    ["job", "run", "x"],
    ["job", "pause", "x"],
    ["job", "resume", "x"],
    ["job", "kill", "x"],
    ["runs"],
    ["runs", "x"],
    ["logs", "x:1"],
    ["next", "x"],
    ["preview", "@daily"],
    ["job", "apply", "-f", "-"],
]


@pytest.mark.parametrize("args", CLIENT_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_no_server_is_exit_3_with_a_hint_and_no_traceback(args: list[str], as_json: bool) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    stdin = json.dumps({"name": "x", "command": "true", "schedule": "@daily"})
    result = CliRunner().invoke(app, [*args, "--server", url, *(["--json"] if as_json else [])], input=stdin)
    assert result.exit_code == 3
    assert result.stderr == f"error: no horae server at {url}: start one with `horae serve`\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_server_from_the_environment_or_before_the_command(live_server: LiveServer) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["job", "ls", "--json"], env={"HORAE_SERVER": live_server.url}).stdout == "[]\n"
    assert runner.invoke(app, ["--server", live_server.url, "job", "ls", "--json"]).stdout == "[]\n"
    # The flag after the command wins over the one before and over the environment.
    down = f"http://127.0.0.1:{unused_port()}"
    assert runner.invoke(app, ["--server", down, "job", "ls", "--server", live_server.url]).exit_code == 0
    assert runner.invoke(app, ["job", "ls"], env={"HORAE_SERVER": down}).exit_code == 3


def test_auth_and_token(servers: Callable[..., LiveServer]) -> None:
    server = servers(store="memory", runtime="fake", auth=("admin", "s3cret"), token="tok-123")
    horae = Horae(server.url)
    refused = horae("job", "ls")
    assert refused.exit_code == 1
    assert "--auth user:pass or --token" in refused.stderr
    assert horae("job", "ls", "--auth", "admin:wrong").exit_code == 1
    assert horae.ok("job", "ls", "--auth", "admin:s3cret", "--json").stdout == "[]\n"
    assert horae.ok("job", "ls", "--token", "tok-123", "--json").stdout == "[]\n"
    assert horae("job", "ls", "--json", env={"HORAE_AUTH": "admin:s3cret"}).exit_code == 0
    assert horae("job", "ls", "--json", env={"HORAE_TOKEN": "tok-123"}).exit_code == 0
    bad = horae("job", "ls", "--auth", "no-colon")
    assert bad.exit_code == 2 and "user:password" in bad.stderr


def test_every_command_and_flag_has_help() -> None:
    runner = CliRunner()
    commands = [
        [],
        ["job"],
        ["serve"],
        ["import-chronos"],
        *[c[:2] if c[0] == "job" else c[:1] for c in CLIENT_COMMANDS],
    ]
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, command
        assert "Usage: horae" in result.stdout
    # Every option of every command carries a help text.
    import typer.main

    group = typer.main.get_command(app)
    import click

    def walk(cmd: click.Command, path: str) -> None:
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"{path} {param.opts} has no help"
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")

    walk(group, "horae")
