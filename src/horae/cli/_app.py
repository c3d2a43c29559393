"""The `horae` command: the Typer application, the options every client command shares, error reporting."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import httpx
import typer

from horae.cli._client import DEFAULT_SERVER, EXIT_ERROR, Client, CliError
from horae.cli._output import error

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="horae",
    help="horae: a distributed cron for containers, compatible with Chronos's REST API.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
job_app = typer.Typer(
    help="Define and control jobs: apply, ls, get, rm, run, pause, resume, kill.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="markdown",
)
app.add_typer(job_app, name="job")

# Client options. The same flags are accepted before the command (`horae --server URL job ls`) and after it
# (`horae job ls --server URL`); the latter wins. The environment fills in what neither gives.
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        "-s",
        help=f"URL of the horae server (env var HORAE_SERVER; default: {DEFAULT_SERVER}).",
        show_default=False,
    ),
]
AuthOption = Annotated[
    str | None,
    typer.Option(
        "--auth",
        help="Credentials user:password for HTTP Basic auth (env var HORAE_AUTH).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", help="Bearer token, instead of --auth (env var HORAE_TOKEN).", show_default=False
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print machine-readable JSON (stable keys) instead of tables and messages."),
]


# The client options given before the command, set afresh by every invocation's root callback.
_before_command: dict[str, str | None] = {}


@app.callback()
def _root(server: ServerOption = None, auth: AuthOption = None, token: TokenOption = None) -> None:
    _before_command.clear()
    _before_command.update(server=server, auth=auth, token=token)


def client(server: str | None, auth: str | None, token: str | None) -> Client:
    """A client for the server named on the command line, before the command, or in the environment."""
    root = _before_command
    return Client(
        server or root.get("server") or os.environ.get("HORAE_SERVER") or DEFAULT_SERVER,
        auth=auth or root.get("auth") or os.environ.get("HORAE_AUTH") or None,
        token=token or root.get("token") or os.environ.get("HORAE_TOKEN") or None,
    )


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a failure as one line on stderr and exit non-zero, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as e:
            error(e.message)
            raise typer.Exit(e.exit_code) from None
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            error(f"unexpected answer from the server: {e}")
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def main() -> Any:
    """The console script `horae`."""
    return app(prog_name="horae")
