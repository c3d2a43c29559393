"""One attempt's directory: what the supervisor and the server leave there, and what it means.

    <run_dir>/<job>/<scheduled ms>/<attempt>/
        state       locked (flock) by the supervisor for its whole life: locked = the attempt is running;
                    line 1: the supervisor's pid (also the run's process group), written at its start;
                    line 2: the command's exit status as the supervisor saw it ($?), written as it ends
        output.log  stdout and stderr of the command, merged
        stop        written by the server before it signals: why (killed/timed_out) and when KILL is due
        deadline    when the run times out (CLOCK_MONOTONIC, so it survives a restart of the server)
        work/       the command's working directory

Files are read only when complete (newline-terminated), so a reader never acts on half a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from horae.model import ExitKind, Launch, RunFinished, RunLost
from horae.runtime._abc import LaunchFailed

STATE = "state"
OUTPUT = "output.log"
STOP = "stop"
DEADLINE = "deadline"
WORK = "work"
TAIL_BYTES = 4096
T = TypeVar("T")

_SIGNALS = frozenset(int(s) for s in signal.valid_signals())


def attempt_dir(run_dir: Path, run_id: str, attempt: int) -> Path:
    """`<run_dir>/<job>/<ms>/<attempt>` for run ids `<job>:<ms>`; any other id lands under `_`."""
    job, sep, rest = run_id.rpartition(":")
    if not sep or not job:
        job, rest = "_", run_id
    return run_dir / _safe(job) / _safe(rest) / str(attempt)


def _safe(name: str) -> str:
    quoted = quote(name, safe="")
    return quoted.replace(".", "%2E") if quoted in ("", ".", "..") else quoted or "_"


def already_launched(launch: Launch) -> LaunchFailed:
    return LaunchFailed(f"attempt {launch.attempt} of {launch.run_id} was already launched")


def make_dirs(directory: Path) -> bool:
    """The attempt's directory and its work directory, made if missing; whether the directory was
    there already (an attempt prepared for a launch that never came is reused)."""
    existed = False
    try:
        os.mkdir(directory)
    except FileNotFoundError:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory)
    except FileExistsError:
        existed = True
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory / WORK)
    return existed


class Preparer:
    """Does attempts' file work on a worker thread, so the event loop never waits on the file system
    for it: their directories (ahead of the launch when the server calls `prepare` while the run's
    record is being committed), and whatever else a runtime hands it (`run`). On the journalled disk measured
    a mkdir took 25-144 us and the spec's create and write about 0.2 ms: 0.77 ms of a 1.07 ms warm
    dispatch when they ran on the loop.

    A directory that exists with a `state` file belongs to an attempt launched (or claimed) already,
    and `ready` refuses it (FileExistsError).
    """

    LIMIT = 10_000  # prepared attempts whose launch never came (failed commits) are forgotten past it

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._pool: ThreadPoolExecutor | None = None
        self._pending: OrderedDict[tuple[str, int], Future[str]] = OrderedDict()

    def prepare(self, run_id: str, attempt: int, then: Callable[[Path], str] | None = None) -> None:
        """Make the attempt's directories, then call `then` on it (its result is `ready`'s)."""
        key = (run_id, attempt)
        if key not in self._pending:
            self._pending[key] = self._worker().submit(
                self._make, attempt_dir(self.run_dir, run_id, attempt), then
            )
            if len(self._pending) > self.LIMIT:
                self._pending.popitem(last=False)

    def forget(self, run_id: str, attempt: int) -> None:
        """The attempt was claimed (it will never start): a later `ready` looks at its files again."""
        self._pending.pop((run_id, attempt), None)

    async def ready(self, run_id: str, attempt: int) -> tuple[Path, str]:
        """The attempt's directory, made by `prepare` earlier or now, and what `then` returned there
        ("" when nothing was prepared). Raises FileExistsError if the attempt was launched already."""
        directory = attempt_dir(self.run_dir, run_id, attempt)
        future = self._pending.pop((run_id, attempt), None)
        if future is None:
            future = self._worker().submit(self._make, directory, None)
        elif future.done():  # the usual case when prepared: no hand-over through the loop's wake-up pipe
            return directory, future.result()
        return directory, await asyncio.wrap_future(future)

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn` on the worker thread, after the file work submitted before it."""
        return await asyncio.wrap_future(self._worker().submit(fn))

    def _make(self, directory: Path, then: Callable[[Path], str] | None) -> str:
        if make_dirs(directory) and os.path.lexists(directory / STATE):
            raise FileExistsError(directory)
        return then(directory) if then is not None else ""

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="horae-attempts")
        return self._pool

    def close(self) -> None:
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclass(frozen=True, slots=True)
class Stop:
    kind: ExitKind  # KILLED or TIMED_OUT
    kill_at: float  # CLOCK_MONOTONIC instant of the KILL that follows the TERM


