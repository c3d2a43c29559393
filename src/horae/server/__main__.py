"""`python -m horae.server [--data-dir DIR] [--port N] …`: run a server without the CLI package."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import fields
from pathlib import Path

from horae.server._serve import configure_logging, run
from horae.server._settings import Settings, SettingsError, load_settings

# Shorter spellings `horae serve` also accepts (Chronos's own flag names). Its FLAGS hold them too: the
# CLI cannot read them from here without loading the whole server package, so a test keeps both equal.
_ALIASES = {"mesos_framework_name": ("--framework-name",), "mesos_failover_timeout": ("--failover-timeout",)}


def parse_args(argv: list[str]) -> tuple[dict[str, object], Path | None]:
    """One `--kebab-case` flag per setting, taken as text (the settings' own parsers check it); the
    flags and what they mean are documented with `horae serve --help`."""
    parser = argparse.ArgumentParser(
        prog="python -m horae.server",
        description="Run a horae server (the flags of `horae serve`; see its --help).",
    )
    for setting in fields(Settings):
        flag = "--" + setting.name.replace("_", "-")
        if setting.name == "apply":
            parser.add_argument(
                flag, dest="apply", action="append", help="a job file or directory (repeatable)"
            )
        else:
            parser.add_argument(flag, *_ALIASES.get(setting.name, ()), dest=setting.name)
    parser.add_argument("--config", type=Path)
    args = vars(parser.parse_args(argv))
    config = args.pop("config")
    return args, config


def main(argv: list[str] | None = None) -> int:
    overrides, config = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings: Settings = load_settings(overrides, None, config)
    except SettingsError as e:
        print(f"horae: {e}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        asyncio.run(run(settings))
    except SettingsError as e:
        print(f"horae: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
