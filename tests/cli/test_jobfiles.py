"""Reading job files, ordering parents first, and telling an unchanged job from an updated one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from horae.cli._client import EXIT_USAGE, CliError
from horae.cli._import import unmirror
from horae.cli._jobfiles import documents_of, is_unchanged, parents_first, parse_text, read_job_files
from horae.model import Job, job_to_chronos


def names(jobs: list) -> list[str]:  # type: ignore[type-arg]
    return [j.name for j in jobs]


def test_json_yaml_lists_and_multi_document_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps([{"name": "a", "command": "true", "schedule": "R/2030-01-01T00:00:00Z/PT1H"}])
    )
    (tmp_path / "b.yaml").write_text(
        "name: b\ncommand: 'true'\nparents: [a]\n---\nname: c\ncommand: echo c\nschedule: '*/5 * * * *'\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    jobs = read_job_files([str(tmp_path)])
    assert names(jobs) == ["a", "b", "c"]
    assert [j.where for j in jobs] == [
        f"{tmp_path}/a.json[0]",
        f"{tmp_path}/b.yaml[0]",
        f"{tmp_path}/b.yaml[1]",
    ]
    assert jobs[1].parents == ["a"]


def test_a_single_job_object_has_no_index() -> None:
    (job,) = documents_of(
        parse_text('{"name": "x", "command": "true", "status": {"state": "idle"}}', "f.json"), "f.json"
    )
    assert job.where == "f.json"
    assert "status" not in job.doc  # read-only, never sent back


@pytest.mark.parametrize(
    ("text", "source", "message"),
    [
        ("{not json", "bad.json", "bad.json: not valid JSON"),
        ("a: [", "bad.yaml", "bad.yaml: not valid YAML or JSON"),
        ("- 3", "list.yaml", "list.yaml[0]: a job must be an object"),
        ("command: 'true'", "nameless.yaml", "nameless.yaml: field 'name': is required"),
    ],
)
def test_bad_files_are_usage_errors_naming_the_file(text: str, source: str, message: str) -> None:
    with pytest.raises(CliError) as e:
        documents_of(parse_text(text, source), source)
    assert e.value.message.startswith(message)
    assert e.value.exit_code == EXIT_USAGE


def test_missing_path_and_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="no such file"):
        read_job_files([str(tmp_path / "nope.json")])
    (tmp_path / "one.yaml").write_text("name: x\ncommand: 'true'\n")
    (tmp_path / "two.yaml").write_text("name: x\ncommand: 'false'\n")
    with pytest.raises(CliError, match="job 'x' is defined twice"):
        read_job_files([str(tmp_path)])


def test_parents_come_before_children_whatever_the_file_order() -> None:
    docs = documents_of(
        [
            [
                {"name": "grandchild", "parents": ["child"]},
                {"name": "child", "parents": ["root", "elsewhere"]},
                {"name": "root", "schedule": "R/2030-01-01T00:00:00Z/PT1H"},
                {"name": "loop1", "parents": ["loop2"]},
                {"name": "loop2", "parents": ["loop1"]},
            ]
        ],
        "f",
    )
    assert names(parents_first(docs)) == ["root", "child", "grandchild", "loop1", "loop2"]


def test_unchanged_ignores_counters_status_and_a_pinned_iso_start() -> None:
    stored = job_to_chronos(
        Job(
            name="j",
            command="true",
            schedule="R/2024-05-01T10:00:00.000Z/PT1H",
            success_count=4,
            error_count=1,
        )
    )
    stored["status"] = {"last": "success", "state": "idle", "nextDue": None}
    given = {"name": "j", "command": "true", "schedule": "R//PT1H"}
    assert is_unchanged(stored, given)
    assert not is_unchanged(stored, {**given, "command": "false"})
    assert not is_unchanged(stored, {**given, "schedule": "R//PT2H"})
    assert not is_unchanged(stored, {**given, "schedule": "R/2024-05-02T10:00:00.000Z/PT1H"})
    assert not is_unchanged(stored, {**given, "retries": "many"})  # unreadable here: let the server decide


def test_unmirror_drops_uris_that_only_repeat_fetch() -> None:
    fetch = [{"uri": "http://x/a.tgz", "executable": False, "cache": False, "extract": True}]
    assert "uris" not in unmirror({"name": "j", "fetch": fetch, "uris": ["http://x/a.tgz"]})
    kept = {"name": "j", "fetch": fetch, "uris": ["http://y/other"]}
    assert unmirror(kept) == kept


def test_runs_across_jobs_sort_by_instant_not_by_text() -> None:
    from horae.cli._runs import _scheduled_for

    runs = [{"scheduled_for": "2030-01-01T00:00:30Z"}, {"scheduled_for": "2030-01-01T00:00:30.020Z"}]
    newest = sorted(runs, key=_scheduled_for, reverse=True)
    assert newest[0]["scheduled_for"] == "2030-01-01T00:00:30.020Z"