def write_line(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, f"{text}\n".encode())
    finally:
        os.close(fd)


def _read_lines(path: Path) -> tuple[list[str], float] | None:
    """The file's complete lines and its mtime; None when it is absent."""
    try:
        with path.open("rb") as f:
            data = f.read(256)
            mtime = os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None
    return data.decode(errors="replace").split("\n")[:-1], mtime


def _read_line(path: Path) -> tuple[str, float] | None:
    """The file's first complete line and its mtime; None when absent or not yet complete."""
    read = _read_lines(path)
    return (read[0][0].strip(), read[1]) if read and read[0] else None


@dataclass(frozen=True, slots=True)
class State:
    pid: int | None
    status: int | None
    mtime: float  # when the last line was written


def read_state(directory: Path) -> State | None:
    read = _read_lines(directory / STATE)
    if read is None:
        return None
    lines, mtime = read
    numbers = [int(line) if line.strip().lstrip("-").isdigit() else None for line in lines[:2]]
    numbers += [None] * (2 - len(numbers))
    return State(numbers[0], numbers[1], mtime)


def read_float(path: Path) -> float | None:
    line = _read_line(path)
    try:
        return float(line[0]) if line else None
    except ValueError:
        return None


def write_stop(directory: Path, stop: Stop) -> None:
    write_line(directory / STOP, f"{stop.kind.value} {stop.kill_at:.6f}")


def read_stop(directory: Path) -> Stop | None:
    line = _read_line(directory / STOP)
    if line is None:
        return None
    kind, _, kill_at = line[0].partition(" ")
    try:
        return Stop(ExitKind(kind), float(kill_at))
    except ValueError:
        return None


def claim(directory: Path) -> bool:
    """Take the attempt's claim for the host, so nothing ever starts it (the directory is made if need
    be: a preparation still queued must find it taken); False if a launch or runner has it."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(directory / STATE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def lock_held(directory: Path) -> bool | None:
    """Whether a supervisor holds the attempt's lock (is alive); None when there is no state file."""
    try:
        fd = os.open(directory / STATE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def output_tail(directory: Path) -> str:
    """The last `TAIL_BYTES` of the output, starting at a character boundary."""
    try:
        with (directory / OUTPUT).open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read(TAIL_BYTES)
    except FileNotFoundError:
        return ""
    if size > TAIL_BYTES:
        skip = 0
        while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
            skip += 1
        data = data[skip:]
    return data.decode("utf-8", errors="replace")


def outcome(
    run_id: str,
    attempt: int,
    directory: Path,
    now: datetime,
    supervisor_signal: int | None = None,
    *,
    known: tuple[State, Stop | None] | None = None,
) -> RunFinished | RunLost:
    """How a finished attempt ended, from its files (and the signal that ended the supervisor, when
    known). Call only once the supervisor is gone. `known`: its state and stop as the caller already
    has them (a supervisor that reported its status, a stop the caller made), so only the output is read.

    The status is the shell's `$?`: above 128 it is read as a signal (shell convention; a command that
    itself exits with such a code cannot be told apart), and `exit_code` keeps the raw value.
    """
    state, stop = known if known is not None else (read_state(directory), read_stop(directory))
    tail = output_tail(directory)
    code = state.status if state else None
    if state is None or code is None:
        if stop is None:
            how = f" (signal {supervisor_signal})" if supervisor_signal else ""
            return RunLost(
                run_id, attempt, now, f"the supervisor ended{how} without recording an exit status"
            )
        # Our signals reached the supervisor too (it leads the run's group): the stop we asked for happened.
        return RunFinished(run_id, attempt, now, stop.kind, signal=supervisor_signal, output_tail=tail)
    at = datetime.fromtimestamp(state.mtime, UTC)
    sig = code - 128 if code - 128 in _SIGNALS else None
    if stop is not None:
        return RunFinished(run_id, attempt, at, stop.kind, exit_code=code, signal=sig, output_tail=tail)
    if sig is not None:
        return RunFinished(
            run_id, attempt, at, ExitKind.SIGNALED, exit_code=code, signal=sig, output_tail=tail
        )
    return RunFinished(run_id, attempt, at, ExitKind.EXITED, exit_code=code, output_tail=tail)
