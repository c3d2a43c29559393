"""`horae serve`: run the server in the foreground; `horae executor`: horae's Mesos executor, which a
Mesos agent starts."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from horae.cli._app import app
from horae.cli._client import EXIT_ERROR, EXIT_USAGE
from horae.cli._output import error, info


def settings_overrides(
    *,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    store: str | None,
    runtime: str | None,
    auth: str | None,
    token: str | None,
    apply: list[Path] | None,
    log_level: str | None,
    history_keep: int | None = None,
    history_max_age: str | None = None,
    kill_grace: str | None = None,
    docker_socket: Path | None = None,
    docker_mode: str | None = None,
    mesos: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The flags given, as `load_settings` overrides (keys as the config file's); absent flags are None."""
    return {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "store": store,
        "runtime": runtime,
        "auth": auth,
        "token": token,
        "apply": tuple(apply) if apply else None,
        "log_level": log_level,
        "history_keep": history_keep,
        "history_max_age": history_max_age,
        "kill_grace": kill_grace,
        "docker_socket": docker_socket,
        "docker_mode": docker_mode,
        **(mesos or {}),
    }


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (env var HORAE_HOST; default: 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", "-p", help="Port to listen on (env var HORAE_PORT; default: 4400).", show_default=False
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where horae keeps its database and run output "
            "(env var HORAE_DATA_DIR; default: ~/.local/share/horae).",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Database URL: sqlite:///path/horae.db or postgresql+psycopg://user:pass@host/db "
            "(env var HORAE_STORE; default: SQLite in the data directory).",
            show_default=False,
        ),
    ] = None,
    runtime: Annotated[
        str | None,
        typer.Option(
            "--runtime",
            help="Where runs execute: auto, process or docker (env var HORAE_RUNTIME; default: auto). "
            "Jobs with a container run in Docker with auto when the engine answers and always with "
            "docker (which refuses to start without an engine); the rest run as processes.",
            show_default=False,
        ),
    ] = None,
    docker_socket: Annotated[
        Path | None,
        typer.Option(
            "--docker-socket",
            help="The Docker engine's unix socket (env var HORAE_DOCKER_SOCKET; "
            "default: /var/run/docker.sock).",
            show_default=False,
        ),
    ] = None,
    docker_mode: Annotated[
        str | None,
        typer.Option(
            "--docker-mode",
            help="How a container job runs when its container names no mode: warm (a long-lived "
            "container per job), exec (docker exec per run) or fresh (a container per run) "
            "(env var HORAE_DOCKER_MODE; default: warm).",
            show_default=False,
        ),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            help="Require HTTP Basic credentials user:password (env var HORAE_AUTH).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Also accept this bearer token (env var HORAE_TOKEN).", show_default=False
        ),
    ] = None,
    apply: Annotated[
        list[Path] | None,
        typer.Option(
            "--apply",
            help="Job files or directories to apply at start (as `horae job apply`); repeat for several "
            "(env var HORAE_APPLY).",
            show_default=False,
        ),
    ] = None,
    history_keep: Annotated[
        int | None,
        typer.Option(
            "--history-keep",
            help="Finished runs kept per job (env var HORAE_HISTORY_KEEP; default: 1000).",
            show_default=False,
        ),
    ] = None,
    history_max_age: Annotated[
        str | None,
        typer.Option(
            "--history-max-age",
            help="Finished runs older than this ISO 8601 duration are pruned "
            "(env var HORAE_HISTORY_MAX_AGE; default: P30D).",
            show_default=False,
        ),
    ] = None,
    kill_grace: Annotated[
        str | None,
        typer.Option(
            "--kill-grace",
            help="Time between TERM and KILL when a run is killed, an ISO 8601 duration "
            "(env var HORAE_KILL_GRACE; default: PT10S).",
            show_default=False,
        ),
    ] = None,
    mesos: Annotated[
        str | None,
        typer.Option(
            "--mesos",
            help="Run every job as a task of a Mesos framework: the masters http://m1:5050[,m2:5050…] "
            "or zk://host:2181[,…]/mesos (env var HORAE_MESOS; default: none, runs stay on this host).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_role: Annotated[
        str | None,
        typer.Option(
            "--mesos-role",
            help="The framework's role (env var HORAE_MESOS_ROLE; default: *).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_principal: Annotated[
        str | None,
        typer.Option(
            "--mesos-principal",
            help="The framework's principal (env var HORAE_MESOS_PRINCIPAL).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_secret: Annotated[
        str | None,
        typer.Option(
            "--mesos-secret",
            help="The principal's secret, sent as HTTP Basic auth (env var HORAE_MESOS_SECRET; "
            "prefer --mesos-secret-file).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_secret_file: Annotated[
        Path | None,
        typer.Option(
            "--mesos-secret-file",
            help="A file holding the principal's secret (env var HORAE_MESOS_SECRET_FILE).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_framework_name: Annotated[
        str | None,
        typer.Option(
            "--mesos-framework-name",
            "--framework-name",
            help="The framework's name (env var HORAE_MESOS_FRAMEWORK_NAME; default: horae).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_failover_timeout: Annotated[
        str | None,
        typer.Option(
            "--mesos-failover-timeout",
            "--failover-timeout",
            help="How long Mesos keeps the framework's tasks while horae is away, an ISO 8601 duration "
            "(env var HORAE_MESOS_FAILOVER_TIMEOUT; default: P7D).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_executor: Annotated[
        str | None,
        typer.Option(
            "--mesos-executor",
            help="The command an agent runs to start horae's executor "
            "(env var HORAE_MESOS_EXECUTOR; default: horae executor).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    mesos_executor_uris: Annotated[
        str | None,
        typer.Option(
            "--mesos-executor-uris",
            help="URIs the agent fetches into the executor's sandbox first, separated by spaces, "
            "e.g. a horae zipapp (env var HORAE_MESOS_EXECUTOR_URIS).",
            show_default=False,
            rich_help_panel="Mesos",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="A TOML file of settings (the same names, e.g. port = 4400; env var HORAE_CONFIG).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="critical, error, warning, info or debug (env var HORAE_LOG_LEVEL; default: info).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the horae server in the foreground until interrupted.

    Settings come from these flags, then HORAE_* environment variables, then the --config file, then the
    defaults: SQLite under ~/.local/share/horae, local processes (and Docker for jobs with a container
    when the engine answers), on http://127.0.0.1:4400. With --mesos, every run is a Mesos task instead.
    """
    from horae import server  # the server and its dependencies load only for this command

    overrides = settings_overrides(
        host=host,
        port=port,
        data_dir=data_dir,
        store=store,
        runtime=runtime,
        auth=auth,
        token=token,
        apply=apply,
        log_level=log_level,
        history_keep=history_keep,
        history_max_age=history_max_age,
        kill_grace=kill_grace,
        docker_socket=docker_socket,
        docker_mode=docker_mode,
        mesos={
            "mesos": mesos,
            "mesos_role": mesos_role,
            "mesos_principal": mesos_principal,
            "mesos_secret": mesos_secret,
            "mesos_secret_file": mesos_secret_file,
            "mesos_framework_name": mesos_framework_name,
            "mesos_failover_timeout": mesos_failover_timeout,
            "mesos_executor": mesos_executor,
            "mesos_executor_uris": mesos_executor_uris,
        },
    )
    try:
        settings = server.load_settings(overrides, os.environ, config)
    except server.SettingsError as e:
        error(str(e))
        raise typer.Exit(EXIT_USAGE) from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(server.run(settings))
    except KeyboardInterrupt:
        info("horae stopped")
    except server.SettingsError as e:
        error(str(e))
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as e:
        error(f"horae serve failed: {e}")
        raise typer.Exit(EXIT_ERROR) from None


# What the agent sets for every executor it starts; without them this is not running under an agent.
_EXECUTOR_ENVIRONMENT = ("MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID")


@app.command("executor")
def executor_command() -> None:
    """horae's Mesos executor, started by a Mesos agent for `horae serve --mesos` (not run by hand).

    One runs per job per agent and starts each run of the job; the agent tells it where to connect through
    MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID and the other MESOS_* variables.
    """
    missing = [name for name in _EXECUTOR_ENVIRONMENT if not os.environ.get(name)]
    if missing:
        error(f"horae executor is started by a Mesos agent: {', '.join(missing)} not set")
        raise typer.Exit(EXIT_USAGE)
    from horae.mesos import executor

    raise typer.Exit(executor.main())
