"""An asyncio client of the Mesos v1 HTTP scheduler API.

One long POST SUBSCRIBE carries the RecordIO event stream; every other call is a separate POST with the
stream's `Mesos-Stream-Id`. The client finds the leader by following `307` redirects (their `Location` is
scheme-less) and by trying the listed masters in turn; it treats `missed_heartbeats` heartbeat intervals
without a byte as a dead connection and re-subscribes, with exponential backoff, using the framework id
Mesos gave it. It decides nothing: events go to the handler as typed values, and the framework calls
`accept`, `acknowledge` … explicitly (no update is ever acknowledged behind its back).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from horae.mesos import _calls
from horae.mesos._calls import FrameworkConfig
from horae.mesos._clock import SYSTEM_CLOCK, Clock
from horae.mesos._events import (
    Disconnected,
    Error,
    SchedulerEvent,
    Subscribed,
    TaskStatus,
    parse_event,
)
from horae.mesos._recordio import RecordIODecoder, RecordIOError

log = logging.getLogger(__name__)

PATH = "/api/v1/scheduler"
CONTENT_TYPE = "application/json"  # exactly: Mesos answers 415 to `application/json; charset=utf-8`
MAX_REDIRECTS = 5

EventHandler = Callable[[SchedulerEvent], Awaitable[None]]
Detector = Callable[[], Awaitable[Sequence[str]]]  # the masters to try now, leader first (e.g. ZooKeeper)


class SchedulerError(Exception):
    """Mesos sent ERROR (e.g. "Framework has been removed", "Framework failed over"): the subscription is
    over and re-subscribing blindly would be wrong; the framework decides what to do."""


class NotSubscribed(Exception):
    """A call was made while no subscription is live (Mesos would answer 403)."""


class CallFailed(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Mesos answered {status}: {body.strip()[:300]}")
        self.status = status
        self.body = body


class _ConnectionLost(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before the n-th consecutive re-subscription attempt: doubling from `initial`, capped."""

    initial: float = 0.5
    cap: float = 15.0

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.initial * 2 ** min(attempt, 32)))


def master_base(location: str, current: str) -> str:
    """The base URL of the master a `Location` points at: `//host:port/api/v1/scheduler` (protocol-relative,
    as Mesos sends it) gets the current scheme."""
    scheme = urlsplit(current).scheme or "http"
    target = urlsplit(location if "//" in location else f"//{location}", scheme=scheme)
    if not target.netloc:
        raise _ConnectionLost(f"redirect without a host: {location!r}")
    return f"{target.scheme}://{target.netloc}"


