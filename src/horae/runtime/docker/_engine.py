"""A small asyncio client for the Docker Engine API over its unix socket (httpx, no SDK)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

DEFAULT_SOCKET = "/var/run/docker.sock"
API_VERSION = "v1.41"  # Docker 20.10; later engines still serve it


class EngineError(Exception):
    """The engine answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message


class Engine:
    """The Engine API calls the Docker runtime needs; JSON in, JSON out, errors as `EngineError`."""

    def __init__(self, socket: str = DEFAULT_SOCKET, *, timeout: float = 30.0) -> None:
        self.socket = socket
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket),
            base_url=f"http://docker/{API_VERSION}",
            timeout=timeout,
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        ok_missing: bool = False,
    ) -> Any:
        """One API call; the decoded JSON answer (None when empty, or on 404 when `ok_missing`)."""
        try:
            response = await self._client.request(method, path, params=params, json=body)
        except httpx.HTTPError as e:
            raise EngineError(0, f"Docker engine unreachable at {self.socket}: {e}") from e
        if response.status_code == 404 and ok_missing:
            return None
        if response.status_code >= 400:
            raise EngineError(response.status_code, _message(response.content))
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def ping(self) -> bool:
        try:
            return bool(await self.call("GET", "/_ping") == "OK")
        except EngineError:
            return False

    async def pull(self, image: str) -> None:
        """Pull an image; the engine reports pull errors inside a 200 stream, raised here."""
        name, tag = split_reference(image)
        try:
            async with self._client.stream(
                "POST", "/images/create", params={"fromImage": name, "tag": tag}, timeout=None
            ) as response:
                if response.status_code >= 400:
                    raise EngineError(response.status_code, _message(await response.aread()))
                async for line in response.aiter_lines():
                    if line.strip():
                        message = json.loads(line)
                        if "error" in message:
                            raise EngineError(500, str(message["error"]))
        except httpx.HTTPError as e:
            raise EngineError(0, f"Docker engine unreachable at {self.socket}: {e}") from e

    @asynccontextmanager
    async def events(self, filters: Mapping[str, list[str]]) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The engine's event stream (subscribed once this is entered), one decoded event at a time."""
        params = {"filters": json.dumps(filters)}
        try:
            async with self._client.stream(
                "GET", "/events", params=params, timeout=httpx.Timeout(None, connect=5.0)
            ) as response:
                if response.status_code >= 400:
                    raise EngineError(response.status_code, _message(await response.aread()))
                yield _decode_lines(response)
        except httpx.HTTPError as e:
            raise EngineError(0, f"event stream broken: {e}") from e

    async def close(self) -> None:
        await self._client.aclose()


async def _decode_lines(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.strip():
            yield json.loads(line)


def split_reference(image: str) -> tuple[str, str]:
    """`name[:tag][@digest]` → (name, tag or digest); the tag defaults to `latest`."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


def _message(content: bytes) -> str:
    try:
        decoded = json.loads(content)
    except ValueError:
        return content.decode(errors="replace").strip()
    if isinstance(decoded, dict) and "message" in decoded:
        return str(decoded["message"])
    return str(decoded)
