"""The `process` runtime: each attempt is a process tree on this host, under a small sh supervisor.

Crash safety: the supervisor (not the server) is the command's parent and writes its exit status to the
attempt directory, so a run outlives a `kill -9` of the server and its outcome is still read after the
restart. Liveness is the supervisor's flock on the attempt's lock file, which a reused pid cannot fake.
See `_attempt.py` for the files and `_supervisor.sh` for the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import ClassVar

from horae.model import ExitKind, Launch, RunEvent, RunLost, RunStarted
from horae.runtime import _attempt, _stopping
from horae.runtime._abc import DEFAULT_GRACE, LaunchFailed, RunEventSink, Runtime
from horae.runtime._underway import UnderWay

log = logging.getLogger("horae.runtime.process")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_SUPERVISOR = "\n".join(
    line
    for line in files("horae.runtime").joinpath("_supervisor.sh").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
)
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PID_WAIT = 2.0  # seconds a live supervisor gets to write its pid file (it does so within milliseconds)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Supervisor(subprocess.Popen[bytes]):
    """A supervisor outlives this object, and the server, by design: it is reaped through its pidfd.

    Popen rather than posix_spawn: it closes inherited descriptors, restores SIGPIPE and SIGXFSZ, and
    leaves glibc's internal signals alone (glibc's posix_spawn leaves them ignored in the child).
    """

    def __del__(self) -> None:  # no "still running" warning: that is the point
        pass


@dataclass(eq=False, slots=True)
class _Watch:
    """An attempt this runtime is watching (mutable bookkeeping, not a value)."""

    run_id: str
    attempt: int
    directory: Path
    pid: int  # the supervisor; also the run's process group
    pidfd: int
    stopping: ExitKind | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class ProcessRuntime(Runtime):
    """Runs each attempt as `argv` in its own session and process group on this host.

    - environment: exactly `Launch.environment`, plus `PATH=DEFAULT_PATH` when it has no PATH; nothing
      of the server's own environment is inherited;
    - working directory: `<attempt dir>/work`; stdin: /dev/null; stdout and stderr: `output.log`;
    - `Launch.user` is switched to (with setpriv) only when it differs from ours and we are root;
    - `Launch.timeout` is enforced here: TERM the group, KILL after `timeout_grace` (TIMED_OUT).

    Never reports an outcome it did not observe: every RunFinished comes from the supervisor's status
    file, or from a stop horae asked for; anything else is RunLost.
    """

    name: ClassVar[str] = "process"

    def __init__(
        self,
        run_dir: Path,
        *,
        timeout_grace: timedelta = DEFAULT_GRACE,
        shell: str = "/bin/sh",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.run_dir = Path(os.path.abspath(run_dir))
        self.timeout_grace = timeout_grace
        self._shell = shell
        self._clock = clock
        self._sink: RunEventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[str, _Watch] = {}
        self._under_way = UnderWay()
        self._devnull = -1
        self._attempts = _attempt.Preparer(self.run_dir)
        self._uid = os.geteuid()
        self._user = pwd.getpwuid(self._uid).pw_name if _has_passwd_entry(self._uid) else str(self._uid)

    async def start(self, sink: RunEventSink) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        if self._devnull < 0:
            self._devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)

    def prepare(self, launch: Launch) -> None:
        if launch.argv:
            self._attempts.prepare(launch.run_id, launch.attempt)

    async def launch(self, launch: Launch) -> None:
        self._running_loop()
        if not launch.argv:
            raise LaunchFailed("empty argv")
        current = self._watches.get(launch.run_id)
        with self._under_way.launching(launch, current.attempt if current is not None else None):
            await self._launch(launch)

    async def _launch(self, launch: Launch) -> None:
        loop = self._running_loop()
        env, argv, pwd_args = _command(launch)
        switch = self._user_switch(launch.user)
        try:
            directory, _ = await self._attempts.ready(launch.run_id, launch.attempt)
        except FileExistsError:
            raise _attempt.already_launched(launch) from None
        except OSError as e:
            raise LaunchFailed(f"cannot make the attempt's directory: {e}") from None
        if switch:
            os.chown(directory / _attempt.WORK, switch[0], switch[1])
            argv = [*_setpriv(switch), *argv]
        if launch.timeout is not None:
            deadline = time.monotonic() + launch.timeout.total_seconds()
            _attempt.write_line(directory / _attempt.DEADLINE, f"{deadline:.6f}")
        try:
            pid = self._spawn(directory, [str(directory), *pwd_args, *argv], env)
        except FileExistsError:
            raise _attempt.already_launched(launch) from None
        watch = _Watch(launch.run_id, launch.attempt, directory, pid, os.pidfd_open(pid))
        self._watch(watch)
        if launch.timeout is not None:
            watch.timers.append(
                loop.call_later(launch.timeout.total_seconds(), self._stop, watch, ExitKind.TIMED_OUT, None)
            )
        self._kill_if_asked(watch)
        self._emit(RunStarted(launch.run_id, launch.attempt, self._clock(), detail=f"pid {pid}"))

    def _spawn(self, directory: Path, args: list[str], env: dict[str, str]) -> int:
        """Start the supervisor in its own session, holding the attempt's lock from before it exists."""
        # Created exclusively: the mark that the attempt was launched.
        state = os.open(directory / _attempt.STATE, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(state, fcntl.LOCK_EX)
            output = os.open(
                directory / _attempt.OUTPUT, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
            )
            try:
                return _Supervisor(
                    [self._shell, "-c", _SUPERVISOR, "horae-supervisor", *args],
                    stdin=state,
                    stdout=output,
                    stderr=self._devnull,
                    env=env,
                    start_new_session=True,
                ).pid
            except OSError as e:
                os.write(output, f"horae: cannot start the supervisor {self._shell}: {e}\n".encode())
                raise LaunchFailed(f"cannot start the supervisor: {e}") from e
            finally:
                os.close(output)
        finally:
            os.close(state)

    def _user_switch(self, user: str) -> tuple[int, int] | None:
        if not user or user == self._user:
            return None
        if self._uid != 0:
            log.debug("not root: running %r as %s, not as %r", user, self._user, user)
            return None
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise LaunchFailed(f"unknown user {user!r}") from None
        return entry.pw_uid, entry.pw_gid

    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        watch = self._watches.get(run_id)
        if watch is not None:
            self._stop(watch, ExitKind.KILLED, grace)
        else:
            self._under_way.ask_kill(run_id, grace)  # carried out as soon as the launch watches it

    def _kill_if_asked(self, watch: _Watch) -> None:
        """A kill that came while the launch was under way: carried out now that the run is watched."""
        grace = self._under_way.kill_asked(watch.run_id)
        if grace is not None:
            self._stop(watch, ExitKind.KILLED, grace)

    def _stop(self, watch: _Watch, kind: ExitKind, grace: timedelta | None) -> None:
        """TERM the group now and KILL it after the grace; recorded first, so a restart knows why."""
        if self._watches.get(watch.run_id) is not watch:
            return
        seconds = (self.timeout_grace if grace is None else grace).total_seconds()
        _stopping.stop(self._running_loop(), watch, kind, seconds, partial(self._signal, watch))

    @staticmethod
    def _signal(watch: _Watch, sig: signal.Signals) -> None:
        # The supervisor leads the group; once it has exited its pid may be reused, so ask the pidfd first.
        if _exited(watch.pidfd):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(watch.pid, sig)

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        self._running_loop()
        for run_id, attempt in open_runs:
            current = self._watches.get(run_id)
            if (current is not None and current.attempt == attempt) or run_id in self._under_way:
                continue  # watched, or being launched: that launch reports how it went
            event = await self._recover(run_id, attempt)
            self._emit(event)

    async def _recover(self, run_id: str, attempt: int) -> RunEvent:
        """The truth about an attempt from its directory: adopt it if its supervisor lives."""
        self._attempts.forget(run_id, attempt)  # reconciled, not launched: what was prepared is stale
        directory = _attempt.attempt_dir(self.run_dir, run_id, attempt)
        held = _attempt.lock_held(directory)
        if held is None:
            _attempt.claim(directory)  # prepared but never started: and never will be
            return RunLost(run_id, attempt, self._clock(), f"no trace of this attempt in {self.run_dir}")
        if held:
            pid = await _wait_for_pid(directory)
            if pid is None:
                return RunLost(run_id, attempt, self._clock(), "the supervisor is alive but wrote no pid")
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                pidfd = -1
            # Still held after opening the pidfd: the pid was the live supervisor's, not a reused one.
            if pidfd >= 0 and _attempt.lock_held(directory):
                return self._adopt(run_id, attempt, directory, pid, pidfd)
            if pidfd >= 0:
                os.close(pidfd)
        return _attempt.outcome(run_id, attempt, directory, self._clock())

    def _adopt(self, run_id: str, attempt: int, directory: Path, pid: int, pidfd: int) -> RunStarted:
        loop = self._running_loop()
        watch = _Watch(run_id, attempt, directory, pid, pidfd)
        self._watch(watch)
        stop = _attempt.read_stop(directory)
        deadline = _attempt.read_float(directory / _attempt.DEADLINE)
        if stop is not None:
            _stopping.resume(loop, watch, stop, partial(self._signal, watch))
        elif deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            watch.timers.append(loop.call_later(delay, self._stop, watch, ExitKind.TIMED_OUT, None))
        started = datetime.fromtimestamp((directory / _attempt.STATE).stat().st_mtime, UTC)
        return RunStarted(run_id, attempt, started, detail=f"pid {pid} (adopted)")

    def _watch(self, watch: _Watch) -> None:
        self._watches[watch.run_id] = watch
        self._running_loop().add_reader(watch.pidfd, self._on_exit, watch)

    def _on_exit(self, watch: _Watch) -> None:
        self._unwatch(watch)
        killed_by = _supervisor_signal(watch.pidfd)
        event = _attempt.outcome(watch.run_id, watch.attempt, watch.directory, self._clock(), killed_by)
        if isinstance(event, RunLost):
            # The supervisor vanished (killed from outside): take the rest of the run down with it, so
            # a lost attempt is not left running beside the next one. Its zombie still holds the pgid.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(watch.pid, signal.SIGKILL)
        # An adopted supervisor is not our child (ChildProcessError): its parent, init, reaps it.
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PIDFD, watch.pidfd, os.WEXITED | os.WNOHANG)
        os.close(watch.pidfd)
        self._emit(event)

    def _unwatch(self, watch: _Watch) -> None:
        self._running_loop().remove_reader(watch.pidfd)
        for timer in watch.timers:
            timer.cancel()
        if self._watches.get(watch.run_id) is watch:
            del self._watches[watch.run_id]

    async def close(self) -> None:
        for watch in list(self._watches.values()):
            self._unwatch(watch)
            os.close(watch.pidfd)
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1
        self._attempts.close()
        self._sink = None

    def log_path(self, run_id: str, attempt: int) -> Path | None:
        path = _attempt.attempt_dir(self.run_dir, run_id, attempt) / _attempt.OUTPUT
        return path if path.exists() else None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._sink is None:
            raise RuntimeError("ProcessRuntime used before start() or after close()")
        return self._loop

    def _emit(self, event: RunEvent) -> None:
        if self._sink is not None:
            self._sink(event)


