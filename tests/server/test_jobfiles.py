"""Job files applied at start-up: JSON or YAML, one job or a list; a bad file names file and field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from horae.runtime import FakeRuntime
from horae.server import Host, JobFileError, Settings, read_job_file
from horae.store import MemoryStore

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_the_examples_are_valid_job_files() -> None:
    files = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml", ".yml"))
    assert files and any(p.suffix == ".json" for p in files) and any(p.suffix != ".json" for p in files)
    for path in files:
        assert read_job_file(path), path


def test_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"name": "ok", "command": "true", "schedule": "R/2030-01-01T00:00:00Z/PT1M"},
                {"name": "x", "command": "true", "schedule": "R//PT1M", "retries": "many"},
            ]
        )
    )
    with pytest.raises(JobFileError) as e:
        read_job_file(bad)
    assert e.value.path == bad and e.value.field == "[1].retries"
    assert str(e.value).startswith(f"{bad}: [1].retries: ")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(JobFileError, match="not valid YAML"):
        read_job_file(broken)


@pytest.fixture
async def host_applying(tmp_path: Path) -> AsyncIterator[Host]:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    # A child listed before its parent still applies; a bad schedule is reported, not fatal.
    (jobs / "a.yaml").write_text(
        "- {name: child, command: 'true', parents: [parent]}\n"
        "- {name: parent, command: 'true', schedule: 'R/2030-01-01T00:00:00Z/PT1H'}\n"
    )
    (jobs / "b.json").write_text(json.dumps({"name": "bad", "command": "true", "schedule": "every day"}))
    (jobs / "notes.txt").write_text("not a job file")
    host = Host(MemoryStore(), FakeRuntime(), settings=Settings(data_dir=tmp_path, apply=(jobs, EXAMPLES)))
    await host.start()
    yield host
    await host.stop()


async def test_start_up_applies_job_files_and_reports_bad_ones(host_applying: Host, tmp_path: Path) -> None:
    host = host_applying
    assert host.get_job("parent") is not None
    child = host.get_job("child")
    assert child is not None and child.parents == ("parent",)
    assert host.get_job("bad") is None
    assert len(host.apply_errors) == 1
    assert host.apply_errors[0].startswith(f"{tmp_path / 'jobs' / 'b.json'}: bad.schedule: ")
    for path in EXAMPLES.iterdir():
        if path.suffix in (".json", ".yaml"):
            for job in read_job_file(path):
                assert host.get_job(job.name) is not None
