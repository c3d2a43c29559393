"""A container horae runs attempts in, its launcher's FIFOs, and the attempts it is watching there."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from horae.model import ContainerMode, ExitKind, Launch, RunFinished, RunLost
from horae.runtime._abc import LaunchFailed
from horae.runtime.docker._spec import MOUNT_BUSYBOX, MOUNT_SHELL

CTL = "ctl"
EVENTS = "events"
SHELL = "shell"  # the shell the launcher chose, kept for exec mode after a restart of horae
SPEC = "spec"  # in the attempt dir; its first line is the run's record: "# <container id> <image digest>"
OOM = "oom"
# Variables Docker or the shell add to a process's environment; a run gets them only if it names them
# (or the image's ENV does), so its environment is what the job says.
_AMBIENT = ("HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL")


@dataclass(eq=False, slots=True)
class Watch:
    """An attempt this runtime is watching (mutable bookkeeping, not a value)."""

    run_id: str
    attempt: int
    directory: Path
    rel: str  # "<ms>/<attempt>": the attempt's path under the job directory, on both sides
    box: Box
    started: asyncio.Future[int]
    pid: int | None = None  # the command, in the container's pid namespace; also the run's process group
    stopping: ExitKind | None = None
    pending_signal: str = ""
    announced: bool = False  # RunStarted was delivered; until then an outcome waits in `final`
    refused: bool = False  # its runner found the attempt taken and ran nothing
    final: RunFinished | RunLost | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Box:
    """One container with a launcher: a job's warm container, or one run's fresh container."""

    id: str
    job: str
    key: str  # the spec key it was created for
    mode: ContainerMode
    launcher_dir: Path  # on the host: ctl and events FIFOs
    image: str  # the digest runs record
    image_env: frozenset[str]  # names the image's ENV sets
    ready: asyncio.Future[None]
    ctl: int = -1
    events: int = -1
    shell: str = ""
    alive: bool = True
    retiring: bool = False  # removed once its last attempt ends
    removing: bool = False  # horae asked the engine to remove it
    launched: int = 0
    watches: dict[str, Watch] = field(default_factory=dict)
    buffer: bytes = b""
    outbox: bytearray = field(default_factory=bytearray)  # command lines not yet written to `ctl`
    flushing: bool = False  # a write of the outbox is due (this loop turn, or when `ctl` drains)
    waiting_to_write: bool = False  # `ctl` was full: the loop calls back once it can take more
    idle_timer: asyncio.TimerHandle | None = None

    @property
    def short(self) -> str:
        return self.id[:12]


def make_launcher_dir(directory: Path) -> None:
    directory.mkdir(parents=True)
    os.mkfifo(directory / CTL, 0o600)
    os.mkfifo(directory / EVENTS, 0o600)


def open_fifos(box: Box) -> None:
    """Both FIFOs read-write and non-blocking: opening never waits for the other side."""
    box.ctl = os.open(box.launcher_dir / CTL, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    box.events = os.open(box.launcher_dir / EVENTS, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


def close_fifos(box: Box) -> None:
    for fd in (box.ctl, box.events):
        if fd >= 0:
            os.close(fd)
    box.ctl = box.events = -1


def remove_launcher_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def read_events(box: Box) -> list[list[str]]:
    """Every complete line waiting in the events FIFO, split into words."""
    chunks = [box.buffer]
    while box.events >= 0:
        try:
            data = os.read(box.events, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
        if len(data) < 65536:
            break  # drained for now: the loop calls again when more comes (one read per wake-up)
    data = b"".join(chunks)
    complete, _, box.buffer = data.rpartition(b"\n")
    return [line.split() for line in complete.decode(errors="replace").splitlines() if line.strip()]


def spec_script(launch: Launch, image_env: frozenset[str]) -> str:
    """The attempt's `spec`, sourced by the runner: its argv (after the runner's two own parameters)
    and its environment (the image's ENV with the launch's variables over it). Names that are not shell
    names go through busybox `env`; another user through busybox `su` (environment preserved)."""
    argv = list(launch.argv)
    names = {name for name, _ in launch.environment}
    unset = [name for name in _AMBIENT if name not in names and name not in image_env]
    exports = []
    odd = []
    for name, value in launch.environment:
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise LaunchFailed(f"invalid environment variable {name!r}")
        if name.isidentifier() and name.isascii():
            exports.append(f"export {name}={shlex.quote(value)}")
        else:
            odd.append(f"{name}={value}")
    if launch.user and launch.user != "root":
        argv = [MOUNT_BUSYBOX, "su", "-p", "-s", MOUNT_SHELL, launch.user, "-c", 'exec "$0" "$@"', *argv]
    if odd:
        argv = [MOUNT_BUSYBOX, "env", *odd, *argv]
    words = " ".join(shlex.quote(word) for word in argv)
    return "\n".join([f'set -- "$1" "$2" {words}', f"unset {' '.join(unset)}", *exports, ""])


def write_file(path: Path, text: str, *, exclusive: bool = True) -> None:
    """Write `text` to a new file (`exclusive`: FileExistsError if it exists), or replace its content."""
    how = os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | how | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def cancel_timers(watch: Watch) -> None:
    for timer in watch.timers:
        timer.cancel()
    watch.timers.clear()


def close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