def _command(launch: Launch) -> tuple[dict[str, str], list[str], list[str]]:
    """The supervisor's environment, the argv it runs, and its PWD/OLDPWD arguments.

    The shell drops variables whose names are not shell names and adds PWD/OLDPWD; when the environment
    has such names, `env -i` rebuilds it exactly (one more exec), else the supervisor restores PWD/OLDPWD.
    """
    env = dict(launch.environment)
    env.setdefault("PATH", DEFAULT_PATH)
    bad = [name for name in env if not name or "=" in name or "\0" in name]
    if bad:
        raise LaunchFailed(f"invalid environment variable names: {bad!r}")
    if all(_SHELL_NAME.match(name) for name in env):
        pwd_args = [f"={env[name]}" if name in env else "" for name in ("PWD", "OLDPWD")]
        return env, list(launch.argv), pwd_args
    if "=" in launch.argv[0]:
        raise LaunchFailed("argv[0] contains '=' and the environment needs env(1)")
    env_tool = shutil.which("env", path=DEFAULT_PATH)
    if env_tool is None:
        raise LaunchFailed("env(1) not found, needed for variable names that are not shell names")
    pairs = [f"{name}={value}" for name, value in env.items()]
    return {}, [env_tool, "-i", "--", *pairs, *launch.argv], ["", ""]


def _setpriv(ids: tuple[int, int]) -> list[str]:
    tool = shutil.which("setpriv", path=DEFAULT_PATH)
    if tool is None:
        raise LaunchFailed("setpriv(1) not found, needed to switch users")
    return [tool, f"--reuid={ids[0]}", f"--regid={ids[1]}", "--init-groups", "--"]


async def _wait_for_pid(directory: Path) -> int | None:
    # Polling: the pid is written by another process, nothing here could signal an Event.
    give_up = time.monotonic() + _PID_WAIT
    while (pid := _pid(directory)) is None and time.monotonic() < give_up:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    return pid


def _pid(directory: Path) -> int | None:
    state = _attempt.read_state(directory)
    return state.pid if state else None


def _supervisor_signal(pidfd: int) -> int | None:
    """The signal that ended the supervisor, when it is our child (peeked at, not reaped)."""
    try:
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if info is not None and info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return info.si_status
    return None


def _exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _has_passwd_entry(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
