"""The contract every runtime keeps. `any_runtime` runs a case against every runtime including the fake;
`spawning` only against runtimes that run real processes (the fake cannot, so those cases are not faked).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from horae.model import ExitKind, RunFinished, RunLost, RunStarted
from horae.runtime import LaunchFailed
from tests.runtime.conftest import PATH, Harness, eventually, gone, launch, run_to_end, sh

pytestmark = pytest.mark.timeout(10)


# -- every runtime -------------------------------------------------------------------------------------


async def test_launch_reports_started_before_returning(any_runtime: Harness) -> None:
    await any_runtime.runtime.launch(launch("job:1", "sleep", "30"))
    [started] = any_runtime.events.of("job:1")
    assert isinstance(started, RunStarted)
    assert (started.run_id, started.attempt) == ("job:1", 1)
    await any_runtime.runtime.kill("job:1", grace=timedelta(0))
    await any_runtime.events.end_of("job:1")


async def test_kill_reports_killed(any_runtime: Harness) -> None:
    await any_runtime.runtime.launch(launch("job:1", "sleep", "30"))
    await any_runtime.runtime.kill("job:1")
    end = await any_runtime.events.end_of("job:1")
    assert isinstance(end, RunFinished)
    assert end.kind is ExitKind.KILLED
    assert not end.succeeded


async def test_timeout_reports_timed_out(any_runtime: Harness) -> None:
    await any_runtime.runtime.launch(launch("job:1", "sleep", "30", timeout=0.2))
    end = await any_runtime.events.end_of("job:1")
    assert isinstance(end, RunFinished)
    assert end.kind is ExitKind.TIMED_OUT


async def test_kill_of_unknown_run_is_a_no_op(any_runtime: Harness) -> None:
    await any_runtime.runtime.kill("nobody:1")
    await asyncio.sleep(0.05)
    assert any_runtime.events.events == []


async def test_reconcile_of_unknown_run_reports_lost(any_runtime: Harness) -> None:
    await any_runtime.runtime.reconcile([("ghost:1", 1), ("ghost:2", 3)])
    lost = [e for e in any_runtime.events.events if isinstance(e, RunLost)]
    assert [(e.run_id, e.attempt) for e in lost] == [("ghost:1", 1), ("ghost:2", 3)]
    assert all(e.reason for e in lost)


async def test_an_attempt_is_never_launched_twice(any_runtime: Harness) -> None:
    await any_runtime.runtime.launch(launch("job:1", "sleep", "30"))
    with pytest.raises(LaunchFailed):
        await any_runtime.runtime.launch(launch("job:1", "sleep", "30"))
    await any_runtime.runtime.kill("job:1", grace=timedelta(0))
    await any_runtime.events.end_of("job:1")
    with pytest.raises(LaunchFailed, match="already launched"):
        await any_runtime.runtime.launch(launch("job:1", "sleep", "30"))
    assert sum(isinstance(e, RunStarted) for e in any_runtime.events.of("job:1")) == 1


async def test_a_prepared_launch_runs_once(any_runtime: Harness) -> None:
    prepared = launch("job:1", "sleep", "30")
    any_runtime.runtime.prepare(prepared)
    any_runtime.runtime.prepare(prepared)  # the server may be told twice (a commit retried): harmless
    await any_runtime.runtime.launch(prepared)
    await any_runtime.runtime.kill("job:1", grace=timedelta(0))
    await any_runtime.events.end_of("job:1")
    any_runtime.runtime.prepare(prepared)  # a late prepare never reopens a launched attempt
    with pytest.raises(LaunchFailed, match="already launched"):
        await any_runtime.runtime.launch(prepared)
    assert [type(e) for e in any_runtime.events.of("job:1")] == [RunStarted, RunFinished]


async def test_a_prepare_without_its_launch_starts_nothing(any_runtime: Harness) -> None:
    any_runtime.runtime.prepare(launch("never:1", "sleep", "30"))
    await asyncio.sleep(0.2)
    assert any_runtime.events.events == []
    await any_runtime.runtime.reconcile([("never:1", 1)])  # a crash before the launch: it never ran
    [lost] = any_runtime.events.of("never:1")
    assert isinstance(lost, RunLost)
    with pytest.raises(LaunchFailed, match="already launched"):  # and reported lost, it never will
        await any_runtime.runtime.launch(launch("never:1", "sleep", "30"))


async def test_a_reconcile_during_a_launch_leaves_the_attempt_to_that_launch(any_runtime: Harness) -> None:
    # The server reconciles after a failed commit while launches of earlier commits may be under way.
    task = asyncio.create_task(any_runtime.runtime.launch(launch("job:1", "sleep", "30")))
    await asyncio.sleep(0)  # the launch runs up to its first wait (its directory, its container)
    await any_runtime.runtime.reconcile([("job:1", 1)])
    await task
    assert [type(e) for e in any_runtime.events.of("job:1")] == [RunStarted]  # never "lost", then started
    await any_runtime.runtime.kill("job:1", grace=timedelta(0))
    await any_runtime.events.end_of("job:1")


async def test_a_kill_during_the_launch_is_carried_out_once_it_started(any_runtime: Harness) -> None:
    task = asyncio.create_task(any_runtime.runtime.launch(launch("job:1", "sleep", "30")))
    await asyncio.sleep(0)  # under way: not yet watched
    await any_runtime.runtime.kill("job:1", grace=timedelta(0))
    await task
    end = await any_runtime.events.end_of("job:1")
    assert isinstance(end, RunFinished) and end.kind is ExitKind.KILLED


async def test_many_runs_at_once_are_each_reported_once(any_runtime: Harness) -> None:
    ids = [f"many:{i}" for i in range(40)]
    for run_id in ids:
        await any_runtime.runtime.launch(launch(run_id, "sleep", "30"))
    for run_id in ids:
        await any_runtime.runtime.kill(run_id, grace=timedelta(seconds=1))
    for run_id in ids:
        assert isinstance(await any_runtime.events.end_of(run_id), RunFinished)
    await asyncio.sleep(0.05)
    assert [type(e) for e in any_runtime.events.events].count(RunFinished) == len(ids)


async def test_reconcile_leaves_watched_runs_alone(any_runtime: Harness) -> None:
    await any_runtime.runtime.launch(launch("job:1", "sleep", "30"))
    await any_runtime.runtime.reconcile([("job:1", 1)])
    assert len(any_runtime.events.of("job:1")) == 1
    await any_runtime.runtime.kill("job:1", grace=timedelta(0))
    await any_runtime.events.end_of("job:1")


# -- runtimes that run processes ------------------------------------------------------------------------


async def test_exit_code_zero_succeeds(spawning: Harness) -> None:
    end = await run_to_end(spawning, launch("job:1", "true"))
    assert isinstance(end, RunFinished)
    assert (end.kind, end.exit_code, end.succeeded) == (ExitKind.EXITED, 0, True)
    assert [type(e) for e in spawning.events.events] == [RunStarted, RunFinished]


async def test_non_zero_exit_code_is_reported(spawning: Harness) -> None:
    end = await run_to_end(spawning, sh("job:1", "echo failing; exit 3"))
    assert isinstance(end, RunFinished)
    assert (end.kind, end.exit_code, end.succeeded) == (ExitKind.EXITED, 3, False)
    assert end.output_tail == "failing\n"


async def test_environment_is_passed_exactly(spawning: Harness) -> None:
    env = {"PATH": PATH, "HORAE_A": "1", "EMPTY": "", "SPACES": "a b  c", "LINES": "x\ny", "PWD": "/given"}
    end = await run_to_end(spawning, launch("job:1", "/usr/bin/env", "-0", env=env))
    assert isinstance(end, RunFinished)
    seen = dict(item.split("=", 1) for item in end.output_tail.split("\0") if item)
    assert seen == env


async def test_argv_is_not_interpreted_by_a_shell(spawning: Harness) -> None:
    end = await run_to_end(spawning, launch("job:1", "printf", "%s|", "a b", "$HOME", "*", "", ";exit 9"))
    assert isinstance(end, RunFinished)
    assert (end.exit_code, end.output_tail) == (0, "a b|$HOME|*||;exit 9|")


async def test_shell_jobs_get_shell_semantics(spawning: Harness) -> None:
    job = sh(
        "job:1",
        'for w in $WORDS; do echo "<$w>"; done | sort -r; exit $CODE',
        env={"PATH": PATH, "WORDS": "b a", "CODE": "4"},
    )
    end = await run_to_end(spawning, job)
    assert isinstance(end, RunFinished)
    assert (end.exit_code, end.output_tail) == (4, "<b>\n<a>\n")


async def test_kill_takes_down_the_whole_process_group(spawning: Harness, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    await spawning.runtime.launch(
        sh("job:1", f"sleep 30 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait")
    )
    await eventually(pid_file.exists)
    grandchild = int(pid_file.read_text())
    await spawning.runtime.kill("job:1", grace=timedelta(seconds=2))
    end = await spawning.events.end_of("job:1")
    assert isinstance(end, RunFinished)
    assert end.kind is ExitKind.KILLED
    await eventually(lambda: gone(grandchild))


async def test_kill_escalates_to_kill_after_the_grace(spawning: Harness) -> None:
    await spawning.runtime.launch(sh("job:1", "trap '' TERM; echo ready; sleep 30"))
    await asyncio.sleep(0.1)  # let the trap be set
    asked = time.monotonic()
    await spawning.runtime.kill("job:1", grace=timedelta(seconds=0.3))
    end = await spawning.events.end_of("job:1")
    assert time.monotonic() - asked >= 0.3
    assert isinstance(end, RunFinished)
    assert end.kind is ExitKind.KILLED


async def test_a_run_that_stops_within_the_grace_is_not_escalated(spawning: Harness) -> None:
    await spawning.runtime.launch(sh("job:1", "trap 'echo bye; exit 0' TERM; echo ready; sleep 30 & wait"))
    await asyncio.sleep(0.1)
    asked = time.monotonic()
    await spawning.runtime.kill("job:1", grace=timedelta(seconds=5))
    end = await spawning.events.end_of("job:1")
    assert time.monotonic() - asked < 2
    assert isinstance(end, RunFinished)
    assert (end.kind, end.exit_code, end.output_tail) == (ExitKind.KILLED, 0, "ready\nbye\n")


async def test_timeout_stops_the_whole_group(spawning: Harness, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    await spawning.runtime.launch(sh("job:1", f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.3))
    end = await spawning.events.end_of("job:1")
    assert isinstance(end, RunFinished)
    assert end.kind is ExitKind.TIMED_OUT
    await eventually(lambda: gone(int(pid_file.read_text())))


async def test_kill_of_a_finished_run_is_a_no_op(spawning: Harness) -> None:
    await run_to_end(spawning, launch("job:1", "true"))
    await spawning.runtime.kill("job:1")
    await asyncio.sleep(0.05)
    assert [type(e) for e in spawning.events.events] == [RunStarted, RunFinished]


async def test_many_short_runs_at_once(spawning: Harness) -> None:
    jobs = [sh(f"many:{i}", f"exit {i % 5}") for i in range(100)]
    for job in jobs:
        await spawning.runtime.launch(job)
    for i, job in enumerate(jobs):
        end = await spawning.events.end_of(job.run_id, within=5)
        assert isinstance(end, RunFinished)
        assert end.exit_code == i % 5


async def test_a_signal_not_sent_by_horae_is_reported_as_signaled(spawning: Harness) -> None:
    end = await run_to_end(spawning, sh("job:1", "kill -SEGV $$"))
    assert isinstance(end, RunFinished)
    assert (end.kind, end.signal) == (ExitKind.SIGNALED, 11)


def test_gone_sees_this_process() -> None:
    assert not gone(os.getpid())
