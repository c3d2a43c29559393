"""`run(settings)`: the real server — SQLite (or PostgreSQL) store, a runtime (processes, and Docker for
jobs with a container when the engine is there; or, with `mesos` set, every run a task on a Mesos
cluster), HTTP on host:port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from horae.model import ContainerMode, Job
from horae.runtime import LaunchFailed, ProcessRuntime, RoutedRuntime, Runtime
from horae.runtime.docker import DockerRuntime, Engine, EngineError
from horae.server._host import Host
from horae.server._settings import Settings, SettingsError
from horae.store import SqlStore, Store

log = logging.getLogger("horae.server")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _create_app() -> Callable[..., Any] | None:
    """The HTTP app factory, when the api package provides it."""
    try:
        from horae.api import create_app
    except ImportError:
        return None
    return create_app


async def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully: decided writes are flushed; runs keep going
    and are reconciled at the next start."""
    host: Host | None = None
    # Before anything opens: `docker` without an engine fails here. The Mesos runtime asks for the store
    # (opened below) only when it starts, to keep its framework id there.
    runtime = await choose_runtime(settings, lambda name: host.get_job(name) if host else None, lambda: store)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(SqlStore, settings.store_url)
    host = Host(store, runtime, settings=settings)
    try:
        try:
            await host.start()  # before the first request is accepted: /ping answers only once ready
        except (EngineError, LaunchFailed) as e:
            raise SettingsError(
                "runtime", f"the Docker runtime cannot start: {e} (use --runtime process to run without it)"
            ) from None
        if isinstance(runtime, RoutedRuntime):
            # Containers of jobs deleted or paused while no horae was watching go now.
            await runtime.docker.retain({j.name for j in host.list_jobs() if j.container and not j.disabled})
        for problem in host.apply_errors:
            log.error("start-up job file problem: %s", problem)
        create_app = _create_app()
        if create_app is None:
            log.warning("horae.api.create_app is not available: serving no HTTP, scheduling only")
            await _until_signalled()
        else:
            await _serve_http(
                create_app(host, auth=settings.auth or None, token=settings.token or None), settings
            )
    finally:
        await host.stop()
        await asyncio.to_thread(store.close)
        log.info("stopped")


async def choose_runtime(
    settings: Settings,
    job: Callable[[str], Job | None] = lambda name: None,
    store: Callable[[], Store] | None = None,
) -> Runtime:
    """`mesos` set: every run is a Mesos task (`job(name)` gives a job's constraints to the offer
    matching). Otherwise `process`: every run is a process. `docker`: jobs with a container run in Docker,
    the rest as processes; the engine must answer. `auto`: as `docker` when the engine answers, else as
    `process`."""
    if settings.mesos:
        return mesos_runtime(settings, job, store)
    process = ProcessRuntime(settings.run_dir)
    if settings.runtime == "process":
        return process
    if not await _engine_answers(settings.docker_socket):
        problem = f"no Docker engine answers at {settings.docker_socket}"
        if settings.runtime == "docker":
            raise SettingsError("runtime", f"{problem} (start dockerd, or set docker_socket)")
        log.warning("%s: every job runs as a process on this host, jobs with a container too", problem)
        return process
    docker = DockerRuntime(
        settings.container_dir,
        socket=str(settings.docker_socket),
        default_mode=ContainerMode(settings.docker_mode),
        timeout_grace=settings.kill_grace,
    )
    log.info("Docker engine at %s: jobs with a container run in it", settings.docker_socket)
    return RoutedRuntime(process, docker)


def mesos_runtime(
    settings: Settings, job: Callable[[str], Job | None], store: Callable[[], Store] | None = None
) -> Runtime:
    """The Mesos framework runtime; its framework id and tasks in flight are kept in `store()` (horae's
    store, open by the time the runtime starts), else in the data dir. `load_settings` has refused every
    value `build_runtime` would."""
    from horae.mesos import ExecutorSpec, build_runtime

    def constraints(name: str) -> tuple[tuple[str, str, str], ...]:
        found = job(name)
        return found.constraints if found is not None else ()

    runtime = build_runtime(
        settings.mesos,
        state_dir=settings.data_dir,
        role=settings.mesos_role,
        principal=settings.mesos_principal,
        secret=settings.mesos_secret_value,
        framework_name=settings.mesos_framework_name,
        failover_timeout=settings.mesos_failover_timeout,
        executor=ExecutorSpec(command=settings.mesos_executor, uris=settings.mesos_executor_uris),
        constraints=constraints,
        store=store,
    )
    log.info(
        "Mesos at %s: every run is a task of framework %r", settings.mesos, settings.mesos_framework_name
    )
    return runtime


async def _engine_answers(socket: Path) -> bool:
    engine = Engine(str(socket), timeout=5.0)
    try:
        return await engine.ping()
    finally:
        await engine.close()


async def _serve_http(app: Any, settings: Settings) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down, with the handlers found when it
    # started: make those harmless so the host still gets to stop gracefully afterwards.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in _STOP_SIGNALS}
    try:
        await server.serve()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signal(signum: int, frame: Any) -> None:
    log.info("signal %d: stopping", signum)


async def _until_signalled() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in _STOP_SIGNALS:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
