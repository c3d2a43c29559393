"""The job files in examples/: each reads as `horae job apply` reads it and is a valid job, and the flaky
example really fails, in the pattern its comments describe."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from horae.cli._jobfiles import read_job_files
from horae.core import validate_job
from horae.model import job_from_chronos

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_every_example_reads_and_validates() -> None:
    documents = read_job_files([str(EXAMPLES)])
    assert {"heartbeat", "heartbeat-report", "flaky"} <= {d.name for d in documents}
    jobs = {d.name: job_from_chronos(d.doc) for d in documents}
    for job in jobs.values():
        validate_job(job, jobs, creating=True)


def flaky_exit_code(tmp_path: Path, minute: str, attempt: int) -> int:
    """The exit status of the flaky job's command under /bin/sh, with `date` answering `minute`."""
    (doc,) = read_job_files([str(EXAMPLES / "flaky.yaml")])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake_date = bin_dir / "date"
    fake_date.write_text(f'#!/bin/sh\n[ "$*" = "-u +%M" ] && echo {minute} && exit 0\nexit 2\n')
    fake_date.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HORAE_ATTEMPT": str(attempt)}
    done = subprocess.run(["/bin/sh", "-c", doc.doc["command"]], env=env, capture_output=True, timeout=10)
    assert b"attempt" in done.stdout, done.stderr
    return done.returncode


@pytest.mark.parametrize(
    ("minute", "exit_codes"),
    [
        ("00", [1, 0, 0]),  # the first attempt fails, the retry succeeds
        ("09", [1, 0, 0]),  # a leading zero is not read as octal
        ("01", [1, 1, 1]),  # every attempt fails
        ("10", [1, 1, 1]),
        ("08", [0, 0, 0]),
        ("59", [0, 0, 0]),
    ],
)
def test_the_flaky_example_fails_by_the_minute(tmp_path: Path, minute: str, exit_codes: list[int]) -> None:
    assert [flaky_exit_code(tmp_path, minute, attempt) for attempt in range(3)] == exit_codes


def test_the_flaky_example_runs_with_the_real_date() -> None:
    (doc,) = read_job_files([str(EXAMPLES / "flaky.yaml")])
    env = {**os.environ, "HORAE_ATTEMPT": "1"}
    done = subprocess.run(["/bin/sh", "-c", doc.doc["command"]], env=env, capture_output=True, timeout=10)
    assert done.returncode in (0, 1) and done.stdout.startswith(b"attempt 1 in minute "), done
