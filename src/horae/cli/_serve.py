"""`horae serve`: run the server in the foreground; `horae executor`: horae's Mesos executor, which a
Mesos agent starts."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from horae.cli._app import app
from horae.cli._client import EXIT_ERROR, EXIT_USAGE
from horae.cli._output import error, info


@dataclass(frozen=True)
class _Flag:
    """An option of `horae serve`: the flag is `name` in kebab case after `--` and sets the setting `name`
    (but `config`, which names the config file); `type` is what Typer parses the text into, and the
    setting's own parser checks the rest."""

    name: str
    type: Any
    help: str
    aliases: tuple[str, ...] = ()
    panel: str | None = None

    def parameter(self) -> inspect.Parameter:
        option = typer.Option(
            "--" + self.name.replace("_", "-"),
            *self.aliases,
            help=self.help,
            show_default=False,
            rich_help_panel=self.panel,
        )
        return inspect.Parameter(
            self.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[self.type | None, option],
        )


_MESOS = "Mesos"
FLAGS = (
    _Flag("host", str, "Address to listen on (env var HORAE_HOST; default: 127.0.0.1)."),
    _Flag("port", int, "Port to listen on (env var HORAE_PORT; default: 4400).", ("-p",)),
    _Flag(
        "data_dir",
        Path,
        "Where horae keeps its database and run output "
        "(env var HORAE_DATA_DIR; default: ~/.local/share/horae).",
    ),
    _Flag(
        "store",
        str,
        "Database URL: sqlite:///path/horae.db or postgresql+psycopg://user:pass@host/db "
        "(env var HORAE_STORE; default: SQLite in the data directory).",
    ),
    _Flag(
        "runtime",
        str,
        "Where runs execute: auto, process or docker (env var HORAE_RUNTIME; default: auto). "
        "Jobs with a container run in Docker with auto when the engine answers and always with "
        "docker (which refuses to start without an engine); the rest run as processes.",
    ),
    _Flag(
        "docker_socket",
        Path,
        "The Docker engine's unix socket (env var HORAE_DOCKER_SOCKET; default: /var/run/docker.sock).",
    ),
    _Flag(
        "docker_mode",
        str,
        "How a container job runs when its container names no mode: warm (a long-lived "
        "container per job), exec (docker exec per run) or fresh (a container per run) "
        "(env var HORAE_DOCKER_MODE; default: warm).",
    ),
    _Flag("auth", str, "Require HTTP Basic credentials user:password (env var HORAE_AUTH)."),
    _Flag("token", str, "Also accept this bearer token (env var HORAE_TOKEN)."),
    _Flag(
        "apply",
        list[Path],
        "Job files or directories to apply at start (as `horae job apply`); repeat for several "
        "(env var HORAE_APPLY).",
    ),
    _Flag("history_keep", int, "Finished runs kept per job (env var HORAE_HISTORY_KEEP; default: 1000)."),
    _Flag(
        "history_max_age",
        str,
        "Finished runs older than this ISO 8601 duration are pruned "
        "(env var HORAE_HISTORY_MAX_AGE; default: P30D).",
    ),
    _Flag(
        "kill_grace",
        str,
        "Time between TERM and KILL when a run is killed, an ISO 8601 duration "
        "(env var HORAE_KILL_GRACE; default: PT10S).",
    ),
    _Flag(
        "mesos",
        str,
        "Run every job as a task of a Mesos framework: the masters http://m1:5050[,m2:5050…] "
        "or zk://host:2181[,…]/mesos (env var HORAE_MESOS; default: none, runs stay on this host).",
        panel=_MESOS,
    ),
    _Flag("mesos_role", str, "The framework's role (env var HORAE_MESOS_ROLE; default: *).", panel=_MESOS),
    _Flag("mesos_principal", str, "The framework's principal (env var HORAE_MESOS_PRINCIPAL).", panel=_MESOS),
    _Flag(
        "mesos_secret",
        str,
        "The principal's secret, sent as HTTP Basic auth (env var HORAE_MESOS_SECRET; "
        "prefer --mesos-secret-file).",
        panel=_MESOS,
    ),
    _Flag(
        "mesos_secret_file",
        Path,
        "A file holding the principal's secret (env var HORAE_MESOS_SECRET_FILE).",
        panel=_MESOS,
    ),
    _Flag(
        "mesos_framework_name",
        str,
        "The framework's name (env var HORAE_MESOS_FRAMEWORK_NAME; default: horae).",
        ("--framework-name",),
        _MESOS,
    ),
    _Flag(
        "mesos_failover_timeout",
        str,
        "How long Mesos keeps the framework's tasks while horae is away, an ISO 8601 duration "
        "(env var HORAE_MESOS_FAILOVER_TIMEOUT; default: P7D).",
        ("--failover-timeout",),
        _MESOS,
    ),
    _Flag(
        "mesos_executor",
        str,
        "The command an agent runs to start horae's executor "
        "(env var HORAE_MESOS_EXECUTOR; default: horae executor).",
        panel=_MESOS,
    ),
    _Flag(
        "mesos_executor_uris",
        str,
        "URIs the agent fetches into the executor's sandbox first, separated by spaces, "
        "e.g. a horae zipapp (env var HORAE_MESOS_EXECUTOR_URIS).",
        panel=_MESOS,
    ),
    _Flag(
        "config",
        Path,
        "A TOML file of settings (the same names, e.g. port = 4400; env var HORAE_CONFIG).",
        ("-c",),
    ),
    _Flag(
        "log_level",
        str,
        "critical, error, warning, info or debug (env var HORAE_LOG_LEVEL; default: info).",
    ),
)


def settings_overrides(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The flags given, as `load_settings` overrides (keys as the config file's); absent flags are None, and
    so is a repeatable flag given no times."""
    return {name: (tuple(v) or None) if isinstance(v, list | tuple) else v for name, v in flags.items()}


def serve_command(config: Path | None, **flags: Any) -> None:
    """Run the horae server in the foreground until interrupted.

    Settings come from these flags, then HORAE_* environment variables, then the --config file, then the
    defaults: SQLite under ~/.local/share/horae, local processes (and Docker for jobs with a container
    when the engine answers), on http://127.0.0.1:4400. With --mesos, every run is a Mesos task instead.
    """
    from horae import server  # the server and its dependencies load only for this command

    overrides = settings_overrides(flags)
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


# Typer reads the options from the signature: one keyword parameter a flag, in the table's order.
serve_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [flag.parameter() for flag in FLAGS]
)
app.command("serve")(serve_command)


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
