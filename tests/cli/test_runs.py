"""`horae runs`, `logs -f`, `next` and `preview` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Horae, LiveServer

HOURLY = "R/2030-01-01T00:00:00Z/PT1H"


def apply(horae: Horae, tmp_path: Path, *jobs: dict[str, object]) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(list(jobs)))
    horae.ok("job", "apply", "-f", str(path))


def test_runs_of_a_job_filtered_and_counted(horae: Horae, live_server: LiveServer, tmp_path: Path) -> None:
    apply(
        horae,
        tmp_path,
        {"name": "ok", "command": "exit 0", "schedule": HOURLY},
        {"name": "bad", "command": "exit 3", "schedule": HOURLY, "retries": 0},
    )
    ids = []
    for _ in range(3):
        run = json.loads(horae.ok("job", "run", "ok", "--json").stdout)
        live_server.wait_for_run(run["id"], "succeeded")
        ids.append(run["id"])
    failed = json.loads(horae.ok("job", "run", "bad", "--json").stdout)
    live_server.wait_for_run(failed["id"], "failed")

    runs = json.loads(horae.ok("runs", "ok", "--json").stdout)
    assert [r["id"] for r in runs] == ids[::-1]  # newest first
    assert {
        "id",
        "job",
        "scheduled_for",
        "attempt",
        "trigger",
        "state",
        "created_at",
        "due_at",
        "started_at",
        "finished_at",
        "exit_code",
        "reason",
        "task_id",
    } <= set(runs[0])
    assert [r["id"] for r in json.loads(horae.ok("runs", "ok", "-n", "2", "--json").stdout)] == ids[:0:-1]

    table = horae.ok("runs", "bad").stdout.splitlines()
    assert table[0].split()[:4] == ["RUN", "STATE", "TRIGGER", "ATTEMPT"]
    row = table[1].split()
    assert row[:4] == [failed["id"], "failed", "manual", "0"]
    assert row[-4:] == ["3", "exit", "code", "3"]

    assert json.loads(horae.ok("runs", "ok", "--state", "failed", "--json").stdout) == []
    assert horae.ok("runs", "ok", "--state", "failed").stdout.strip() == "no runs of ok"
    assert len(json.loads(horae.ok("runs", "ok", "--state", "failed,succeeded", "--json").stdout)) == 3

    everywhere = json.loads(horae.ok("runs", "-n", "2", "--json").stdout)
    assert [r["id"] for r in everywhere] == [failed["id"], ids[-1]]
    assert [r["job"] for r in json.loads(horae.ok("runs", "--json").stdout)].count("ok") == 3

    wrong = horae("runs", "ok", "--state", "exploded")
    assert wrong.exit_code == 2 and "unknown run state 'exploded'" in wrong.stderr


def test_logs_follow_streams_until_the_run_ends(
    horae: Horae, live_server: LiveServer, tmp_path: Path
) -> None:
    apply(
        horae, tmp_path, {"name": "talk", "command": "echo first; sleep 1; echo second", "schedule": HOURLY}
    )
    run = json.loads(horae.ok("job", "run", "talk", "--json").stdout)
    live_server.wait_for_run(run["id"], "running")
    followed = horae.ok("logs", run["id"], "-f")
    assert followed.stdout == "first\nsecond\n"
    assert live_server.wait_for_run(run["id"], "succeeded")["exit_code"] == 0
    assert horae("logs", run["id"], "-f", "--json").exit_code == 2


def test_logs_of_an_unknown_run(horae: Horae) -> None:
    result = horae("logs", "nope:1")
    assert result.exit_code == 4
    assert result.stderr.strip() == "error: run 'nope:1' not found"


def test_next_occurrences(horae: Horae, tmp_path: Path) -> None:
    apply(
        horae,
        tmp_path,
        {
            "name": "daily",
            "command": "true",
            "schedule": "R/2030-03-30T09:00:00Z/P1D",
            "scheduleTimeZone": "Europe/Paris",
        },
    )
    out = json.loads(horae.ok("next", "daily", "-n", "3", "--json").stdout)
    # The zone wins over the start's offset (09:00 in Paris), and P1D keeps that local time across the
    # change to summer time on 2030-03-31: 08:00Z in winter, 07:00Z after.
    assert out == {
        "job": "daily",
        "times": ["2030-03-30T08:00:00Z", "2030-03-31T07:00:00Z", "2030-04-01T07:00:00Z"],
        "paused": False,
    }
    table = horae.ok("next", "daily", "-n", "2").stdout.splitlines()
    assert table[0].split() == ["UTC", "Europe/Paris"]
    assert table[1].split() == ["2030-03-30T08:00:00Z", "2030-03-30T09:00:00+01:00"]
    assert table[2].split() == ["2030-03-31T07:00:00Z", "2030-03-31T09:00:00+02:00"]

    horae.ok("job", "pause", "daily")
    assert json.loads(horae.ok("next", "daily", "--json").stdout) == {
        "job": "daily",
        "times": [],
        "paused": True,
    }
    assert horae.ok("next", "daily").stdout.strip() == "job daily is paused: no runs until it is resumed"


def test_preview_in_both_modes_and_a_bad_schedule(horae: Horae) -> None:
    out = json.loads(
        horae.ok(
            "preview",
            "30 2 * * *",
            "--tz",
            "Europe/Paris",
            "--after",
            "2030-03-30T12:00:00Z",
            "-n",
            "2",
            "--json",
        ).stdout
    )
    # 02:30 does not exist in Paris on 2030-03-31: the fixed-time job runs once, right after the gap (03:00).
    assert out == {
        "schedule": "30 2 * * *",
        "timezone": "Europe/Paris",
        "times": ["2030-03-31T01:00:00Z", "2030-04-01T00:30:00Z"],
    }
    table = horae.ok("preview", "@daily", "--after", "2030-01-01T00:00:00Z", "-n", "1").stdout.splitlines()
    assert [line.strip() for line in table] == ["UTC", "2030-01-02T00:00:00Z"]

    bad = horae("preview", "61 * * * *")
    assert bad.exit_code == 1
    assert "minute" in bad.stderr and "61" in bad.stderr
    assert "Traceback" not in bad.output
