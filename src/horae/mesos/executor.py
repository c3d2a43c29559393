"""horae's Mesos executor (`python -m horae.mesos.executor`): one per job per agent, long-lived; every run
of the job arrives as a LAUNCH on its subscription. It runs as a plain process on the agent: a run of a
job without a container becomes a process in its own process group in the sandbox; a run of a job with
a container (named in the task's data) starts inside the job's one warm container through
`DockerRuntime`, whose run directory is `<sandbox>/containers`, so every LAUNCH after the first is a
process spawn in a running container. SHUTDOWN stops the runs and removes the container.

It speaks the v1 HTTP executor API: SUBSCRIBE (resending every task and update the agent has not
acknowledged), UPDATE with a fresh 16-byte uuid4 and `source: SOURCE_EXECUTOR`, kept until ACKNOWLEDGED.
A lost subscription is retried within `MESOS_RECOVERY_TIMEOUT` when the framework checkpoints (the runs
keep going meanwhile); without checkpointing the executor kills its runs and exits. KILL stops a run's
process group (TERM, then KILL after the grace period); SHUTDOWN stops them all and exits.

Each run's output goes to `<sandbox>/<task id>.log` (for a container run, a link to its attempt's
output). A failed run's status carries `{"exit_code": n}` or `{"signal": n}` as its `data`, which the
framework turns into the run's outcome.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import re
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from horae.mesos._recordio import RecordIODecoder, RecordIOError
from horae.model import (
    ExitKind,
    InvalidJob,
    Launch,
    RunEvent,
    RunFinished,
    RunLost,
    RunStarted,
    container_from_chronos,
)
from horae.runtime import LaunchFailed
from horae.runtime.docker import DockerRuntime, EngineError

log = logging.getLogger("horae.mesos.executor")

PATH = "/api/v1/executor"
CONTENT_TYPE = "application/json"
DEFAULT_GRACE = 3.0
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1.0, "mins": 60.0, "hrs": 3600.0, "days": 86400.0}
_UNITS["weeks"] = 7 * _UNITS["days"]
_DURATION = re.compile(r"(-?[0-9.]+)(ns|us|ms|secs|mins|hrs|days|weeks)")

Json = dict[str, Any]


def parse_duration(text: str) -> float:
    """A stout duration (`5secs`, `15mins`, `1.5hrs`) in seconds."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a Mesos duration: {text!r}")
    return float(m[1]) * _UNITS[m[2]]


