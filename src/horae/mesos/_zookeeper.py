"""Finding the leading Mesos master through ZooKeeper, as Mesos's own detector does.

Masters contending for leadership create ephemeral sequential nodes `json.info_<seq>` (MasterInfo as
JSON) under the path of the `zk://` URL; the leader is the node with the lowest sequence number. The
scheduler client asks again at every (re)subscription, so a leader change is followed on the next
disconnect. kazoo is a blocking client: each lookup runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from kazoo.client import KazooClient  # type: ignore[import-untyped]  # kazoo ships no type hints
from kazoo.exceptions import KazooException  # type: ignore[import-untyped]
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

PREFIX = "json.info_"


class NoLeader(Exception):
    """ZooKeeper has no master node, or cannot be reached."""


@dataclass(frozen=True, slots=True)
class ZooKeeperUrl:
    hosts: str  # host:port,host:port
    path: str  # /mesos
    auth: tuple[str, str] | None = None  # digest user, password

    @classmethod
    def parse(cls, url: str) -> ZooKeeperUrl:
        """`zk://[user:password@]host:2181[,host:2181…]/path`."""
        parts = urlsplit(url)
        if parts.scheme != "zk" or not parts.netloc or parts.path in ("", "/"):
            raise ValueError(f"{url!r} is not zk://host:port[,host:port…]/path")
        credentials, _, hosts = parts.netloc.rpartition("@")
        auth = None
        if credentials:
            user, _, password = credentials.partition(":")
            auth = (unquote(user), unquote(password))
        return cls(hosts=hosts, path=parts.path.rstrip("/"), auth=auth)


def master_url(info: dict[str, Any]) -> str:
    """The base URL of a master from its MasterInfo JSON (the `address` block, else the old fields)."""
    address = info.get("address", {})
    host = address.get("hostname") or address.get("ip") or info.get("hostname")
    port = address.get("port") or info.get("port")
    if not host or not port:
        raise NoLeader(f"a master node without an address: {info}")
    return f"http://{host}:{port}"


def leader_node(children: list[str]) -> str | None:
    """The contender with the lowest sequence number; other nodes (e.g. old `info_` ones) are ignored."""
    contenders = [
        (int(c[len(PREFIX) :]), c) for c in children if c.startswith(PREFIX) and c[len(PREFIX) :].isdigit()
    ]
    return min(contenders)[1] if contenders else None


class ZooKeeperDetector:
    """`await detector()` → `[leader base URL]`; raises NoLeader when there is none (the client backs off)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = ZooKeeperUrl.parse(url)
        self._timeout = timeout
        self._client: KazooClient | None = None
        self._lock = threading.Lock()

    async def __call__(self) -> list[str]:
        return [await asyncio.to_thread(self._leader)]

    def _connected(self) -> KazooClient:
        if self._client is None:
            auth = [("digest", f"{self.url.auth[0]}:{self.url.auth[1]}")] if self.url.auth else None
            client = KazooClient(hosts=self.url.hosts, timeout=self._timeout, auth_data=auth)
            client.start(timeout=self._timeout)
            self._client = client
        return self._client

    def _leader(self) -> str:
        with self._lock:
            try:
                client = self._connected()
                node = leader_node(client.get_children(self.url.path))
                data = client.get(f"{self.url.path}/{node}")[0] if node is not None else None
            except (KazooException, KazooTimeoutError) as e:
                self._close()  # a fresh session at the next lookup
                raise NoLeader(f"ZooKeeper {self.url.hosts}: {type(e).__name__}: {e}") from e
        if node is None or data is None:
            raise NoLeader(f"no master under {self.url.path} in ZooKeeper")
        try:
            return master_url(json.loads(data))
        except ValueError as e:
            raise NoLeader(f"the leader's node {node} is not MasterInfo JSON: {e}") from e

    def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.stop()
            client.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._locked_close)

    def _locked_close(self) -> None:
        with self._lock:
            self._close()
