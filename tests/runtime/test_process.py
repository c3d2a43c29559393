"""What only the process runtime promises: its files, its environment rules, and crash safety."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from horae.model import ExitKind, RunFinished, RunLost, RunStarted
from horae.runtime import LaunchFailed, ProcessRuntime
from horae.runtime._process import DEFAULT_PATH
from tests.runtime.conftest import GRACE, Harness, Recorder, eventually, gone, launch, run_to_end, sh

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
async def process(run_dir: Path) -> AsyncIterator[Harness]:
    runtime = ProcessRuntime(run_dir, timeout_grace=GRACE)
    events = Recorder()
    await runtime.start(events)
    yield Harness(runtime, events)
    await runtime.close()


async def restarted(run_dir: Path) -> tuple[ProcessRuntime, Recorder]:
    runtime = ProcessRuntime(run_dir, timeout_grace=GRACE)
    events = Recorder()
    await runtime.start(events)
    return runtime, events


# -- files ----------------------------------------------------------------------------------------------


async def test_output_is_captured_to_the_log_and_its_tail(process: Harness, run_dir: Path) -> None:
    script = "echo out; echo err >&2; head -c 10000 /dev/zero | tr '\\0' a; echo; echo END"
    end = await run_to_end(process, sh("my.job:1700000000000", script))
    path = process.runtime.log_path("my.job:1700000000000", 1)
    assert path == run_dir / "my.job" / "1700000000000" / "1" / "output.log"
    assert path.read_text() == "out\nerr\n" + "a" * 10000 + "\nEND\n"
    assert isinstance(end, RunFinished)
    assert len(end.output_tail) == 4096
    assert end.output_tail.endswith("a\nEND\n")


async def test_tail_starts_at_a_character_boundary(process: Harness) -> None:
    end = await run_to_end(
        process, sh("job:1", "i=0; while [ $i -lt 2000 ]; do printf 'é'; i=$((i+1)); done")
    )
    assert isinstance(end, RunFinished)
    assert set(end.output_tail) == {"é"}


async def test_log_path_of_an_unknown_attempt_is_none(process: Harness) -> None:
    assert process.runtime.log_path("job:1", 1) is None


async def test_odd_run_ids_stay_inside_the_run_dir(process: Harness, run_dir: Path) -> None:
    await run_to_end(process, launch("../../etc:passwd", "true"))
    await run_to_end(process, launch("..", "true"))
    for run_id in ("../../etc:passwd", ".."):
        path = process.runtime.log_path(run_id, 1)
        assert path is not None
        assert _inside(path, run_dir)


async def test_working_directory_is_per_attempt(process: Harness, run_dir: Path) -> None:
    first = await run_to_end(process, launch("job:1", "/bin/pwd", "-P", attempt=1))
    assert isinstance(first, RunFinished)
    assert first.output_tail == f"{(run_dir / 'job' / '1' / '1' / 'work').resolve()}\n"


# -- the process and its environment --------------------------------------------------------------------


async def test_path_is_added_only_when_missing(process: Harness) -> None:
    end = await run_to_end(process, launch("job:1", "/usr/bin/env", env={"A": "1"}))
    assert isinstance(end, RunFinished)
    assert end.output_tail == f"A=1\nPATH={DEFAULT_PATH}\n"


async def test_variable_names_a_shell_would_drop_are_kept(process: Harness) -> None:
    env = {"PATH": "/bin", "my.var": "1", "with-dash": "2", "1st": "3", "OK": "4"}
    end = await run_to_end(process, launch("job:1", "/usr/bin/env", "-0", env=env))
    assert isinstance(end, RunFinished)
    assert dict(i.split("=", 1) for i in end.output_tail.split("\0") if i) == env


async def test_invalid_variable_names_fail_the_launch(process: Harness) -> None:
    with pytest.raises(LaunchFailed, match="invalid environment"):
        await process.runtime.launch(launch("job:1", "true", env={"A=B": "1"}))
    with pytest.raises(LaunchFailed, match="empty argv"):
        await process.runtime.launch(launch("job:2"))


async def test_a_bare_name_never_runs_a_shell_builtin_in_the_supervisor(process: Harness) -> None:
    end = await run_to_end(process, launch("job:1", "exit", "3"))
    assert isinstance(end, RunFinished)
    assert end.exit_code == 127
    assert "not found" in end.output_tail


async def test_signals_stdin_and_descriptors_are_clean(process: Harness) -> None:
    signals = await run_to_end(process, launch("job:1", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"))
    assert isinstance(signals, RunFinished)
    assert signals.output_tail == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    stdin = await run_to_end(process, launch("job:2", "readlink", "/proc/self/fd/0"))
    assert isinstance(stdin, RunFinished)
    assert stdin.output_tail == "/dev/null\n"
    inherited = os.open(os.devnull, os.O_RDONLY)  # an inheritable descriptor of the server's
    os.set_inheritable(inherited, True)
    try:
        descriptors = await run_to_end(process, launch("job:3", "ls", "/proc/self/fd"))
    finally:
        os.close(inherited)
    assert isinstance(descriptors, RunFinished)
    assert descriptors.output_tail.split() == ["0", "1", "2", "3"]  # 3: ls reading the directory


async def test_the_run_has_its_own_session_and_group(process: Harness) -> None:
    end = await run_to_end(process, sh("job:1", "ps -o sid=,pgid= -p $$"))
    assert isinstance(end, RunFinished)
    started = process.events.of("job:1")[0]
    assert isinstance(started, RunStarted)
    supervisor = started.detail.split()[1]
    assert end.output_tail.split() == [supervisor, supervisor]
    assert supervisor != str(os.getsid(0))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_user_is_switched_when_root(process: Harness) -> None:
    end = await run_to_end(process, sh("job:1", "id -un; touch file && echo wrote", user="nobody"))
    assert isinstance(end, RunFinished)
    assert end.output_tail == "nobody\nwrote\n"
    with pytest.raises(LaunchFailed, match="unknown user"):
        await process.runtime.launch(launch("job:2", "true", user="no-such-user-here"))


async def test_the_current_user_is_not_switched(process: Harness) -> None:
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    end = await run_to_end(process, sh("job:1", "id -un", user=me))
    assert isinstance(end, RunFinished)
    assert end.output_tail == f"{me}\n"


async def test_a_supervisor_killed_from_outside_is_lost_and_takes_its_run_along(
    process: Harness, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child"
    await process.runtime.launch(
        sh("job:1", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; sleep 30")
    )
    await eventually(pid_file.exists)
    started = process.events.of("job:1")[0]
    assert isinstance(started, RunStarted)
    os.kill(int(started.detail.split()[1]), signal.SIGKILL)
    end = await process.events.end_of("job:1")
    assert isinstance(end, RunLost)
    assert "signal 9" in end.reason
    await eventually(lambda: gone(int(pid_file.read_text())))


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


# -- crash safety ---------------------------------------------------------------------------------------


async def test_a_run_outlives_close_and_is_adopted_with_its_real_exit_code(
    process: Harness, run_dir: Path
) -> None:
    await process.runtime.launch(sh("job:1", "sleep 0.5; echo done; exit 3"))
    await process.runtime.close()
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([("job:1", 1)])
        started = events.of("job:1")[0]
        assert isinstance(started, RunStarted)
        assert "adopted" in started.detail
        end = await events.end_of("job:1")
        assert isinstance(end, RunFinished)
        assert (end.kind, end.exit_code, end.output_tail) == (ExitKind.EXITED, 3, "done\n")
    finally:
        await runtime.close()


async def test_a_run_that_finished_while_down_is_reported_at_once(process: Harness, run_dir: Path) -> None:
    await process.runtime.launch(sh("job:1", "exit 4"))
    await process.runtime.close()
    state = run_dir / "job" / "1" / "1" / "state"
    await eventually(lambda: state.read_text().count("\n") == 2)
    await asyncio.sleep(0.05)  # the supervisor exits right after writing
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([("job:1", 1), ("job:2", 1)])
        finished, lost = events.events
        assert isinstance(finished, RunFinished)
        assert (finished.run_id, finished.exit_code) == ("job:1", 4)
        assert isinstance(lost, RunLost)
        assert lost.run_id == "job:2"
        with pytest.raises(LaunchFailed, match="already launched"):
            await runtime.launch(sh("job:1", "exit 4"))
    finally:
        await runtime.close()


async def test_a_reused_pid_is_not_mistaken_for_the_run(run_dir: Path) -> None:
    directory = run_dir / "job" / "1" / "1"
    (directory / "work").mkdir(parents=True)
    (directory / "state").write_text(f"{os.getpid()}\n")  # alive, but not holding the lock: not the run
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([("job:1", 1)])
        [lost] = events.events
        assert isinstance(lost, RunLost)
    finally:
        await runtime.close()


async def test_a_kill_in_progress_is_finished_after_a_restart(process: Harness, run_dir: Path) -> None:
    await process.runtime.launch(sh("job:1", "trap '' TERM; sleep 30"))
    await asyncio.sleep(0.1)
    await process.runtime.kill("job:1", grace=timedelta(seconds=0.5))
    await process.runtime.close()
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([("job:1", 1)])
        end = await events.end_of("job:1")
        assert isinstance(end, RunFinished)
        assert end.kind is ExitKind.KILLED
    finally:
        await runtime.close()


async def test_a_timeout_is_enforced_across_a_restart(process: Harness, run_dir: Path) -> None:
    await process.runtime.launch(launch("job:1", "sleep", "30", timeout=0.4))
    await process.runtime.close()
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([("job:1", 1)])
        end = await events.end_of("job:1")
        assert isinstance(end, RunFinished)
        assert end.kind is ExitKind.TIMED_OUT
    finally:
        await runtime.close()


OWNER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from horae.model import Launch
    from horae.runtime import ProcessRuntime

    async def main():
        runtime = ProcessRuntime(Path(sys.argv[1]))
        await runtime.start(lambda event: None)
        print("ready", flush=True)
        for i, script in enumerate(sys.argv[2:]):
            await runtime.launch(Launch(f"crash:{i}", "crash", 1, "t", ("/bin/sh", "-c", script), ()))
            print(i, flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


def _owner(run_dir: Path, *scripts: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", OWNER, str(run_dir), *scripts], stdout=subprocess.PIPE, text=True
    )


def _kill9(owner: subprocess.Popen[str]) -> None:
    owner.kill()
    owner.wait()
    assert owner.stdout is not None
    owner.stdout.close()


async def test_a_run_survives_kill_9_of_its_server(run_dir: Path) -> None:
    owner = _owner(run_dir, "sleep 0.5; exit 3")
    assert owner.stdout is not None
    assert owner.stdout.readline() == "ready\n"
    assert owner.stdout.readline() == "0\n"
    _kill9(owner)
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([("crash:0", 1)])
        assert isinstance(events.events[0], RunStarted)
        end = await events.end_of("crash:0")
        assert isinstance(end, RunFinished)
        assert (end.kind, end.exit_code) == (ExitKind.EXITED, 3)
    finally:
        await runtime.close()


async def test_kill_9_at_any_moment_loses_nothing_and_runs_nothing_twice(
    run_dir: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    count = 30
    scripts = [f"echo {i} >> {ledger}; exit {i % 7}" for i in range(count)]
    owner = _owner(run_dir, *scripts)
    assert owner.stdout is not None
    assert owner.stdout.readline() == "ready\n"
    await asyncio.sleep(random.uniform(0, 0.03))
    _kill9(owner)
    runtime, events = await restarted(run_dir)
    try:
        await runtime.reconcile([(f"crash:{i}", 1) for i in range(count)])
        ends = {}
        for i in range(count):
            ends[i] = await events.end_of(f"crash:{i}")
        ran = [int(line) for line in ledger.read_text().split()] if ledger.exists() else []
        assert len(ran) == len(set(ran))
        for i, end in ends.items():
            if isinstance(end, RunFinished):
                assert end.exit_code == i % 7
                assert i in ran
            else:
                assert i not in ran
        for i in range(count):  # relaunching any attempt the dead server may have started is refused
            if (run_dir / "crash" / str(i) / "1").exists():
                with pytest.raises(LaunchFailed):
                    await runtime.launch(sh(f"crash:{i}", "true"))
    finally:
        await runtime.close()
