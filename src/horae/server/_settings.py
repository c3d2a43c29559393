"""The server's settings: flags > environment (`HORAE_*`) > config file (TOML) > defaults.

Every bad value is a `SettingsError` naming the setting and what is wrong with it, raised before anything
starts, so a typo in a unit file fails loudly instead of running with a default.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from horae.model import parse_duration

RUNTIMES = ("auto", "process", "docker")
DOCKER_MODES = ("warm", "exec", "fresh")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "horae"


class SettingsError(ValueError):
    """A setting has a bad value; `setting` is its config-file key."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting!r}: {problem}")
        self.setting = setting
        self.problem = problem


def _as_str(setting: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingsError(setting, f"must be a string, got {value!r}")
    return value


def _as_int(setting: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise SettingsError(setting, f"must be an integer, got {value!r}") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise SettingsError(setting, f"must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(setting, f"must be {bounds}, got {value}")
    return value


def _as_duration(setting: str, value: Any) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        try:
            result = parse_duration(value.strip())
        except ValueError as e:
            raise SettingsError(
                setting, f"must be an ISO 8601 duration such as PT10S or P30D ({e})"
            ) from None
    else:
        raise SettingsError(setting, f"must be an ISO 8601 duration such as PT10S, got {value!r}")
    if result < timedelta(0):
        raise SettingsError(setting, "must not be negative")
    return result


def _as_paths(setting: str, value: Any) -> tuple[Path, ...]:
    if isinstance(value, str):
        parts = [p for p in value.split(os.pathsep) if p]
    elif isinstance(value, Path):
        parts = [str(value)]
    elif isinstance(value, list | tuple):
        parts = []
        for item in value:
            if not isinstance(item, str | Path):
                raise SettingsError(setting, f"must be a list of paths, got {item!r} in it")
            parts.append(str(item))
    else:
        raise SettingsError(setting, f"must be a path or a list of paths, got {value!r}")
    return tuple(Path(p).expanduser() for p in parts)


def _int(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    def convert(s: str, v: Any) -> int:
        return _as_int(s, v, minimum, maximum)

    return convert


def _nonempty(s: str, v: Any) -> str:
    text = _as_str(s, v).strip()
    if not text:
        raise SettingsError(s, "must not be empty")
    return text


def _path(s: str, v: Any) -> Path:
    if isinstance(v, Path):
        return v.expanduser()
    text = _as_str(s, v)
    if not text:
        raise SettingsError(s, "must not be empty")
    return Path(text).expanduser()


def _store(s: str, v: Any) -> str:
    text = _as_str(s, v).strip()
    if text and "://" not in text:
        raise SettingsError(
            s, f"must be a database URL (sqlite:///path or postgresql+psycopg://…), got {text!r}"
        )
    return text


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def convert(s: str, v: Any) -> str:
        text = _as_str(s, v).strip().lower()
        if text not in choices:
            raise SettingsError(s, f"must be one of {', '.join(choices)}, got {v!r}")
        return text

    return convert


def _auth(s: str, v: Any) -> str:
    text = _as_str(s, v)
    if text and ":" not in text:
        raise SettingsError(s, "must be 'user:password'")
    return text


def _socket(s: str, v: Any) -> Path:
    path = _path(s, v)
    if not path.is_absolute():
        raise SettingsError(s, f"must be an absolute path to the Docker engine's unix socket, got {str(v)!r}")
    return path


def _mesos(s: str, v: Any) -> str:
    text = _as_str(s, v).strip()
    if not text:
        return text
    if text.startswith("zk://"):
        from horae.mesos._zookeeper import ZooKeeperUrl  # parses only: ZooKeeper is asked at subscription

        try:
            ZooKeeperUrl.parse(text)
        except ValueError as e:
            raise SettingsError(s, str(e)) from None
        return text
    from horae.mesos import MesosSettingsError, parse_masters

    try:
        parse_masters(text)
    except MesosSettingsError as e:
        raise SettingsError(
            s, f"{e.message} (give http://host:5050[,host:5050…] or zk://host:2181/mesos)"
        ) from None
    return text


def _positive_duration(s: str, v: Any) -> timedelta:
    result = _as_duration(s, v)
    if result <= timedelta(0):
        raise SettingsError(
            s, "must be positive: with zero, Mesos kills every task the moment horae disconnects"
        )
    return result


def _secret_file(s: str, v: Any) -> Path | None:
    if isinstance(v, str) and not v:
        return None
    path = _path(s, v)
    try:
        secret = path.read_text().strip()
    except OSError as e:
        raise SettingsError(s, f"cannot read {path}: {e.strerror or e}") from None
    if not secret:
        raise SettingsError(s, f"{path} is empty")
    return path


def _command(s: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        try:
            words = shlex.split(v)
        except ValueError as e:
            raise SettingsError(s, f"is not a command line: {e}") from None
    elif isinstance(v, list | tuple) and all(isinstance(w, str) for w in v):
        words = list(v)
    else:
        raise SettingsError(s, f"must be a command line or a list of words, got {v!r}")
    if not words or not all(words):
        raise SettingsError(s, "must name a program (e.g. 'horae executor')")
    return tuple(words)


def _uris(s: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        uris = v.split()
    elif isinstance(v, list | tuple) and all(isinstance(u, str) for u in v):
        uris = [u.strip() for u in v if u.strip()]
    else:
        raise SettingsError(s, f"must be URIs separated by spaces, or a list of them, got {v!r}")
    for uri in uris:
        if "://" not in uri and not uri.startswith("/"):
            raise SettingsError(s, f"{uri!r} is neither a URI nor an absolute path the agent can fetch")
    return tuple(uris)


_PARSE = "parse"  # the key of a setting's parser in its field's metadata


def _parser(parse: Callable[[str, Any], Any]) -> dict[str, Any]:
    """A `Settings` field's metadata: `parse` turns a flag's or an environment variable's text, or a
    config-file value, into the setting's value, or raises `SettingsError`."""
    return {_PARSE: parse}


@dataclass(frozen=True, slots=True)
class Settings:
    """One field a setting, with its default and its parser: the flag is the name in kebab case after `--`,
    the environment variable `HORAE_` and the name in upper case, the config-file key the name itself."""

    host: str = field(default="127.0.0.1", metadata=_parser(_nonempty))
    port: int = field(default=4400, metadata=_parser(_int(0, 65535)))
    data_dir: Path = field(default_factory=_default_data_dir, metadata=_parser(_path))
    # empty: sqlite:///<data_dir>/horae.db
    store: str = field(default="", metadata=_parser(_store))
    runtime: str = field(default="auto", metadata=_parser(_choice(RUNTIMES)))
    docker_socket: Path = field(default=Path("/var/run/docker.sock"), metadata=_parser(_socket))
    # for containers whose job names no mode
    docker_mode: str = field(default="warm", metadata=_parser(_choice(DOCKER_MODES)))
    # "user:pass" for HTTP Basic (Chronos's --http_credentials)
    auth: str = field(default="", metadata=_parser(_auth))
    # bearer token for the native API
    token: str = field(default="", metadata=_parser(_as_str))
    apply: tuple[Path, ...] = field(default=(), metadata=_parser(_as_paths))
    history_keep: int = field(default=1000, metadata=_parser(_int(1)))
    history_max_age: timedelta = field(default=timedelta(days=30), metadata=_parser(_as_duration))
    kill_grace: timedelta = field(default=timedelta(seconds=10), metadata=_parser(_as_duration))
    log_level: str = field(default="info", metadata=_parser(_choice(LOG_LEVELS)))
    # empty: no Mesos; else http://m1:5050[,m2:5050…] or zk://host:2181[,…]/mesos
    mesos: str = field(default="", metadata=_parser(_mesos))
    mesos_role: str = field(default="*", metadata=_parser(_nonempty))
    mesos_principal: str = field(default="", metadata=_parser(_as_str))
    mesos_secret: str = field(default="", metadata=_parser(_as_str))
    # the secret read from a file, kept out of argv and env
    mesos_secret_file: Path | None = field(default=None, metadata=_parser(_secret_file))
    mesos_framework_name: str = field(default="horae", metadata=_parser(_nonempty))
    mesos_failover_timeout: timedelta = field(
        default=timedelta(weeks=1), metadata=_parser(_positive_duration)
    )
    # how an agent starts horae's executor
    mesos_executor: tuple[str, ...] = field(default=("horae", "executor"), metadata=_parser(_command))
    # fetched into the executor's sandbox first (a zipapp)
    mesos_executor_uris: tuple[str, ...] = field(default=(), metadata=_parser(_uris))

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.data_dir / 'horae.db'}"

    @property
    def run_dir(self) -> Path:
        """Where the process runtime keeps each run's files (pid, exit status, output)."""
        return self.data_dir / "runs"

    @property
    def mesos_secret_value(self) -> str:
        """The framework's secret, from `mesos_secret` or the file named by `mesos_secret_file`."""
        if self.mesos_secret_file is not None:
            return self.mesos_secret_file.read_text().strip()
        return self.mesos_secret

    @property
    def container_dir(self) -> Path:
        """Where the Docker runtime keeps each job's launcher channel and each run's files (mounted into
        the job's container); apart from `run_dir`, so a restart knows which runtime an attempt belongs to."""
        return self.data_dir / "containers"


_PARSERS: dict[str, Callable[[str, Any], Any]] = {f.name: f.metadata[_PARSE] for f in fields(Settings)}
ENVIRONMENT = {name: "HORAE_" + name.upper() for name in _PARSERS}
CONFIG_ENV = "HORAE_CONFIG"


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except OSError as e:
        raise SettingsError("config", f"cannot read {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError("config", f"{path} is not valid TOML: {e}") from None
    unknown = sorted(set(document) - set(_PARSERS))
    if unknown:
        raise SettingsError(unknown[0], f"unknown setting in {path} (known: {', '.join(sorted(_PARSERS))})")
    return document


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Settings from flags (`overrides`, keys as the config file's; None values are ignored), the
    environment, the config file (`config_file`, else `$HORAE_CONFIG`), then the defaults."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    unknown = sorted(set(overrides) - set(_PARSERS))
    if unknown:
        raise SettingsError(unknown[0], "unknown setting")
    if config_file is None and environ.get(CONFIG_ENV):
        config_file = Path(environ[CONFIG_ENV]).expanduser()
    layers: list[tuple[Mapping[str, Any], Callable[[str], str]]] = []  # (values, where a value came from)
    if config_file is not None:
        layers.append((_read_config(config_file), lambda key: f"{key} in {config_file}"))
    layers.append(
        ({k: environ[env] for k, env in ENVIRONMENT.items() if env in environ}, lambda key: ENVIRONMENT[key])
    )
    layers.append((overrides, lambda key: "--" + key.replace("_", "-")))
    values: dict[str, Any] = {}
    for layer, source in layers:
        for key, raw in layer.items():
            try:
                values[key] = _PARSERS[key](key, raw)
            except SettingsError as e:
                raise SettingsError(key, f"{e.problem} (from {source(key)})") from None
    return _consistent(replace(Settings(), **values))


def _consistent(settings: Settings) -> Settings:
    """Refuse settings that are each fine but contradict one another."""
    if settings.mesos and settings.runtime != "auto":
        raise SettingsError(
            "runtime",
            f"{settings.runtime!r} contradicts 'mesos': with a Mesos master every run is a Mesos task "
            "(jobs with a container run in it on the agent); leave runtime at auto, or drop mesos",
        )
    if settings.mesos_secret and settings.mesos_secret_file is not None:
        raise SettingsError("mesos_secret_file", "give either mesos_secret or mesos_secret_file, not both")
    if (settings.mesos_secret or settings.mesos_secret_file) and not settings.mesos_principal:
        raise SettingsError("mesos_secret", "a secret needs mesos_principal, the name it authenticates")
    return settings
