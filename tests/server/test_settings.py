"""Settings: flags > environment > config file > defaults; bad values name the setting."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from horae.server import ENVIRONMENT, Settings, SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({}, {}, None)
    assert (s.host, s.port, s.runtime, s.history_keep) == ("127.0.0.1", 4400, "auto", 1000)
    assert s.data_dir == Path.home() / ".local/share/horae"
    assert s.store_url == f"sqlite:///{Path.home()}/.local/share/horae/horae.db"
    assert s.history_max_age == timedelta(days=30) and s.kill_grace == timedelta(seconds=10)
    assert (s.docker_socket, s.docker_mode) == (Path("/var/run/docker.sock"), "warm")
    assert s.container_dir == s.data_dir / "containers" != s.run_dir
    assert (s.mesos, s.mesos_role, s.mesos_principal, s.mesos_secret_value) == ("", "*", "", "")
    assert (s.mesos_framework_name, s.mesos_failover_timeout) == ("horae", timedelta(weeks=1))
    assert (s.mesos_executor, s.mesos_executor_uris) == (("horae", "executor"), ())


def test_flags_beat_environment_beat_config_file(tmp_path: Path) -> None:
    config = tmp_path / "horae.toml"
    config.write_text(
        'port = 5000\nhost = "0.0.0.0"\nhistory_keep = 7\napply = ["a.json", "b"]\nkill_grace = 3\n'
        'runtime = "Docker"\ndocker_mode = "FRESH"\n'
    )
    env = {"HORAE_PORT": "6000", "HORAE_HISTORY_MAX_AGE": "P2D", "HORAE_APPLY": f"x.yaml{os.pathsep}y"}
    s = load_settings({"port": 7000, "data_dir": str(tmp_path), "host": None}, env, config)
    assert s.port == 7000
    assert s.host == "0.0.0.0"
    assert s.history_keep == 7
    assert s.history_max_age == timedelta(days=2)
    assert s.apply == (Path("x.yaml"), Path("y"))
    assert s.kill_grace == timedelta(seconds=3)
    assert (s.runtime, s.docker_mode) == ("docker", "fresh")  # from the file, case-folded
    assert s.store_url == f"sqlite:///{tmp_path}/horae.db"
    # HORAE_CONFIG names the file when no config_file is given.
    assert load_settings({}, {"HORAE_CONFIG": str(config)}, None).port == 5000


@pytest.mark.parametrize(
    ("overrides", "env", "setting", "words"),
    [
        ({"port": "http"}, {}, "port", "integer"),
        ({}, {"HORAE_PORT": "70000"}, "port", "HORAE_PORT"),
        ({"runtime": "k8s"}, {}, "runtime", "auto, process, docker"),
        ({}, {"HORAE_DOCKER_MODE": "cold"}, "docker_mode", "warm, exec, fresh"),
        ({"docker_socket": "docker.sock"}, {}, "docker_socket", "absolute path"),
        ({}, {"HORAE_HISTORY_MAX_AGE": "thirty days"}, "history_max_age", "ISO 8601"),
        ({"history_keep": "0"}, {}, "history_keep", "at least 1"),
        ({"auth": "nopassword"}, {}, "auth", "user:password"),
        ({"store": "/var/lib/horae.db"}, {}, "store", "database URL"),
        ({"log_level": "loud"}, {}, "log_level", "debug"),
        ({"colour": "blue"}, {}, "colour", "unknown"),
        ({"mesos": "ftp://m1:5050"}, {}, "mesos", "http(s)://host:port"),
        ({}, {"HORAE_MESOS": " , "}, "mesos", "no master"),
        ({"mesos": "zk://z1:2181"}, {}, "mesos", "is not zk://host:port"),
        ({"mesos_role": " "}, {}, "mesos_role", "must not be empty"),
        ({"mesos_framework_name": ""}, {}, "mesos_framework_name", "must not be empty"),
        ({}, {"HORAE_MESOS_FAILOVER_TIMEOUT": "PT0S"}, "mesos_failover_timeout", "must be positive"),
        ({"mesos_failover_timeout": "a week"}, {}, "mesos_failover_timeout", "ISO 8601"),
        ({"mesos_executor": "  "}, {}, "mesos_executor", "must name a program"),
        ({"mesos_executor": "horae 'executor"}, {}, "mesos_executor", "not a command line"),
        ({"mesos_executor_uris": "horae.pyz"}, {}, "mesos_executor_uris", "neither a URI"),
        ({"mesos_secret_file": "/nonexistent/secret"}, {}, "mesos_secret_file", "cannot read"),
        ({"mesos_secret": "s3cret"}, {}, "mesos_secret", "needs mesos_principal"),
        ({"mesos": "http://m1:5050", "runtime": "docker"}, {}, "runtime", "contradicts 'mesos'"),
        ({"runtime": "process"}, {"HORAE_MESOS": "zk://z1:2181/mesos"}, "runtime", "contradicts 'mesos'"),
    ],
)
def test_bad_values_name_the_setting(
    overrides: dict[str, object], env: dict[str, str], setting: str, words: str
) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(overrides, env, None)
    assert e.value.setting == setting
    assert words in str(e.value)


def test_config_file_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, {}, bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1\n")
    with pytest.raises(SettingsError) as e:
        load_settings({}, {}, unknown)
    assert e.value.setting == "prot"
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({}, {}, tmp_path / "missing.toml")


def test_every_setting_has_an_environment_variable_and_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for name in Settings.__dataclass_fields__:
        assert ENVIRONMENT[name] == "HORAE_" + name.upper()
        for text in (ENVIRONMENT[name], f"`{name}`", "--" + name.replace("_", "-")):
            assert text in docs, f"{text} is not documented"


def test_mesos_settings_from_each_source(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    config = tmp_path / "horae.toml"
    config.write_text(
        'mesos = "zk://z1:2181,z2:2181/mesos"\nmesos_role = "cron"\nmesos_failover_timeout = 3600\n'
        'mesos_executor = ["python3", "horae.pyz", "executor"]\n'
        'mesos_executor_uris = ["https://files.example.com/horae.pyz"]\n'
        f'mesos_principal = "horae"\nmesos_secret_file = "{secret}"\n'
    )
    s = load_settings({}, {}, config)
    assert (s.mesos, s.mesos_role, s.mesos_failover_timeout) == (
        "zk://z1:2181,z2:2181/mesos",
        "cron",
        timedelta(hours=1),
    )
    assert s.mesos_executor == ("python3", "horae.pyz", "executor")
    assert s.mesos_executor_uris == ("https://files.example.com/horae.pyz",)
    assert (s.mesos_principal, s.mesos_secret_file, s.mesos_secret_value) == ("horae", secret, "s3cret")

    env = {"HORAE_MESOS": "http://m1:5050,m2:5050", "HORAE_MESOS_EXECUTOR": "python3 -m horae.cli executor"}
    flags = {"mesos_framework_name": "cron-prod", "mesos_failover_timeout": "P2D", "mesos_secret_file": ""}
    s = load_settings({**flags, "mesos_secret": "flag-secret"}, env, config)
    assert (s.mesos, s.mesos_framework_name) == ("http://m1:5050,m2:5050", "cron-prod")
    assert s.mesos_executor == ("python3", "-m", "horae.cli", "executor")
    assert s.mesos_failover_timeout == timedelta(days=2)
    assert (s.mesos_secret_file, s.mesos_secret_value) == (None, "flag-secret")  # an empty flag unsets it


def test_a_secret_comes_from_one_place(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    with pytest.raises(SettingsError) as e:
        load_settings({"mesos_principal": "horae", "mesos_secret": "x", "mesos_secret_file": str(secret)}, {})
    assert e.value.setting == "mesos_secret_file" and "not both" in str(e.value)
    secret.write_text("\n")
    with pytest.raises(SettingsError, match="is empty") as e:
        load_settings({"mesos_principal": "horae", "mesos_secret_file": str(secret)}, {})
    assert e.value.setting == "mesos_secret_file"
