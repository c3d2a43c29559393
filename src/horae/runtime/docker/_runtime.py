"""The `docker` runtime: one warm container per job, each run started inside it by the launcher.

The launcher (`_launcher.sh`) is the container's main process under Docker's init; the host talks to
it through two FIFOs in the job's run directory, which is mounted into the container: `ctl` carries
"start this attempt" and "signal that group", `events` carries "ready", "started" and "exited". No
engine call is on a warm run's path. Each attempt is supervised by `_runner.sh`, which leaves its pid,
output and exit status in the attempt directory (the same layout as the process runtime), so the
files are the record and a restarted horae collects what finished while it was away.

Containers are found by label (`horae.home` = this runtime's run directory), never by name, and
watched through the engine's event stream: a container that dies or is removed ends its open runs
at once (`RunLost`, or the outcome its files recorded). Modes: `warm` (the launcher starts runs),
`exec` (`docker exec` per run into the same warm container) and `fresh` (a new container per run,
removed after it); all three run the same runner, so a job behaves the same in each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import select
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from horae.model import Container, ContainerMode, ExitKind, Launch, RunEvent, RunFinished, RunLost, RunStarted
from horae.runtime import _attempt, _stopping
from horae.runtime._abc import DEFAULT_GRACE, LaunchFailed, RunEventSink, Runtime
from horae.runtime._underway import UnderWay
from horae.runtime.docker import _box
from horae.runtime.docker._box import Box, Watch
from horae.runtime.docker._engine import DEFAULT_SOCKET, Engine, EngineError
from horae.runtime.docker._limits import host_limit_warnings
from horae.runtime.docker._spec import (
    LABEL_CONFIG,
    LABEL_HOME,
    LABEL_JOB,
    LABEL_MODE,
    LABEL_RUN,
    LABEL_TOKEN,
    MOUNT_BUSYBOX,
    MOUNT_JOB,
    RUNNER,
    ContainerSpec,
    container_spec,
    create_body,
    mode_of,
)

log = logging.getLogger("horae.runtime.docker")

LABEL_KEY = "horae.key"
LABEL_DIGEST = "horae.image"
LABEL_IMAGE_ENV = "horae.image-env"
LAUNCHERS = ".launcher"  # under a job's run directory: one directory of FIFOs per container
DEFAULT_BUSYBOX = "/bin/busybox"
_PIPE_BUF = select.PIPE_BUF  # a FIFO write of at most this many bytes is all or nothing
READY_TIMEOUT = 60.0  # seconds for a new container's launcher to say it is ready
START_TIMEOUT = 30.0  # seconds for a runner to report its attempt started


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DockerRuntime(Runtime):
    """Runs each attempt in the job's container (see the module docstring).

    - `default_mode`: for jobs whose container names no mode;
    - `recycle_after_runs` / `recycle_idle`: replace a warm container after that many runs, or remove
      it after that long without runs (both off by default: a warm container lives as long as its job);
    - `cpu_quota`: also cap the container at `cpus` CPUs (by default `cpus` are CPU shares, as in Mesos);
    - `busybox`: the host's static busybox, mounted into every container (setsid, su, and the shell of
      images that have none);
    - `default_container`: where launches that name no container run (None: they are refused).
    """

    name: ClassVar[str] = "docker"

    def __init__(
        self,
        run_dir: Path,
        *,
        socket: str = DEFAULT_SOCKET,
        default_mode: ContainerMode = ContainerMode.WARM,
        timeout_grace: timedelta = DEFAULT_GRACE,
        recycle_after_runs: int | None = None,
        recycle_idle: timedelta | None = None,
        cpu_quota: bool = False,
        busybox: str = DEFAULT_BUSYBOX,
        default_container: Container | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.run_dir = Path(os.path.abspath(run_dir))
        self.socket = socket
        self.default_mode = default_mode
        self.timeout_grace = timeout_grace
        self.recycle_after_runs = recycle_after_runs
        self.recycle_idle = recycle_idle
        self.cpu_quota = cpu_quota
        self.busybox = busybox
        self.default_container = default_container
        self.containers_created = 0
        self._clock = clock
        self._attempts = _attempt.Preparer(self.run_dir)
        self._engine: Engine | None = None
        self._sink: RunEventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._boxes: dict[str, Box] = {}  # by container id
        self._warm: dict[str, Box] = {}  # by job: the container new runs go to
        self._watches: dict[str, Watch] = {}  # by run id
        self._under_way = UnderWay()
        self._locks: dict[str, asyncio.Lock] = {}
        self._creating: set[str] = set()  # launcher tokens of containers being created
        self._images: dict[str, tuple[str, str, frozenset[str]]] = {}  # reference -> (id, digest, env)
        self._specs: dict[tuple[Container | None, float, float], ContainerSpec] = {}
        self._synced: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- life cycle

    async def start(self, sink: RunEventSink) -> None:
        """Connect, warn about host limits, subscribe to the engine's events, adopt this horae's
        running containers and remove its dead ones. Raises `EngineError` when the engine is not there."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not _is_static(self.busybox):
            raise LaunchFailed(f"{self.busybox} is not a static busybox (install busybox-static)")
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._engine = Engine(self.socket)
        if not await self._engine.ping():
            await self._engine.close()
            self._engine = None
            raise EngineError(0, f"no Docker engine answers at {self.socket}")
        for warning in host_limit_warnings():
            log.warning("host limit: %s", warning)
        self._synced = asyncio.Event()
        self._watcher = asyncio.create_task(self._watch_engine())
        synced = asyncio.create_task(self._synced.wait())
        await asyncio.wait([synced, self._watcher], return_when=asyncio.FIRST_COMPLETED)
        if not synced.done():
            synced.cancel()
            raise EngineError(0, "could not subscribe to the engine's events")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        for watch in list(self._watches.values()):
            _box.cancel_timers(watch)
        for box in self._boxes.values():
            self._detach(box)
        self._boxes.clear()
        self._warm.clear()
        self._watches.clear()
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
        self._attempts.close()
        self._sink = None

    def log_path(self, run_id: str, attempt: int) -> Path | None:
        path = _attempt.attempt_dir(self.run_dir, run_id, attempt) / _attempt.OUTPUT
        return path if path.exists() else None

    def has_attempt(self, run_id: str, attempt: int) -> bool:
        """Whether the attempt belongs to this runtime: watched, being launched, or its directory is
        here (made for a launch here, which may not have come)."""
        return (
            run_id in self._watches
            or run_id in self._under_way
            or _attempt.attempt_dir(self.run_dir, run_id, attempt).exists()
        )

    # ---- launching

    async def launch(self, launch: Launch) -> None:
        self._running_loop()
        launch = self._with_container(launch)
        current = self._watches.get(launch.run_id)
        with self._under_way.launching(launch, current.attempt if current is not None else None):
            await self._launch(launch)

    async def _launch(self, launch: Launch) -> None:
        spec = self._spec(launch)
        assert launch.container is not None  # container_spec refuses launches without one
        mode = mode_of(launch.container, self.default_mode)
        directory, spec_for = await self._ready(launch)
        try:
            if mode is ContainerMode.FRESH:
                box = await self._create_box(
                    launch.job, spec, launch.container.force_pull_image, mode, run=launch.run_id
                )
            else:
                box = await self._warm_box(launch.job, spec, launch.container.force_pull_image)
            script = "" if spec_for == box.id else _spec_text(box, launch)
        except LaunchFailed as e:
            _attempt.claim(directory)
            _note(directory, f"horae: {e.reason}")
            raise
        deadline = None if launch.timeout is None else time.monotonic() + launch.timeout.total_seconds()
        if script or deadline is not None or (launch.user and launch.user != "root"):
            await self._attempts.run(lambda: _finish_files(directory, script, deadline, launch.user))
        if not box.alive:  # it died while the files were written: its end found no watch to end
            _attempt.claim(directory)
            raise LaunchFailed(f"container {box.short} is gone")
        rel = f"{directory.parent.name}/{directory.name}"
        watch = Watch(
            launch.run_id, launch.attempt, directory, rel, box, self._running_loop().create_future()
        )
        box.watches[rel] = watch
        box.launched += 1
        self._watches[launch.run_id] = watch
        self._kill_if_asked(watch)
        if box.idle_timer is not None:
            box.idle_timer.cancel()
            box.idle_timer = None
        try:
            if mode is ContainerMode.EXEC:
                await self._exec(box, rel)
            else:
                self._send(box, f"r {rel}\n")
            pid = await asyncio.wait_for(asyncio.shield(watch.started), START_TIMEOUT)
            if watch.refused:
                raise LaunchFailed("the attempt was already launched (its runner found it taken)")
        except (TimeoutError, EngineError) as e:
            if not _attempt.claim(directory):
                pid = await watch.started  # the runner has it after all
                if watch.refused:
                    raise LaunchFailed(
                        "the attempt was already launched (its runner found it taken)"
                    ) from None
            else:
                self._forget(watch)
                reason = "the launcher did not start it" if isinstance(e, TimeoutError) else str(e)
                raise LaunchFailed(f"{reason} (container {box.short})") from None
        # LaunchFailed from the future: the container died before the run started.
        if launch.timeout is not None and watch.stopping is None and watch.final is None:
            watch.timers.append(
                self._running_loop().call_later(
                    launch.timeout.total_seconds(), self._stop, watch, ExitKind.TIMED_OUT, None
                )
            )
        detail = f"container {box.short} ({mode.value}) image {box.image} runner pid {pid}"
        self._announce(watch, RunStarted(launch.run_id, launch.attempt, self._clock(), detail=detail))

    def prepare(self, launch: Launch) -> None:
        """Make the attempt's directories ahead of its launch, and write its spec when the job's warm
        container is already there (the usual case: then the launch itself touches no file)."""
        try:
            launch = self._with_container(launch)
            spec = self._spec(launch)
        except LaunchFailed:
            return  # the launch will say why
        assert launch.container is not None
        box = self._warm.get(launch.job)
        if mode_of(launch.container, self.default_mode) is ContainerMode.FRESH:
            box = None
        then = None
        if box is not None and self._usable(box, spec):
            with contextlib.suppress(LaunchFailed):
                then = functools.partial(_write_spec, box_id=box.id, text=_spec_text(box, launch))
        self._attempts.prepare(launch.run_id, launch.attempt, then)

    def _with_container(self, launch: Launch) -> Launch:
        if not launch.argv:
            raise LaunchFailed("empty argv")
        if launch.container is None and self.default_container is not None:
            return dataclasses.replace(launch, container=self.default_container)
        return launch

    async def _ready(self, launch: Launch) -> tuple[Path, str]:
        """The attempt's directory, made now or by `prepare`, and the container whose spec `prepare`
        wrote there (""); refused if the attempt was launched already."""
        try:
            return await self._attempts.ready(launch.run_id, launch.attempt)
        except FileExistsError:
            raise _attempt.already_launched(launch) from None
        except OSError as e:
            raise LaunchFailed(f"cannot make the attempt's directory: {e}") from None

    def _announce(self, watch: Watch, started: RunStarted) -> None:
        """Deliver RunStarted, then the outcome if the attempt already ended (RunStarted comes first)."""
        self._emit(started)
        watch.announced = True
        if watch.final is not None:
            self._emit(watch.final)
            self._after_run(watch.box)

    def _spec(self, launch: Launch) -> ContainerSpec:
        cache_key = (launch.container, launch.cpus, launch.mem)
        spec = self._specs.get(cache_key)
        if spec is None:
            spec = container_spec(launch, cpu_quota=self.cpu_quota)
            if len(self._specs) > 10_000:
                self._specs.clear()
            self._specs[cache_key] = spec
        return spec

    async def _warm_box(self, job: str, spec: ContainerSpec, force_pull: bool) -> Box:
        """The job's warm container, created (or replaced, when its config changed) if needed."""
        box = self._warm.get(job)
        if box is not None and self._usable(box, spec):
            return box  # the hot path: no engine call
        async with self._locks.setdefault(job, asyncio.Lock()):
            box = self._warm.get(job)
            if box is not None and self._usable(box, spec):
                return box
            if box is not None:
                self._warm.pop(job, None)
                self._retire_box(box)
            box = await self._create_box(job, spec, force_pull, ContainerMode.WARM)
            self._warm[job] = box
            return box

    def _usable(self, box: Box, spec: ContainerSpec) -> bool:
        recycled = self.recycle_after_runs is not None and box.launched >= self.recycle_after_runs
        return box.alive and not box.retiring and box.key == spec.key and not recycled

    async def _create_box(
        self, job: str, spec: ContainerSpec, force_pull: bool, mode: ContainerMode, *, run: str = ""
    ) -> Box:
        engine = self._running_engine()
        image_id, digest, image_env = await self._image(spec.image, force_pull)
        token = secrets.token_hex(8)
        job_dir = _job_dir(self.run_dir, job)
        launcher_dir = job_dir / LAUNCHERS / token
        _box.make_launcher_dir(launcher_dir)
        labels = {
            LABEL_HOME: str(self.run_dir),
            LABEL_JOB: job,
            LABEL_CONFIG: spec.config_hash(image_id),
            LABEL_KEY: spec.key,
            LABEL_DIGEST: digest,
            LABEL_IMAGE_ENV: " ".join(sorted(image_env)),
            LABEL_TOKEN: token,
            LABEL_MODE: "fresh" if run else "warm",
        }
        if run:
            labels[LABEL_RUN] = run
        body = create_body(
            spec,
            image_id=image_id,
            job_dir=str(job_dir),
            busybox=self.busybox,
            launcher_dir=f"{MOUNT_JOB}/{LAUNCHERS}/{token}",
            labels=labels,
        )
        self._creating.add(token)
        try:
            try:
                created = await engine.call("POST", "/containers/create", body=body)
            except EngineError as e:
                _box.remove_launcher_dir(launcher_dir)
                raise LaunchFailed(f"cannot create a container for {job}: {e.message}") from None
            self.containers_created += 1
            ready = self._running_loop().create_future()
            box = Box(created["Id"], job, spec.key, mode, launcher_dir, digest, image_env, ready)
            self._attach(box)
        finally:
            self._creating.discard(token)
        try:
            await engine.call("POST", f"/containers/{box.id}/start")
            await asyncio.wait_for(asyncio.shield(box.ready), READY_TIMEOUT)
        except (EngineError, TimeoutError, LaunchFailed) as e:
            reason = e.reason if isinstance(e, LaunchFailed) else str(e) or "its launcher never became ready"
            self._spawn(self._remove_box(box, "its launcher failed"))
            raise LaunchFailed(f"container for {job} did not start: {reason}") from None
        log.info("created %s container %s for %s (image %s)", mode.value, box.short, job, digest)
        return box

    async def _image(self, reference: str, force_pull: bool) -> tuple[str, str, frozenset[str]]:
        """The image's id, the digest runs record and the names its ENV sets; pulled when forced or missing."""
        engine = self._running_engine()
        cached = self._images.get(reference)
        if cached is not None and not force_pull:
            return cached
        info = None if force_pull else await engine.call("GET", f"/images/{reference}/json", ok_missing=True)
        if info is None:
            try:
                await engine.pull(reference)
            except EngineError as e:
                raise LaunchFailed(f"cannot pull image {reference}: {e.message}") from None
            info = await engine.call("GET", f"/images/{reference}/json", ok_missing=True)
            if info is None:
                raise LaunchFailed(f"image {reference} is missing after its pull")
        digests = info.get("RepoDigests") or []
        env = frozenset(item.partition("=")[0] for item in (info.get("Config") or {}).get("Env") or [])
        resolved = (str(info["Id"]), str(digests[0]) if digests else str(info["Id"]), env)
        self._images[reference] = resolved
        return resolved

    async def _exec(self, box: Box, rel: str) -> None:
        engine = self._running_engine()
        events = f"{MOUNT_JOB}/{LAUNCHERS}/{box.launcher_dir.name}/{_box.EVENTS}"
        command = [MOUNT_BUSYBOX, "setsid", box.shell or "/bin/sh", "-c", RUNNER, "horae-run"]
        body = {"Cmd": [*command, f"{MOUNT_JOB}/{rel}", events], "AttachStdout": False, "AttachStderr": False}
        created = await engine.call("POST", f"/containers/{box.id}/exec", body=body)
        await engine.call("POST", f"/exec/{created['Id']}/start", body={"Detach": True})

    # ---- stopping

    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        watch = self._watches.get(run_id)
        if watch is not None:
            self._stop(watch, ExitKind.KILLED, grace)
        else:
            self._under_way.ask_kill(run_id, grace)  # carried out as soon as the launch watches it

    def _kill_if_asked(self, watch: Watch) -> None:
        """A kill that came while the launch was under way: carried out now that the run is watched."""
        grace = self._under_way.kill_asked(watch.run_id)
        if grace is not None:
            self._stop(watch, ExitKind.KILLED, grace)

    def _stop(self, watch: Watch, kind: ExitKind, grace: timedelta | None) -> None:
        """TERM the run's group now, KILL it after the grace (see `_stopping`)."""
        if self._watches.get(watch.run_id) is watch:
            seconds = (self.timeout_grace if grace is None else grace).total_seconds()
            _stopping.stop(self._running_loop(), watch, kind, seconds, self._sender(watch))

    def _sender(self, watch: Watch) -> _stopping.Send:
        return lambda sig: self._signal(watch, sig.name.removeprefix("SIG"))

    def _signal(self, watch: Watch, signal_name: str) -> None:
        if watch.pid is None:
            watch.pending_signal = signal_name  # sent once the runner reports the command's group
        elif watch.box.alive:
            self._send(watch.box, f"k {signal_name} {watch.pid}\n")

    # ---- retiring containers

    async def retire(self, job: str) -> None:
        """The job was deleted or disabled: remove its warm container (once its open runs have ended)."""
        box = self._warm.pop(job, None)
        if box is not None:
            self._retire_box(box)

    async def retain(self, jobs: Collection[str]) -> None:
        """Remove the warm containers of jobs not in `jobs` (the server calls it after a restart)."""
        for job in [job for job in self._warm if job not in jobs]:
            await self.retire(job)

    def containers(self) -> dict[str, str]:
        """The live containers this runtime uses: container id -> job."""
        return {box.id: box.job for box in self._boxes.values() if box.alive}

    def _retire_box(self, box: Box) -> None:
        box.retiring = True
        if not box.watches:
            self._spawn(self._remove_box(box, "retired"))

    async def _remove_box(self, box: Box, why: str) -> None:
        box.removing = True
        if self._warm.get(box.job) is box:
            del self._warm[box.job]
        log.info("removing container %s of %s: %s", box.short, box.job, why)
        with contextlib.suppress(EngineError):
            await self._running_engine().call(
                "DELETE", f"/containers/{box.id}", params={"force": "1"}, ok_missing=True
            )
        self._gone(box, f"container {box.short} was removed by horae ({why})")

    # ---- run events from the launcher

    def _attach(self, box: Box) -> None:
        _box.open_fifos(box)
        self._boxes[box.id] = box
        self._running_loop().add_reader(box.events, self._on_events, box)

    def _detach(self, box: Box) -> None:
        if box.events >= 0:
            self._running_loop().remove_reader(box.events)
        if box.waiting_to_write and box.ctl >= 0:
            self._running_loop().remove_writer(box.ctl)
            box.waiting_to_write = False
        _box.close_fifos(box)
        if box.idle_timer is not None:
            box.idle_timer.cancel()

    def _send(self, box: Box, line: str) -> None:
        """Queue a command line for the launcher; what a loop turn queues goes in one write."""
        if box.ctl < 0:
            return
        box.outbox += line.encode()
        if not box.flushing:
            box.flushing = True
            self._running_loop().call_soon(self._flush, box)

    def _flush(self, box: Box) -> None:
        """Write the queued lines, whole lines at most PIPE_BUF bytes at a time (each write all or
        nothing, so the launcher never holds half a line); when the FIFO is full, wait until it drains."""
        if box.ctl < 0:  # detached (gone, or the runtime closed) since the write was queued
            box.flushing = False
            return
        loop = self._running_loop()
        while box.outbox and box.ctl >= 0:
            end = box.outbox.rfind(b"\n", 0, _PIPE_BUF) + 1 or box.outbox.find(b"\n") + 1
            try:
                os.write(box.ctl, bytes(box.outbox[:end]))
            except BlockingIOError:
                if not box.waiting_to_write:
                    box.waiting_to_write = True
                    loop.add_writer(box.ctl, self._flush, box)
                return
            del box.outbox[:end]
        if box.waiting_to_write:
            box.waiting_to_write = False
            if box.ctl >= 0:
                loop.remove_writer(box.ctl)
        box.flushing = False

    def _on_events(self, box: Box) -> None:
        for words in _box.read_events(box):
            kind = words[0]
            if kind == "ready" and len(words) >= 3:
                box.shell = words[2]
                with contextlib.suppress(OSError):
                    _box.write_file(box.launcher_dir / _box.SHELL, box.shell)
                if not box.ready.done():
                    box.ready.set_result(None)
                continue
            watch = box.watches.get(words[1]) if len(words) >= 3 else None
            if watch is None:
                continue  # an attempt nobody here watches (reconciled from its files, or foreign)
            number = int(words[2]) if words[2].isdigit() else None
            # The FIFO lies in the job's directory, which its runs can write to: a line that does not
            # parse is skipped, never allowed to end this callback with the rest of the batch unread.
            if kind == "s" and number is not None:
                if not watch.started.done():
                    watch.started.set_result(number)
            elif kind == "p" and number is not None:
                watch.pid = number
                if watch.pending_signal:
                    self._signal(watch, watch.pending_signal)
            elif kind == "x" and words[2] == "-":
                # This runner found the attempt taken (a claim, or a runner before it): it ran nothing.
                if not watch.announced:
                    watch.refused = True
                    self._forget(watch)
                    if not watch.started.done():
                        watch.started.set_result(0)  # the launch sees `refused` and fails
                else:
                    log.warning(
                        "a runner found %s attempt %d taken after it was reported started",
                        watch.run_id,
                        watch.attempt,
                    )
            elif kind == "x" and number is not None:
                if not watch.started.done():  # the runner can end before the launcher says "s"
                    watch.started.set_result(0)
                self._spawn(self._collect(watch, words[2]))

    async def _collect(self, watch: Watch, status: str) -> None:
        """The runner reported its end and status: read the rest of the outcome (the output's tail) on
        the worker thread, then end the attempt (unless its container's end ended it meanwhile)."""
        known = None
        if status.isdigit():
            stop = None if watch.stopping is None else _attempt.Stop(watch.stopping, 0.0)
            known = (_attempt.State(watch.pid, int(status), self._clock().timestamp()), stop)
        directory = watch.directory
        event = await self._attempts.run(
            lambda: self._outcome_of(watch.run_id, watch.attempt, directory, None, known)
        )
        if self._watches.get(watch.run_id) is watch:
            self._finish(watch, event)

    def _outcome(self, watch: Watch, lost_reason: str | None) -> RunFinished | RunLost:
        return self._outcome_of(watch.run_id, watch.attempt, watch.directory, lost_reason)

    def _outcome_of(
        self,
        run_id: str,
        attempt: int,
        directory: Path,
        lost_reason: str | None,
        known: tuple[_attempt.State, _attempt.Stop | None] | None = None,
    ) -> RunFinished | RunLost:
        """The attempt's outcome from its files (or what is `known` of it); `lost_reason` when they
        recorded none (it vanished)."""
        event = _attempt.outcome(run_id, attempt, directory, self._clock(), known=known)
        if isinstance(event, RunLost) and lost_reason is not None:
            return dataclasses.replace(event, reason=lost_reason)
        if (
            isinstance(event, RunFinished)
            and event.kind is ExitKind.SIGNALED
            and event.signal == 9
            and (directory / _box.OOM).exists()
        ):
            return dataclasses.replace(event, kind=ExitKind.OOM_KILLED)
        return event

    def _finish(self, watch: Watch, event: RunFinished | RunLost) -> None:
        self._forget(watch)
        if not watch.started.done():
            watch.started.set_exception(
                LaunchFailed(event.reason if isinstance(event, RunLost) else "it ended before it started")
            )
            return
        if not watch.announced:
            watch.final = event
            return
        self._emit(event)
        self._after_run(watch.box)

    def _after_run(self, box: Box) -> None:
        """An attempt in `box` ended: remove a fresh or retiring container, recycle a warm one."""
        if box.watches or not box.alive or box.removing:
            return
        if box.mode is ContainerMode.FRESH or box.retiring:
            self._spawn(
                self._remove_box(box, "its run ended" if box.mode is ContainerMode.FRESH else "retired")
            )
        elif self.recycle_after_runs is not None and box.launched >= self.recycle_after_runs:
            self._retire_box(box)
        elif self.recycle_idle is not None:
            box.idle_timer = self._running_loop().call_later(
                self.recycle_idle.total_seconds(), self._idle, box
            )

    def _idle(self, box: Box) -> None:
        box.idle_timer = None
        if not box.watches and box.alive:
            if self._warm.get(box.job) is box:
                del self._warm[box.job]
            self._retire_box(box)

    def _forget(self, watch: Watch) -> None:
        _box.cancel_timers(watch)
        if self._watches.get(watch.run_id) is watch:
            del self._watches[watch.run_id]
        watch.box.watches.pop(watch.rel, None)

    # ---- the engine's view: events, adoption, containers that went away

    async def _watch_engine(self) -> None:
        """Follow the engine's container events for ever, re-subscribing (and re-syncing) after a break
        such as a restart of dockerd."""
        engine = self._running_engine()
        filters = {
            "type": ["container"],
            "label": [f"{LABEL_HOME}={self.run_dir}"],
            "event": ["die", "destroy"],
        }
        backoff = 0.1
        while True:
            try:
                async with engine.events(filters) as stream:
                    await self._sync()  # after subscribing: nothing falls between the list and the stream
                    assert self._synced is not None
                    self._synced.set()
                    backoff = 0.1
                    async for event in stream:
                        self._on_engine_event(event)
            except EngineError as e:
                log.warning("Docker events: %s; re-subscribing in %.1fs", e, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _on_engine_event(self, event: dict[str, Any]) -> None:
        box = self._boxes.get(event.get("id") or event.get("Actor", {}).get("ID", ""))
        if box is None:
            return
        if event.get("Action") == "die":
            code = event.get("Actor", {}).get("Attributes", {}).get("exitCode", "?")
            reason = f"container {box.short} died (exit code {code})"
            if box.removing:
                reason = f"container {box.short} was removed by horae"
            self._gone(box, reason)
            if not box.removing:
                self._spawn(self._remove_box(box, "it died"))
        else:
            self._gone(box, f"container {box.short} was removed")

    async def _sync(self) -> None:
        """Compare what the engine has with what this runtime tracks: adopt running containers of this
        horae, remove dead or unknown ones, end the runs of containers that went away meanwhile."""
        engine = self._running_engine()
        listed = await engine.call(
            "GET",
            "/containers/json",
            params={"all": "1", "filters": f'{{"label": ["{LABEL_HOME}={self.run_dir}"]}}'},
        )
        running = {c["Id"]: c for c in listed if c.get("State") == "running"}
        for box in list(self._boxes.values()):
            if box.id not in running:
                self._gone(box, f"container {box.short} is gone (found while re-syncing with the engine)")
        for container in listed:
            labels = container.get("Labels") or {}
            if container["Id"] in self._boxes or labels.get(LABEL_TOKEN) in self._creating:
                continue
            if container["Id"] not in running or not self._adopt(container["Id"], labels):
                log.info("removing stopped or unusable container %s", container["Id"][:12])
                self._spawn(self._delete(container["Id"], labels))

    def _adopt(self, container_id: str, labels: dict[str, str]) -> bool:
        job, token = labels.get(LABEL_JOB, ""), labels.get(LABEL_TOKEN, "")
        if not job or not token:
            return False
        launcher_dir = _job_dir(self.run_dir, job) / LAUNCHERS / token
        if not (launcher_dir / _box.CTL).exists():
            return False
        fresh = labels.get(LABEL_MODE) == "fresh"
        ready = self._running_loop().create_future()
        ready.set_result(None)
        box = Box(
            container_id,
            job,
            labels.get(LABEL_KEY, ""),
            ContainerMode.FRESH if fresh else ContainerMode.WARM,
            launcher_dir,
            labels.get(LABEL_DIGEST, ""),
            frozenset(labels.get(LABEL_IMAGE_ENV, "").split()),
            ready,
            launched=1 if fresh else 0,
        )
        with contextlib.suppress(OSError):
            box.shell = (launcher_dir / _box.SHELL).read_text().strip()
        self._attach(box)
        if not fresh:
            if job in self._warm:
                self._retire_box(box)  # two warm containers for one job: keep one
            else:
                self._warm[job] = box
        log.info("adopted container %s of %s", box.short, job)
        return True

    async def _delete(self, container_id: str, labels: dict[str, str]) -> None:
        with contextlib.suppress(EngineError):
            await self._running_engine().call(
                "DELETE", f"/containers/{container_id}", params={"force": "1"}, ok_missing=True
            )
        if labels.get(LABEL_JOB) and labels.get(LABEL_TOKEN):
            _box.remove_launcher_dir(
                _job_dir(self.run_dir, labels[LABEL_JOB]) / LAUNCHERS / labels[LABEL_TOKEN]
            )

    def _gone(self, box: Box, reason: str) -> None:
        """The container is dead or removed: every attempt in it ends now, as its files say or lost."""
        if not box.alive:
            return
        self._on_events(box)  # exits the runners reported just before the end
        box.alive = False
        self._detach(box)
        self._boxes.pop(box.id, None)
        if self._warm.get(box.job) is box:
            del self._warm[box.job]
        if not box.ready.done():
            box.ready.set_exception(LaunchFailed(reason))
        for watch in list(box.watches.values()):
            if not watch.started.done() and _attempt.claim(watch.directory):
                self._forget(watch)
                watch.started.set_exception(LaunchFailed(reason))
            else:
                self._finish(watch, self._outcome(watch, reason))
        if box.removing or not box.retiring:
            _box.remove_launcher_dir(box.launcher_dir)

    # ---- after a restart

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        self._running_loop()
        if self._synced is not None:
            await self._synced.wait()
        for run_id, attempt in open_runs:
            current = self._watches.get(run_id)
            if (current is not None and current.attempt == attempt) or run_id in self._under_way:
                continue  # watched, or being launched: that launch reports how it went
            event, adopted = self._recover(run_id, attempt)
            if isinstance(event, RunStarted) and adopted is not None:
                self._announce(adopted, event)
            else:
                self._emit(event)
        for box in list(self._boxes.values()):
            if box.mode is ContainerMode.FRESH and not box.watches and not box.removing:
                self._spawn(self._remove_box(box, "its run is over"))

    def _recover(self, run_id: str, attempt: int) -> tuple[RunEvent, Watch | None]:
        """The truth about an attempt from its files and its container; adopt it if both are alive."""
        self._attempts.forget(run_id, attempt)  # reconciled, not launched: what was prepared is stale
        directory = _attempt.attempt_dir(self.run_dir, run_id, attempt)
        now = self._clock()
        if not directory.is_dir():
            _attempt.claim(directory)  # a preparation still queued finds it taken
            return RunLost(run_id, attempt, now, f"no trace of this attempt in {self.run_dir}"), None
        container_line = _read(directory / _box.SPEC).partition("\n")[0].lstrip("# ").split()
        box = self._boxes.get(container_line[0]) if container_line else None
        state = _attempt.read_state(directory)
        if state is not None and state.status is not None:
            return self._outcome_of(run_id, attempt, directory, None), None
        if not container_line and _attempt.claim(directory):
            lost = RunLost(run_id, attempt, now, "it was never started (horae stopped before its launch)")
            return lost, None
        if box is None or not box.alive:
            _attempt.claim(directory)
            where = f"container {container_line[0][:12]}" if container_line else "its container"
            return self._outcome_of(run_id, attempt, directory, f"{where} is gone"), None
        if _attempt.claim(directory):
            lost = RunLost(run_id, attempt, now, "it was never started (horae stopped before its launch)")
            return lost, None
        loop = self._running_loop()
        rel = f"{directory.parent.name}/{directory.name}"
        watch = Watch(run_id, attempt, directory, rel, box, loop.create_future())
        watch.started.set_result(0)
        watch.pid = state.pid if state is not None else None
        box.watches[rel] = watch
        self._watches[run_id] = watch
        stop = _attempt.read_stop(directory)
        deadline = _attempt.read_float(directory / _attempt.DEADLINE)
        if stop is not None:
            _stopping.resume(loop, watch, stop, self._sender(watch))
        elif deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            watch.timers.append(loop.call_later(delay, self._stop, watch, ExitKind.TIMED_OUT, None))
        self._on_events(box)  # it may have ended while we looked (then reported after RunStarted)
        started = datetime.fromtimestamp((directory / _attempt.STATE).stat().st_mtime, UTC)
        detail = f"container {box.short} pid {watch.pid} (adopted)"
        return RunStarted(run_id, attempt, started, detail=detail), watch

    # ---- plumbing

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._sink is None:
            raise RuntimeError("DockerRuntime used before start() or after close()")
        return self._loop

    def _running_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("DockerRuntime used before start() or after close()")
        return self._engine

    def _emit(self, event: RunEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _job_dir(run_dir: Path, job: str) -> Path:
    return _attempt.attempt_dir(run_dir, f"{job}:0", 0).parent.parent


def _spec_text(box: Box, launch: Launch) -> str:
    """The attempt's spec in `box`: its first line names the container and image (the run's record)."""
    return f"# {box.id} {box.image}\n{_box.spec_script(launch, box.image_env)}"


def _write_spec(directory: Path, *, box_id: str, text: str) -> str:
    _box.write_file(directory / _box.SPEC, text, exclusive=False)
    return box_id


def _finish_files(directory: Path, script: str, deadline: float | None, user: str) -> None:
    """The launch's own files, on the worker thread: the spec unless `prepare` wrote it for this
    container, the deadline, and a work directory anyone may use for a run as another user."""
    if script:
        _box.write_file(directory / _box.SPEC, script, exclusive=False)
    if deadline is not None:
        _attempt.write_line(directory / _attempt.DEADLINE, f"{deadline:.6f}")
    if user and user != "root":
        os.chmod(directory / _attempt.WORK, 0o777)  # the run's user inside the container may be anyone


def _note(directory: Path, text: str) -> None:
    with contextlib.suppress(OSError), (directory / _attempt.OUTPUT).open("a") as f:
        f.write(text + "\n")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _is_static(path: str) -> bool:
    """A binary that needs no dynamic loader, so it runs in any image."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head and b"/lib/ld-" not in head
