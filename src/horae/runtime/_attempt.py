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

import errno
import fcntl
import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from horae.model import ExitKind, RunFinished, RunLost

STATE = "state"
OUTPUT = "output.log"
STOP = "stop"
DEADLINE = "deadline"
WORK = "work"
TAIL_BYTES = 4096

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
    run_id: str, attempt: int, directory: Path, now: datetime, supervisor_signal: int | None = None
) -> RunFinished | RunLost:
    """How a finished attempt ended, from its files (and the signal that ended the supervisor, when
    known). Call only once the supervisor is gone.

    The status is the shell's `$?`: above 128 it is read as a signal (shell convention; a command that
    itself exits with such a code cannot be told apart), and `exit_code` keeps the raw value.
    """
    state = read_state(directory)
    stop = read_stop(directory)
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
