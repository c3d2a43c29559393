"""Reading job files, ordering parents first, and telling an unchanged job from an updated one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from horae.cli._client import EXIT_USAGE, CliError
from horae.cli._import import unmirror
from horae.cli._jobfiles import (
    document_over,
    documents_of,
    is_unchanged,
    parents_first,
    parse_text,
    read_job_files,
)
from horae.model import Job, applied_over, job_to_chronos


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


STORED = Job(
    name="j",
    command="true",
    schedule="R/2024-05-01T10:00:00.000Z/PT1H",
    success_count=4,
    error_count=1,
    last_success=datetime(2024, 5, 1, 11, tzinfo=UTC),
    last_error=datetime(2024, 5, 1, 10, tzinfo=UTC),
    errors_since_last_success=2,
    scheduled_through=datetime(2024, 5, 1, 11, tzinfo=UTC),
)


@pytest.mark.parametrize(
    "given",
    [
        Job(name="j", command="false", schedule="R//PT1H"),
        Job(name="j", command="true", schedule="R//PT2H"),
        Job(name="j", command="true", schedule="R5//PT1H"),
        Job(name="j", command="true", schedule="R/2024-06-01T00:00:00Z/PT1H", success_count=9),
        Job(name="j", command="true", schedule="*/5 * * * *"),
        Job(name="j", command="true", parents=("p",)),
    ],
)
def test_a_file_applies_over_a_stored_job_keeping_what_the_server_keeps(given: Job) -> None:
    # The one rule the server and `horae job apply` share: the file's definition, the stored counters.
    applied = applied_over(given, STORED)
    assert (applied.command, applied.parents) == (given.command, given.parents)
    kept = ("success_count", "error_count", "last_success", "last_error", "errors_since_last_success")
    assert [getattr(applied, k) for k in (*kept, "scheduled_through")] == [
        getattr(STORED, k) for k in (*kept, "scheduled_through")
    ]
    pinned = given.schedule == "R//PT1H"  # an empty start matches the stored, pinned one
    assert applied.schedule == (STORED.schedule if pinned else given.schedule)


def test_an_updated_document_keeps_the_stored_counters_and_pinned_start() -> None:
    stored = job_to_chronos(STORED)
    given = {"name": "j", "command": "echo new", "schedule": "R//PT1H", "owner": "me"}
    body = document_over(given, {**stored, "status": {"last": "success"}})
    kept = ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess", "schedule")
    assert {k: body[k] for k in kept} == {k: stored[k] for k in kept}
    assert {k: body[k] for k in given if k != "schedule"} == {
        k: v for k, v in given.items() if k != "schedule"
    }
    unreadable = {"name": "j", "retries": "many"}
    assert document_over(unreadable, stored) == unreadable  # the server names the field


def test_unknown_keys_are_usage_errors_naming_the_job_and_the_key() -> None:
    with pytest.raises(CliError) as e:
        documents_of([[{"name": "a", "command": "true"}, {"name": "b", "parnets": ["a"]}]], "jobs.yaml")
    assert e.value.exit_code == EXIT_USAGE
    assert e.value.message == (
        "jobs.yaml[1]: job 'b': parnets: 'parnets' is not a field of a job; did you mean 'parents'?"
    )
    known = {"name": "c", "epsilon": "PT1M", "async": True, "timeout": "PT1M", "status": {}}
    assert documents_of([known], "c.json")[0].doc == {k: v for k, v in known.items() if k != "status"}


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