@dataclass(frozen=True, slots=True)
class ExecutorEnv:
    """What the agent tells the executor through its environment."""

    agent: str  # http://ip:port
    framework_id: str
    executor_id: str
    sandbox: Path
    checkpoint: bool
    recovery_timeout: float
    backoff_max: float
    shutdown_grace: float
    token: str = ""

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> ExecutorEnv:
        endpoint = env["MESOS_AGENT_ENDPOINT"]
        return cls(
            agent=endpoint if "://" in endpoint else f"http://{endpoint}",
            framework_id=env["MESOS_FRAMEWORK_ID"],
            executor_id=env["MESOS_EXECUTOR_ID"],
            sandbox=Path(env.get("MESOS_SANDBOX") or env.get("MESOS_DIRECTORY") or "."),
            checkpoint=env.get("MESOS_CHECKPOINT") == "1",  # a string: "0" means off
            recovery_timeout=parse_duration(env.get("MESOS_RECOVERY_TIMEOUT", "15mins")),
            backoff_max=parse_duration(env.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs")),
            shutdown_grace=parse_duration(env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs")),
            token=env.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", ""),
        )


class _Refused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the agent answered {status}: {body.strip()[:200]}")


@dataclass(slots=True)
class _Run:
    task_id: str
    process: asyncio.subprocess.Process
    killing: bool = False


@dataclass(slots=True)
class _BoxedRun:
    """A run in the job's container; `final` is resolved by the Docker runtime's outcome for it."""

    task_id: str
    attempt: int
    final: asyncio.Future[RunFinished | RunLost] = field(default_factory=asyncio.Future)


class Executor:
    def __init__(self, env: ExecutorEnv) -> None:
        self.env = env
        headers = {"Authorization": f"Bearer {env.token}"} if env.token else {}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), headers=headers)
        self._unacked_updates: dict[str, Json] = {}  # uuid → Call.Update, until ACKNOWLEDGED
        self._unacked_tasks: dict[str, Json] = {}  # task id → TaskInfo, until its first ACKNOWLEDGED
        self._runs: dict[str, _Run] = {}
        self._boxed: dict[str, _BoxedRun] = {}  # run id → a run in the job's container
        self._docker: DockerRuntime | None = None  # started on the first run with a container
        self._watchers: set[asyncio.Task[None]] = set()
        self._shutting_down = False
        self._lost_since: float | None = None  # when the subscription was lost, until SUBSCRIBED again

    def _ids(self) -> Json:
        return {
            "executor_id": {"value": self.env.executor_id},
            "framework_id": {"value": self.env.framework_id},
        }

    def _stopping(self) -> bool:
        """SHUTDOWN arrived (a method, so a check after an await is not narrowed away)."""
        return self._shutting_down

    async def run(self) -> int:
        """Subscribe and serve until SHUTDOWN or a subscription that cannot be restored. Exit status."""
        try:
            while not self._shutting_down:
                try:
                    await self._subscribe_once()
                    reason = "the agent closed the stream"
                except (httpx.HTTPError, RecordIOError, json.JSONDecodeError, _Refused) as e:
                    reason = str(e) or type(e).__name__
                if self._stopping():
                    break
                lost_since = self._lost_since = self._lost_since or time.monotonic()
                if not self.env.checkpoint:
                    log.error("subscription lost (%s) and the framework does not checkpoint: exiting", reason)
                    await self._stop_all(self.env.shutdown_grace)
                    return 1
                if time.monotonic() - lost_since > self.env.recovery_timeout:
                    log.error("the agent did not come back within the recovery timeout: exiting")
                    await self._stop_all(self.env.shutdown_grace)
                    return 1
                await asyncio.sleep(random.uniform(0, self.env.backoff_max))
            await self._drain_watchers()
            return 0
        finally:
            await self._http.aclose()

    async def _subscribe_once(self) -> None:
        body = {
            "type": "SUBSCRIBE",
            **self._ids(),
            "subscribe": {
                "unacknowledged_tasks": list(self._unacked_tasks.values()),
                "unacknowledged_updates": list(self._unacked_updates.values()),
            },
        }
        headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
        async with self._http.stream(
            "POST", self.env.agent + PATH, content=json.dumps(body).encode(), headers=headers
        ) as response:
            if response.status_code != 200:
                raise _Refused(response.status_code, (await response.aread()).decode(errors="replace"))
            decoder = RecordIODecoder()
            async for chunk in response.aiter_raw():
                for record in decoder.feed(chunk):
                    await self._on_event(json.loads(record))
                    if self._shutting_down:
                        return
            decoder.close()

    async def _on_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            log.info("subscribed to the agent as %s", self.env.executor_id)
            self._lost_since = None
        elif kind == "LAUNCH":
            await self._launch(event["launch"]["task"])
        elif kind == "LAUNCH_GROUP":
            for task in event["launch_group"]["task_group"].get("tasks", []):
                self._unacked_tasks[task["task_id"]["value"]] = task
                await self._update(
                    task["task_id"]["value"], "TASK_FAILED", message="LAUNCH_GROUP is not supported"
                )
        elif kind == "KILL":
            grace = event["kill"].get("kill_policy", {}).get("grace_period", {}).get("nanoseconds")
            self._kill(event["kill"]["task_id"]["value"], grace / 1e9 if grace is not None else DEFAULT_GRACE)
        elif kind == "ACKNOWLEDGED":
            body = event["acknowledged"]
            self._unacked_updates.pop(body["uuid"], None)
            self._unacked_tasks.pop(body["task_id"]["value"], None)
        elif kind == "SHUTDOWN":
            self._shutting_down = True
            await self._stop_all(max(self.env.shutdown_grace - 1.0, 0.5))
        elif kind == "ERROR":
            log.error("the agent reported an error: %s", event.get("error", {}).get("message", ""))

    async def _launch(self, task: Json) -> None:
        task_id = task["task_id"]["value"]
        self._unacked_tasks[task_id] = task
        if task_id in self._runs:
            return  # a LAUNCH redelivered after a re-subscription
        try:
            payload = json.loads(base64.b64decode(task.get("data", "")))
            if payload.get("container") is not None:
                await self._launch_boxed(task_id, payload)
                return
            argv = [str(a) for a in payload["argv"]]
            environment = {str(k): str(v) for k, v in payload.get("environment", [])}
            log_file = self.env.sandbox / _log_name(task_id)
            with log_file.open("ab") as out:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    env={**_inherited(), **environment},
                    cwd=self.env.sandbox,
                    start_new_session=True,  # its own process group: a kill reaches its children
                )
        except (ValueError, KeyError, TypeError, OSError, InvalidJob) as e:
            await self._update(task_id, "TASK_FAILED", message=f"could not start the run: {e}")
            return
        self._runs[task_id] = _Run(task_id, process)
        await self._update(task_id, "TASK_RUNNING", labels={"pid": str(process.pid)})
        watcher = asyncio.create_task(self._watch(self._runs[task_id]))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _launch_boxed(self, task_id: str, payload: Mapping[str, Any]) -> None:
        """Start the run in the job's warm container (created by the first such run)."""
        launch = Launch(
            run_id=str(payload["run_id"]),
            job=str(payload["job"]),
            attempt=int(payload["attempt"]),
            task_id=task_id,
            argv=tuple(str(a) for a in payload["argv"]),
            environment=tuple((str(k), str(v)) for k, v in payload.get("environment", [])),
            user=str(payload.get("user", "")),
            container=container_from_chronos(payload["container"]),
            cpus=float(payload.get("cpus", 0.1)),
            mem=float(payload.get("mem", 128.0)),
        )
        if launch.run_id in self._boxed:
            return
        run = self._boxed[launch.run_id] = _BoxedRun(task_id, launch.attempt)
        try:
            docker = await self._docker_runtime()
            await docker.launch(launch)
        except (LaunchFailed, EngineError, OSError) as e:
            self._boxed.pop(launch.run_id, None)
            await self._update(task_id, "TASK_FAILED", message=f"could not start the run: {e}")
            return
        self._link_output(launch.run_id, run)
        await self._update(task_id, "TASK_RUNNING")
        watcher = asyncio.create_task(self._watch_boxed(launch.run_id, run))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    def _link_output(self, run_id: str, run: _BoxedRun) -> None:
        """`<sandbox>/<task id>.log` → the attempt's output, once the runner has created it."""
        link = self.env.sandbox / _log_name(run.task_id)
        output = None if self._docker is None else self._docker.log_path(run_id, run.attempt)
        if output is not None and not link.is_symlink():
            with contextlib.suppress(OSError):
                link.symlink_to(output)

    async def _docker_runtime(self) -> DockerRuntime:
        if self._docker is None:
            docker = DockerRuntime(self.env.sandbox.absolute() / "containers")
            await docker.start(self._on_run_event)
            self._docker = docker
        return self._docker

    def _on_run_event(self, event: RunEvent) -> None:
        run = self._boxed.get(event.run_id)
        if run is not None and not isinstance(event, RunStarted) and not run.final.done():
            run.final.set_result(event)

    async def _watch_boxed(self, run_id: str, run: _BoxedRun) -> None:
        event = await run.final
        self._boxed.pop(run_id, None)
        self._link_output(run_id, run)
        if isinstance(event, RunLost):
            await self._update(run.task_id, "TASK_FAILED", message=event.reason)
        elif event.kind is ExitKind.KILLED:
            await self._update(run.task_id, "TASK_KILLED", message="killed on request")
        elif event.succeeded:
            await self._update(run.task_id, "TASK_FINISHED")
        elif event.kind is ExitKind.EXITED and event.exit_code is not None:
            data = {"exit_code": event.exit_code}
            await self._update(run.task_id, "TASK_FAILED", message=f"exit code {event.exit_code}", data=data)
        else:
            number = event.signal if event.signal is not None else signal.SIGKILL.value
            await self._update(
                run.task_id,
                "TASK_FAILED",
                message=f"{event.kind.value}, signal {number}",
                data={"signal": number},
            )

    async def _watch(self, run: _Run) -> None:
        code = await run.process.wait()
        self._runs.pop(run.task_id, None)
        if run.killing:
            await self._update(run.task_id, "TASK_KILLED", message="killed on request")
        elif code == 0:
            await self._update(run.task_id, "TASK_FINISHED")
        elif code < 0:
            data = {"signal": -code}
            await self._update(run.task_id, "TASK_FAILED", message=f"signal {-code}", data=data)
        else:
            data = {"exit_code": code}
            await self._update(run.task_id, "TASK_FAILED", message=f"exit code {code}", data=data)

    def _kill(self, task_id: str, grace: float) -> None:
        boxed = next((run_id for run_id, b in self._boxed.items() if b.task_id == task_id), None)
        if boxed is not None and self._docker is not None:
            killing = asyncio.create_task(self._docker.kill(boxed, grace=timedelta(seconds=grace)))
            self._watchers.add(killing)
            killing.add_done_callback(self._watchers.discard)
        run = self._runs.get(task_id)
        if run is None:
            return
        run.killing = True
        _signal_group(run.process.pid, signal.SIGTERM)
        asyncio.get_running_loop().call_later(grace, _signal_group, run.process.pid, signal.SIGKILL)

    async def _stop_all(self, grace: float) -> None:
        """Stop every run, then remove the job's container."""
        for task_id in [*self._runs, *(b.task_id for b in self._boxed.values())]:
            self._kill(task_id, grace)
        await self._drain_watchers(grace + 1.0)
        if self._docker is not None:
            with contextlib.suppress(EngineError, OSError):
                # Keep none: the runtime's home is this executor's sandbox, so each of its containers is ours.
                await self._docker.retain(())
                await self._docker.close()  # waits for the removals retain started
            self._docker = None

    async def _drain_watchers(self, within: float = 10.0) -> None:
        if self._watchers:
            await asyncio.wait(set(self._watchers), timeout=within)

    async def _update(
        self,
        task_id: str,
        state: str,
        *,
        message: str = "",
        data: Json | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Send one status update; it stays in `unacknowledged_updates` until the agent ACKNOWLEDGEs it,
        and goes out again with the next SUBSCRIBE if this POST fails."""
        token = base64.b64encode(uuid.uuid4().bytes).decode()
        status: Json = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "executor_id": {"value": self.env.executor_id},
            "uuid": token,
            "timestamp": time.time(),
        }
        if message:
            status["message"] = message
        if data is not None:
            status["data"] = base64.b64encode(json.dumps(data).encode()).decode()
        if labels:
            status["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
        update = {"status": status}
        self._unacked_updates[token] = update
        body = {"type": "UPDATE", **self._ids(), "update": update}
        with contextlib.suppress(httpx.HTTPError):
            response = await self._http.post(
                self.env.agent + PATH,
                content=json.dumps(body).encode(),
                headers={"Content-Type": CONTENT_TYPE},
            )
            if response.status_code != 202:
                log.warning(
                    "UPDATE %s of %s answered %d; resent at the next subscription",
                    state,
                    task_id,
                    response.status_code,
                )


def _log_name(task_id: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.:-]', '_', task_id)}.log"


def _inherited() -> dict[str, str]:
    """The executor's environment minus what only the executor may see."""
    return {k: v for k, v in os.environ.items() if k != "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"}


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = ExecutorEnv.from_environ(os.environ)
    os.environ.pop("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", None)
    return asyncio.run(Executor(env).run())


if __name__ == "__main__":
    sys.exit(main())
