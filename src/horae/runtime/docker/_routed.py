"""`RoutedRuntime`: launches with a container go to Docker, the rest to another runtime (processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from horae.model import Launch, RunEvent, RunFinished, RunLost
from horae.runtime._abc import DEFAULT_GRACE, RunEventSink, Runtime
from horae.runtime.docker._runtime import DockerRuntime


class RoutedRuntime(Runtime):
    """Sends each launch to `docker` when it names a container, else to `plain`.

    After a restart an attempt belongs to Docker when its directory is in Docker's run directory, so the
    two runtimes need different run directories.
    """

    name: ClassVar[str] = "routed"

    def __init__(self, plain: Runtime, docker: DockerRuntime) -> None:
        plain_dir = getattr(plain, "run_dir", None)
        if plain_dir is not None and Path(plain_dir) == docker.run_dir:
            raise ValueError("the docker runtime needs a run directory of its own")
        self.plain = plain
        self.docker = docker
        self._owner: dict[str, Runtime] = {}

    async def start(self, sink: RunEventSink) -> None:
        def forget_ended(event: RunEvent) -> None:
            if isinstance(event, RunFinished | RunLost):
                self._owner.pop(event.run_id, None)  # a retry's launch routes it again
            sink(event)

        await self.plain.start(forget_ended)
        await self.docker.start(forget_ended)

    def prepare(self, launch: Launch) -> None:
        self._route(launch).prepare(launch)

    async def launch(self, launch: Launch) -> None:
        runtime = self._route(launch)
        self._owner[launch.run_id] = runtime
        try:
            await runtime.launch(launch)
        except BaseException:
            self._owner.pop(launch.run_id, None)  # nothing runs: nothing to route a kill to
            raise

    def _in_docker(self, run_id: str, attempt: int) -> bool:
        """Launched through Docker here (its launch may still be under way), or found in its directory."""
        return self._owner.get(run_id) is self.docker or self.docker.has_attempt(run_id, attempt)

    def _route(self, launch: Launch) -> Runtime:
        return self.docker if launch.container is not None else self.plain

    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        owner = self._owner.get(run_id)
        owners: Sequence[Runtime] = [owner] if owner is not None else [self.plain, self.docker]
        for runtime in owners:
            await runtime.kill(run_id, grace=grace)

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        in_docker = [run for run in open_runs if self._in_docker(*run)]
        elsewhere = [run for run in open_runs if not self._in_docker(*run)]
        for run_id, _ in in_docker:
            self._owner[run_id] = self.docker
        await asyncio.gather(self.plain.reconcile(elsewhere), self.docker.reconcile(in_docker))

    async def close(self) -> None:
        await self.docker.close()
        await self.plain.close()

    async def retire(self, job: str) -> None:
        await self.docker.retire(job)

    def log_path(self, run_id: str, attempt: int) -> Path | None:
        return self.docker.log_path(run_id, attempt) or self.plain.log_path(run_id, attempt)
