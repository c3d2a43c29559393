"""`python -m horae.server` takes the same flags as `horae serve`, one per setting."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from horae.cli._serve import FLAGS
from horae.server.__main__ import _ALIASES, parse_args
from horae.server._settings import Settings


def test_every_flag_of_horae_serve_sets_its_setting() -> None:
    for flag in FLAGS:
        if flag.name == "config":
            continue
        value = "x"
        overrides, _ = parse_args(["--" + flag.name.replace("_", "-"), value])
        assert overrides[flag.name] == ([value] if flag.name == "apply" else value), flag.name
    assert {f.name for f in fields(Settings)} <= {flag.name for flag in FLAGS}


def test_the_long_aliases_are_those_of_horae_serve() -> None:
    # Kept twice: importing the settings from the CLI would load the whole server package with it.
    long = {flag.name: tuple(a for a in flag.aliases if a.startswith("--")) for flag in FLAGS}
    assert {name: aliases for name, aliases in long.items() if aliases} == _ALIASES


def test_aliases_repeats_and_the_config_file() -> None:
    overrides, config = parse_args(
        [
            "--framework-name",
            "f",
            "--failover-timeout",
            "PT1H",
            "--apply",
            "a",
            "--apply",
            "b",
            "--config",
            "c.toml",
        ]
    )
    assert (overrides["mesos_framework_name"], overrides["mesos_failover_timeout"]) == ("f", "PT1H")
    assert overrides["apply"] == ["a", "b"] and config == Path("c.toml")
