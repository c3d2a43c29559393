"""horae's Mesos executor (`python -m horae.mesos.executor`): one per job per agent, long-lived; every run
of the job arrives as a LAUNCH on its subscription and becomes a process in its own process group.

It speaks the v1 HTTP executor API: SUBSCRIBE (resending every task and update the agent has not
acknowledged), UPDATE with a fresh 16-byte uuid4 and `source: SOURCE_EXECUTOR`, kept until ACKNOWLEDGED.
A lost subscription is retried within `MESOS_RECOVERY_TIMEOUT` when the framework checkpoints (the runs
keep going meanwhile); without checkpointing the executor kills its runs and exits. KILL stops a run's
process group (TERM, then KILL after the grace period); SHUTDOWN stops them all and exits.

Each run's output goes to `<sandbox>/<task id>.log`. A failed run's status carries `{"exit_code": n}`
or `{"signal": n}` as its `data`, which the framework turns into the run's outcome.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from horae.mesos._recordio import RecordIODecoder, RecordIOError

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


class Executor:
    def __init__(self, env: ExecutorEnv) -> None:
        self.env = env
        headers = {"Authorization": f"Bearer {env.token}"} if env.token else {}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), headers=headers)
        self._unacked_updates: dict[str, Json] = {}  # uuid → Call.Update, until ACKNOWLEDGED
        self._unacked_tasks: dict[str, Json] = {}  # task id → TaskInfo, until its first ACKNOWLEDGED
        self._runs: dict[str, _Run] = {}
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
            argv = [str(a) for a in payload["argv"]]
            environment = {str(k): str(v) for k, v in payload.get("environment", [])}
            log_file = self.env.sandbox / f"{re.sub(r'[^A-Za-z0-9_.:-]', '_', task_id)}.log"
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
        except (ValueError, KeyError, TypeError, OSError) as e:
            await self._update(task_id, "TASK_FAILED", message=f"could not start the run: {e}")
            return
        self._runs[task_id] = _Run(task_id, process)
        await self._update(task_id, "TASK_RUNNING", labels={"pid": str(process.pid)})
        watcher = asyncio.create_task(self._watch(self._runs[task_id]))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

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
        run = self._runs.get(task_id)
        if run is None:
            return
        run.killing = True
        _signal_group(run.process.pid, signal.SIGTERM)
        asyncio.get_running_loop().call_later(grace, _signal_group, run.process.pid, signal.SIGKILL)

    async def _stop_all(self, grace: float) -> None:
        for task_id in list(self._runs):
            self._kill(task_id, grace)
        await self._drain_watchers(grace + 1.0)

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
