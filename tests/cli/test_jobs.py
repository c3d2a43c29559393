"""`horae job …` against a real server (SQLite store, process runtime), in human and --json modes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from horae.cli import _jobs
from tests.cli.conftest import Horae, LiveServer

HOURLY = "R/2030-01-01T00:00:00Z/PT1H"


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_apply_reports_created_updated_unchanged(horae: Horae, tmp_path: Path) -> None:
    path = write(
        tmp_path / "jobs.yaml",
        f"- name: parent\n  command: 'true'\n  schedule: '{HOURLY}'\n"
        "- name: child\n  command: 'true'\n  parents: [parent]\n",
    )
    first = horae.ok("job", "apply", "-f", path)
    assert first.stdout.split() == ["created", "parent", "created", "child"]

    again = horae.ok("job", "apply", "-f", path, "--json")
    assert json.loads(again.stdout) == {
        "dry_run": False,
        "jobs": [
            {"name": "parent", "source": f"{path}[0]", "result": "unchanged"},
            {"name": "child", "source": f"{path}[1]", "result": "unchanged"},
        ],
    }

    write(tmp_path / "jobs.yaml", f"- name: parent\n  command: 'echo changed'\n  schedule: '{HOURLY}'\n")
    changed = horae.ok("job", "apply", "-f", path)
    assert changed.stdout.split() == ["updated", "parent"]
    assert json.loads(horae.ok("job", "get", "parent", "--json").stdout)["command"] == "echo changed"


def test_apply_puts_parents_first_across_files_and_reads_stdin(horae: Horae, tmp_path: Path) -> None:
    # "a-child.json" sorts before "b-parent.json": the child must still be applied after its parent.
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write(jobs / "a-child.json", json.dumps({"name": "child", "command": "true", "parents": ["parent"]}))
    write(jobs / "b-parent.json", json.dumps({"name": "parent", "command": "true", "schedule": HOURLY}))
    result = horae.ok("job", "apply", "-f", str(jobs), "--json")
    assert [(j["name"], j["result"]) for j in json.loads(result.stdout)["jobs"]] == [
        ("parent", "created"),
        ("child", "created"),
    ]

    chronos_job = json.dumps({"name": "from-stdin", "command": "true", "schedule": "*/5 * * * *"})
    piped = horae.ok("job", "apply", "-f", "-", input=chronos_job)
    assert piped.stdout.split() == ["created", "from-stdin"]


def test_an_iso_schedule_without_start_stays_unchanged_after_the_server_pins_it(
    horae: Horae, tmp_path: Path
) -> None:
    path = write(tmp_path / "j.yaml", "name: pinned\ncommand: 'true'\nschedule: R//PT1H\n")
    assert horae.ok("job", "apply", "-f", path).stdout.split() == ["created", "pinned"]
    stored = json.loads(horae.ok("job", "get", "pinned", "--json").stdout)["schedule"]
    assert stored.startswith("R/") and stored.endswith("/PT1H") and stored != "R//PT1H"
    assert horae.ok("job", "apply", "-f", path).stdout.split() == ["unchanged", "pinned"]
    assert json.loads(horae.ok("job", "get", "pinned", "--json").stdout)["schedule"] == stored


def test_apply_keeps_the_counters_and_the_pinned_start_of_an_updated_job(
    horae: Horae, live_server: LiveServer, tmp_path: Path
) -> None:
    path = write(tmp_path / "j.yaml", "name: counted\ncommand: 'true'\nschedule: R//PT1H\n")
    horae.ok("job", "apply", "-f", path)
    first = httpx.get(f"{live_server.url}/api/v1/jobs/counted/runs").json()["runs"][
        0
    ]  # the pinned start: now
    live_server.wait_for_run(first["id"], "succeeded")
    for _ in range(2):
        assert httpx.post(f"{live_server.url}/api/v1/jobs/counted/success").status_code == 204
    before = json.loads(horae.ok("job", "get", "counted", "--json").stdout)
    assert before["successCount"] == 3 and before["lastSuccess"]

    write(tmp_path / "j.yaml", "name: counted\ncommand: 'echo changed'\nschedule: R//PT1H\n")
    assert horae.ok("job", "apply", "-f", path).stdout.split() == ["updated", "counted"]
    after = json.loads(horae.ok("job", "get", "counted", "--json").stdout)
    assert after["command"] == "echo changed"
    kept = ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess", "schedule")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}


def test_apply_refuses_unknown_keys_before_anything_is_sent(horae: Horae, tmp_path: Path) -> None:
    path = write(
        tmp_path / "typo.yaml",
        f"- name: fine\n  command: 'true'\n  schedule: '{HOURLY}'\n"
        f"- name: typo\n  comand: 'true'\n  schedule: '{HOURLY}'\n",
    )
    for args in ((), ("--dry-run",)):
        result = horae("job", "apply", "-f", path, *args)
        assert result.exit_code == 2
        assert f"{path}[1]: job 'typo': comand: 'comand' is not a field of a job" in result.stderr
        assert "did you mean 'command'?" in result.stderr
    assert horae("job", "get", "fine").exit_code == 4
    # legacy keys the server reads, and the status a fetched job carries, are fine
    legacy = write(
        tmp_path / "legacy.json",
        json.dumps({"name": "old", "command": "true", "schedule": HOURLY, "epsilon": "PT1M", "async": False}),
    )
    assert horae.ok("job", "apply", "-f", legacy).stdout.split() == ["created", "old"]


def test_apply_dry_run_changes_nothing(horae: Horae, tmp_path: Path) -> None:
    path = write(tmp_path / "j.json", json.dumps({"name": "dry", "command": "true", "schedule": HOURLY}))
    result = horae.ok("job", "apply", "-f", path, "--dry-run")
    assert "would be created" in result.stdout
    assert horae("job", "get", "dry").exit_code == 4


def test_apply_stops_at_a_refused_job_naming_file_job_and_field(horae: Horae, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml",
        f"- name: good\n  command: 'true'\n  schedule: '{HOURLY}'\n"
        "- name: bad\n  command: 'true'\n  schedule: 'every tuesday'\n"
        f"- name: never\n  command: 'true'\n  schedule: '{HOURLY}'\n",
    )
    result = horae("job", "apply", "-f", path)
    assert result.exit_code == 1
    assert "created  good" in result.stdout
    assert f"error: {path}[1]: job 'bad':" in result.stderr
    assert "schedule" in result.stderr
    assert "Traceback" not in result.output
    assert horae("job", "get", "never").exit_code == 4  # stopped there

    as_json = horae("job", "apply", "-f", path, "--json")
    assert as_json.exit_code == 1
    out = json.loads(as_json.stdout)
    assert out["jobs"] == [{"name": "good", "source": f"{path}[0]", "result": "unchanged"}]
    assert out["error"].startswith(f"{path}[1]: job 'bad': ")


def test_apply_unknown_parent_and_bad_time_zone_name_the_field(horae: Horae, tmp_path: Path) -> None:
    orphan = write(
        tmp_path / "orphan.json", json.dumps({"name": "orphan", "command": "true", "parents": ["ghost"]})
    )
    result = horae("job", "apply", "-f", orphan)
    assert result.exit_code == 1
    assert "job 'orphan'" in result.stderr and "parents" in result.stderr and "ghost" in result.stderr

    zone = write(
        tmp_path / "zone.json",
        json.dumps(
            {"name": "zoned", "command": "true", "schedule": "0 2 * * *", "scheduleTimeZone": "Mars/Olympus"}
        ),
    )
    result = horae("job", "apply", "-f", zone)
    assert result.exit_code == 1
    assert "scheduleTimeZone" in result.stderr and "Mars/Olympus" in result.stderr


def test_bad_files_fail_before_anything_is_sent(horae: Horae, tmp_path: Path) -> None:
    assert horae("job", "apply", "-f", str(tmp_path / "missing.yaml")).exit_code == 2
    broken = write(tmp_path / "broken.json", "{")
    result = horae("job", "apply", "-f", broken)
    assert result.exit_code == 2
    assert "broken.json: not valid JSON" in result.stderr


def test_ls_in_both_modes_follows_the_cursor(
    horae: Horae, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [{"name": f"job-{i}", "command": "true", "schedule": HOURLY} for i in range(5)]
    jobs.append({"name": "other", "command": "true", "parents": ["job-0"]})
    horae.ok("job", "apply", "-f", write(tmp_path / "jobs.json", json.dumps(jobs)))
    monkeypatch.setattr(_jobs, "PAGE_SIZE", 2)  # six jobs: three pages

    listed = json.loads(horae.ok("job", "ls", "--json").stdout)
    assert [j["name"] for j in listed] == ["job-0", "job-1", "job-2", "job-3", "job-4", "other"]
    assert set(listed[0]["status"]) == {"last", "state", "nextDue"}

    table = horae.ok("job", "ls").stdout
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "SCHEDULE", "LAST", "STATE", "NEXT", "DUE", "(UTC)"]
    assert lines[1].split() == ["job-0", HOURLY, "fresh", "idle", "2030-01-01", "00:00:00"]
    assert lines[-1].split() == ["other", "after", "job-0", "fresh", "idle"]

    assert [j["name"] for j in json.loads(horae.ok("job", "ls", "--name", "oth", "--json").stdout)] == [
        "other"
    ]
    assert "no jobs matching 'zzz'" in horae.ok("job", "ls", "--name", "zzz").stdout


def test_get_prints_yaml_that_applies_back_unchanged(horae: Horae, tmp_path: Path) -> None:
    horae.ok(
        "job",
        "apply",
        "-f",
        write(tmp_path / "j.json", json.dumps({"name": "g", "command": "echo hi", "schedule": HOURLY})),
    )
    text = horae.ok("job", "get", "g").stdout
    doc = yaml.safe_load(text)
    assert doc["name"] == "g" and doc["command"] == "echo hi" and doc["status"]["last"] == "fresh"
    assert json.loads(horae.ok("job", "get", "g", "--json").stdout) == doc
    again = horae.ok("job", "apply", "-f", "-", input=text)
    assert again.stdout.split() == ["unchanged", "g"]


def test_unknown_job_is_exit_4_with_the_servers_message(horae: Horae) -> None:
    for args in (
        ["job", "get", "nope"],
        ["job", "rm", "nope"],
        ["job", "run", "nope"],
        ["job", "pause", "nope"],
        ["job", "kill", "nope"],
        ["next", "nope"],
        ["runs", "nope"],
    ):
        result = horae(*args)
        assert result.exit_code == 4, args
        assert result.stderr.strip() == "error: Job 'nope' not found", args
        assert result.stdout == ""


def test_pause_resume_and_rm(horae: Horae, tmp_path: Path) -> None:
    horae.ok(
        "job",
        "apply",
        "-f",
        write(tmp_path / "j.json", json.dumps({"name": "p", "command": "true", "schedule": HOURLY})),
    )
    assert horae.ok("job", "pause", "p").stdout.strip() == "paused job p"
    assert json.loads(horae.ok("job", "get", "p", "--json").stdout)["disabled"] is True
    assert "paused" in horae.ok("job", "ls").stdout
    assert json.loads(horae.ok("job", "resume", "p", "--json").stdout) == {"name": "p", "paused": False}
    assert json.loads(horae.ok("job", "get", "p", "--json").stdout)["disabled"] is False

    assert horae.ok("job", "rm", "p").stdout.strip() == "deleted job p"
    assert horae("job", "get", "p").exit_code == 4
    horae.ok("job", "apply", "-f", str(tmp_path / "j.json"))
    assert json.loads(horae.ok("job", "rm", "p", "--json").stdout) == {"name": "p", "deleted": True}


def test_run_with_arguments_and_environment_then_logs(
    horae: Horae, live_server: LiveServer, tmp_path: Path
) -> None:
    job = {"name": "echo", "command": 'echo "mode=$MODE" args:', "schedule": HOURLY}
    horae.ok("job", "apply", "-f", write(tmp_path / "j.json", json.dumps(job)))
    run = json.loads(
        horae.ok("job", "run", "echo", "--arg", "one", "-a", "two", "--env", "MODE=manual", "--json").stdout
    )
    assert run["job"] == "echo" and run["trigger"] == "manual" and run["id"].startswith("echo:")
    done = live_server.wait_for_run(run["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done

    assert horae.ok("logs", run["id"]).stdout == "mode=manual args: one two\n"
    assert json.loads(horae.ok("logs", run["id"], "--json").stdout) == {
        "id": run["id"],
        "log": "mode=manual args: one two\n",
    }

    human = horae.ok("job", "run", "echo").stdout
    assert re.fullmatch(r"run echo:\d+: (pending|running|succeeded)\n", human), human

    assert horae("job", "run", "echo", "--env", "NOEQUALS").exit_code == 2


def test_kill_ends_the_running_run_as_killed(horae: Horae, live_server: LiveServer, tmp_path: Path) -> None:
    horae.ok(
        "job",
        "apply",
        "-f",
        write(tmp_path / "j.json", json.dumps({"name": "slow", "command": "sleep 30", "schedule": HOURLY})),
    )
    run = json.loads(horae.ok("job", "run", "slow", "--json").stdout)
    live_server.wait_for_run(run["id"], "running")
    assert horae.ok("job", "kill", "slow").stdout.strip() == "killing the active runs of slow"
    killed = live_server.wait_for_run(run["id"], "killed")
    assert killed["reason"] == "killed on request"
    assert json.loads(horae.ok("job", "kill", "slow", "--json").stdout) == {
        "name": "slow",
        "kill_requested": True,
    }
