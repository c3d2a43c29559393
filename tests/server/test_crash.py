"""Crash safety: a real server (SQLite + process runtime) is `kill -9`ed at random moments and restarted.

Jobs run every second and append `$HORAE_RUN_ID $HORAE_ATTEMPT` to a marker file; some fail and are
retried. Afterwards, from the SQLite store and the marker file:
- every (job, scheduled_for) has exactly one run record, and every scheduled second of the window has one
  (run, or missed/skipped with a reason);
- no attempt was launched twice (no duplicate marker line), and every line belongs to a recorded attempt;
- after a last restart that lets them finish, every run record is final, and every run that ended with an
  exit status has the marker line of its last attempt.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from horae.model import Run, RunState, Trigger, epoch_ms
from horae.store import SqlStore

CHAOS_SECONDS = 18
# How long the chaos may go on past CHAOS_SECONDS on a loaded machine (see the loop below).
CHAOS_OVERTIME = 120
# The test's own bounds: the chaos loop, then its last iteration, the final start, the wait for open runs
# (20 s), the stop (20 s) and the checks. The suite-wide timeout would cut the loop short.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(CHAOS_SECONDS + CHAOS_OVERTIME + 120)]
SECOND = timedelta(seconds=1)


def jobs(marker: Path, *, disabled: bool) -> list[dict[str, Any]]:
    line = f'echo "$HORAE_RUN_ID $HORAE_ATTEMPT" >> {marker}; sleep 0.$(shuf -i 0-9 -n 1)'
    common = {"schedule": "* * * * * *", "disabled": disabled, "owner": "test@example.com"}
    return [
        {**common, "name": "ok-forbid", "command": line, "retries": 0},
        {**common, "name": "ok-allow", "command": line, "retries": 0, "concurrencyPolicy": "allow"},
        {
            **common,
            "name": "fail-retry",
            "command": line + "; exit 1",
            "retries": 2,
            "retryBackoff": {"kind": "fixed", "first": "PT0.2S"},
            "concurrencyPolicy": "allow",
        },
        {
            **common,
            "name": "fail-forbid",
            "command": line + "; exit 1",
            "retries": 1,
            "retryBackoff": {"kind": "fixed", "first": "PT0.1S"},
        },
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, job_file: Path) -> None:
        self.data_dir = data_dir
        self.job_file = job_file
        self.log = data_dir / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "horae.server",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--apply",
            str(self.job_file),
            "--log-level",
            "info",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=log)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


def all_runs(store: SqlStore, job: str) -> list[Run]:
    runs: list[Run] = []
    before: str | None = None
    while True:
        page, before = store.list_runs(job, before=before, limit=500)
        runs.extend(page)
        if before is None:
            return runs


def scheduled_count(url: str, job: str) -> int:
    """How many scheduled runs of `job` the store holds (0 before the first server created it)."""
    if not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    store = SqlStore(url)
    try:
        return sum(r.trigger is Trigger.SCHEDULE for r in all_runs(store, job))
    finally:
        store.close()


def wait_until_no_open_runs(url: str, within: float) -> list[Run]:
    deadline = time.monotonic() + within
    while True:
        store = SqlStore(url)
        try:
            open_runs = store.open_runs()
        finally:
            store.close()
        if not open_runs or time.monotonic() > deadline:
            return open_runs
        time.sleep(0.25)


def test_kill_9_at_random_moments_loses_nothing_and_launches_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("HORAE_CRASH_SEED", time.time_ns())))
    marker = tmp_path / "marker"
    marker.touch()
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs(marker, disabled=False)))
    server = Server(tmp_path / "data", job_file)
    server.data_dir.mkdir()
    url = f"sqlite:///{server.data_dir / 'horae.db'}"

    server.start()
    kills = 0
    chaos_end = time.monotonic() + CHAOS_SECONDS
    # On a loaded machine a start-up can outlast the random delays; the chaos then goes on (within a
    # bound) until the servers have scheduled enough for the checks below to mean something.
    while time.monotonic() < chaos_end or (
        scheduled_count(url, "ok-forbid") < CHAOS_SECONDS // 2
        and time.monotonic() < chaos_end + CHAOS_OVERTIME
    ):
        time.sleep(rng.uniform(0.8, 3.5))  # sometimes mid start-up, sometimes well into serving
        server.kill9()
        kills += 1
        time.sleep(rng.uniform(0, 0.3))
        server.start()
    time.sleep(1.5)
    server.kill9()
    kills += 1

    # A last start with the jobs paused: nothing new is scheduled, what is under way is reconciled and ends.
    job_file.write_text(json.dumps(jobs(marker, disabled=True)))
    server.start()
    still_open = wait_until_no_open_runs(url, within=20)
    assert server.stop() == 0
    assert still_open == [], f"runs never became final: {still_open}"
    log = server.log.read_text()
    assert "Traceback" not in log, log[-4000:]

    lines = marker.read_text().splitlines()
    counts = Counter(lines)
    assert [line for line, n in counts.items() if n > 1] == [], "an attempt was launched twice"

    store = SqlStore(url)
    try:
        assert store.open_runs() == []
        by_id: dict[str, Run] = {}
        states: Counter[RunState] = Counter()
        for name in ("ok-forbid", "ok-allow", "fail-retry", "fail-forbid"):
            runs = all_runs(store, name)
            ids = [r.id for r in runs]
            assert len(ids) == len(set(ids))
            scheduled = sorted(r.scheduled_for for r in runs if r.trigger is Trigger.SCHEDULE)
            assert len(scheduled) >= CHAOS_SECONDS // 2, f"{name}: only {len(scheduled)} runs"
            # Every second from the first occurrence to the last one handled is accounted for, once.
            expected = [
                scheduled[0] + i * SECOND for i in range(int((scheduled[-1] - scheduled[0]) / SECOND) + 1)
            ]
            assert scheduled == expected, f"{name}: seconds missing: {sorted(set(expected) - set(scheduled))}"
            for run in runs:
                assert run.state.is_final
                if run.state in (RunState.MISSED, RunState.SKIPPED, RunState.LOST, RunState.FAILED):
                    assert run.reason, run
                by_id[run.id] = run
                states[run.state] += 1
    finally:
        store.close()

    launched: dict[str, set[int]] = {}
    for line in lines:
        rid, attempt = line.split()
        record = by_id.get(rid)
        assert record is not None, f"marker line {line!r} has no run record"
        assert int(attempt) <= record.attempt, f"attempt {attempt} ran but the record says {record.attempt}"
        launched.setdefault(rid, set()).add(int(attempt))
    for run in by_id.values():
        if run.state in (RunState.SUCCEEDED, RunState.FAILED) and run.exit_code is not None:
            assert run.attempt in launched.get(run.id, set()), f"{run.id} ended with no trace of its run"
        if run.state is RunState.SUCCEEDED:
            assert run.job.startswith("ok-")
    assert states[RunState.SUCCEEDED] > 0 and states[RunState.FAILED] > 0
    print(f"\n{kills} kills; {len(lines)} attempts; outcomes {dict(states)}")
    assert all(epoch_ms(r.scheduled_for) % 1000 == 0 for r in by_id.values() if r.trigger is Trigger.SCHEDULE)
