"""The `horae` command: `serve` runs the server; the other commands talk to one over its native API."""

from horae.cli import _import, _jobs, _runs, _serve  # noqa: F401 - registers the commands
from horae.cli._app import app, main

__all__ = ["app", "main"]