class MesosSchedulerClient:
    def __init__(
        self,
        masters: Sequence[str],
        framework: FrameworkConfig,
        handler: EventHandler,
        *,
        framework_id: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff = Backoff(),
        missed_heartbeats: int = 5,
        call_timeout: timedelta = timedelta(seconds=75),
        credentials: tuple[str, str] | None = None,
        detector: Detector | None = None,
    ) -> None:
        if not masters and detector is None:
            raise ValueError("no Mesos master given")
        self._detector = detector
        self._masters = [m.rstrip("/") for m in masters]
        self._master = self._masters[0] if self._masters else ""
        self._next_master = 1
        self._framework = framework
        self._handler = handler
        self._framework_id = framework_id or None
        self._clock = clock
        self._backoff = backoff
        self._missed = missed_heartbeats
        self._stream_id: str | None = None
        self._subscribed = asyncio.Event()
        self._heartbeat_interval = 15.0
        self._last_activity = 0.0
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        timeout = call_timeout.total_seconds()
        # Reads on the stream never time out here: heartbeat expiry is judged on the injected clock.
        # `credentials` (principal, secret) go as HTTP basic auth on every request, as Mesos's
        # `--authenticate_frameworks` expects on the v1 API.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, read=None),
            follow_redirects=False,
            auth=httpx.BasicAuth(*credentials) if credentials else None,
        )
        self._call_timeout = timeout

    @property
    def framework_id(self) -> str | None:
        """Set from SUBSCRIBED; the framework persists it before acting on anything else."""
        return self._framework_id

    @property
    def master(self) -> str:
        """The base URL of the master currently (or last) subscribed to."""
        return self._master

    @property
    def stream_id(self) -> str | None:
        return self._stream_id

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    async def run(self) -> None:
        """Subscribe and keep subscribed until `stop()` (returns) or an ERROR event (raises SchedulerError).
        A client runs once; it closes its connections when it ends."""
        self._loop_task = asyncio.create_task(self._loop())
        try:
            await self._loop_task
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            self._loop_task = None
            await self._http.aclose()

    async def stop(self) -> None:
        """End the subscription (Mesos starts the failover timeout; tasks keep running). May be called
        from the handler."""
        self._stopping = True
        task = self._loop_task
        if task is None:
            await self._http.aclose()
            return
        task.cancel()
        if task is not asyncio.current_task():
            await asyncio.wait({task})

    async def _loop(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self._detect()
                await self._subscribe_once()
                reason = "the master closed the event stream"
            except (httpx.HTTPError, RecordIOError, json.JSONDecodeError, _ConnectionLost, CallFailed) as e:
                reason = f"{type(e).__name__}: {e}"
            was_subscribed = self._subscribed.is_set()
            self._subscribed.clear()
            self._stream_id = None
            if was_subscribed:
                attempt = 0
                await self._handler(Disconnected(reason))
            else:
                self._rotate_master()
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.warning(
                "mesos: subscription to %s lost (%s); re-subscribing in %.1fs", self._master, reason, delay
            )
            await self._clock.sleep(delay)

    async def _detect(self) -> None:
        """With a detector, ask it for the leader before every (re)subscription."""
        if self._detector is None:
            return
        try:
            found = [m.rstrip("/") for m in await self._detector()]
        except Exception as e:  # any detector failure is a failed attempt: back off, ask again
            raise _ConnectionLost(f"no leading master found: {e}") from e
        if not found:
            raise _ConnectionLost("no leading master found")
        self._masters, self._master, self._next_master = found, found[0], 1

    def _rotate_master(self) -> None:
        if not self._masters:
            return
        self._master = self._masters[self._next_master % len(self._masters)]
        self._next_master += 1

    async def _subscribe_once(self) -> None:
        body = json.dumps(_calls.subscribe(self._framework, self._framework_id)).encode()
        headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
        for _ in range(MAX_REDIRECTS + 1):
            async with self._http.stream(
                "POST", self._master + PATH, content=body, headers=headers
            ) as response:
                if response.status_code == 307:
                    self._master = master_base(response.headers.get("Location", ""), self._master)
                    continue
                if response.status_code != 200:
                    raise CallFailed(response.status_code, (await response.aread()).decode(errors="replace"))
                stream_id = response.headers.get("Mesos-Stream-Id")
                if not stream_id:
                    raise _ConnectionLost("SUBSCRIBE answered without a Mesos-Stream-Id")
                self._stream_id = stream_id
                await self._read_stream(response)
                return
        raise _ConnectionLost(f"more than {MAX_REDIRECTS} redirects")

    async def _read_stream(self, response: httpx.Response) -> None:
        self._last_activity = self._clock.now()
        reader = asyncio.create_task(self._read_records(response))
        watchdog = asyncio.create_task(self._watch_heartbeats())
        try:
            done, _ = await asyncio.wait({reader, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, watchdog):
                task.cancel()
            await asyncio.gather(reader, watchdog, return_exceptions=True)
        if reader in done:
            reader.result()
            return
        limit = self._missed * self._heartbeat_interval
        raise _ConnectionLost(f"no heartbeat for {limit:.0f}s ({self._missed} intervals)")

    async def _read_records(self, response: httpx.Response) -> None:
        decoder = RecordIODecoder()
        async for chunk in response.aiter_raw():
            self._last_activity = self._clock.now()
            for record in decoder.feed(chunk):
                await self._dispatch(json.loads(record))
            self._last_activity = self._clock.now()  # a slow handler is not a silent master
        decoder.close()

    async def _watch_heartbeats(self) -> None:
        while True:
            deadline = self._last_activity + self._missed * self._heartbeat_interval
            now = self._clock.now()
            if now >= deadline:
                return
            await self._clock.sleep(deadline - now)

    async def _dispatch(self, raw: Mapping[str, Any]) -> None:
        event = parse_event(raw)
        if isinstance(event, Subscribed):
            self._framework_id = event.framework_id
            self._heartbeat_interval = event.heartbeat_interval
            self._subscribed.set()
        await self._handler(event)
        if isinstance(event, Error):
            self._stopping = True
            raise SchedulerError(event.message)

    # --- calls -------------------------------------------------------------------------------------

    async def call(self, body: Mapping[str, Any]) -> None:
        """Send one non-SUBSCRIBE call on its own connection; 202 means queued by the master, not done."""
        stream_id = self._stream_id
        if not self._subscribed.is_set() or stream_id is None:
            raise NotSubscribed(f"{body.get('type')} while not subscribed")
        headers = {"Content-Type": CONTENT_TYPE, "Mesos-Stream-Id": stream_id}
        response = await self._http.post(
            self._master + PATH,
            content=json.dumps(body).encode(),
            headers=headers,
            timeout=self._call_timeout,
        )
        if response.status_code not in (200, 202):
            raise CallFailed(response.status_code, response.text)

    def _fid(self) -> str:
        if self._framework_id is None:
            raise NotSubscribed("no framework id yet")
        return self._framework_id

    async def accept(
        self, offer_ids: Sequence[str], tasks: Sequence[Mapping[str, Any]], *, refuse: timedelta | None = None
    ) -> None:
        await self.call(_calls.accept(self._fid(), offer_ids, tasks, refuse))

    async def decline(self, offer_ids: Sequence[str], *, refuse: timedelta | None = None) -> None:
        await self.call(_calls.decline(self._fid(), offer_ids, refuse))

    async def revive(self, roles: Sequence[str] | None = None) -> None:
        await self.call(_calls.revive(self._fid(), roles or self._framework.roles))

    async def suppress(self, roles: Sequence[str] | None = None) -> None:
        await self.call(_calls.suppress(self._fid(), roles or self._framework.roles))

    async def kill(self, task_id: str, agent_id: str, *, grace: timedelta | None = None) -> None:
        await self.call(_calls.kill(self._fid(), task_id, agent_id, grace))

    async def acknowledge(self, status: TaskStatus) -> None:
        """Raises ValueError for an update without a uuid: those must never be acknowledged."""
        await self.call(_calls.acknowledge(self._fid(), status))

    async def reconcile(self, tasks: Sequence[tuple[str, str]] = ()) -> None:
        await self.call(_calls.reconcile(self._fid(), tasks))

    async def shutdown(self, executor_id: str, agent_id: str) -> None:
        await self.call(_calls.shutdown(self._fid(), executor_id, agent_id))

    async def teardown(self) -> None:
        """Remove the framework from Mesos for good (every task and executor is killed); then stop."""
        await self.call(_calls.teardown(self._fid()))
        await self.stop()
