"""`python -m horae.server [--data-dir DIR] [--port N] …`: run a server without the CLI package."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from horae.server._serve import configure_logging, run
from horae.server._settings import Settings, SettingsError, load_settings


def parse_args(argv: list[str]) -> tuple[dict[str, object], Path | None]:
    parser = argparse.ArgumentParser(prog="python -m horae.server", description="Run a horae server.")
    parser.add_argument("--host")
    parser.add_argument("--port")
    parser.add_argument("--data-dir", dest="data_dir")
    parser.add_argument("--store")
    parser.add_argument("--runtime")
    parser.add_argument("--docker-socket", dest="docker_socket")
    parser.add_argument("--docker-mode", dest="docker_mode")
    parser.add_argument("--auth")
    parser.add_argument("--token")
    parser.add_argument("--apply", action="append", help="a job file or directory (repeatable)")
    parser.add_argument("--history-keep", dest="history_keep")
    parser.add_argument("--history-max-age", dest="history_max_age")
    parser.add_argument("--kill-grace", dest="kill_grace")
    parser.add_argument("--log-level", dest="log_level")
    parser.add_argument("--mesos", help="http://master:5050[,…] or zk://host:2181[,…]/mesos")
    parser.add_argument("--mesos-role", dest="mesos_role")
    parser.add_argument("--mesos-principal", dest="mesos_principal")
    parser.add_argument("--mesos-secret", dest="mesos_secret")
    parser.add_argument("--mesos-secret-file", dest="mesos_secret_file")
    parser.add_argument("--mesos-framework-name", "--framework-name", dest="mesos_framework_name")
    parser.add_argument("--mesos-failover-timeout", "--failover-timeout", dest="mesos_failover_timeout")
    parser.add_argument("--mesos-executor", dest="mesos_executor")
    parser.add_argument("--mesos-executor-uris", dest="mesos_executor_uris")
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
