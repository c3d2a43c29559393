"""The outermost layer: CORS on every response (as Chronos's CorsFilter), authentication, and the last-resort
500 that keeps a stack trace out of every response body.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("horae.api")

REALM = "horae"
OPEN_PATHS = frozenset({"/ping"})
_CORS = (b"access-control-allow-origin", b"*")
_PREFLIGHT_HEADERS = [
    _CORS,
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type"),
    (b"access-control-max-age", b"600"),
]


class Credentials:
    """The secrets a request may present; compared in constant time."""

    def __init__(self, auth: tuple[str, str] | None, token: str | None) -> None:
        self._user = auth[0].encode() if auth else None
        self._password = auth[1].encode() if auth else None
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        return self._user is not None or self._token is not None

    def challenge(self) -> list[tuple[bytes, bytes]]:
        if self._user is not None:
            return [(b"www-authenticate", f'Basic realm="{REALM}"'.encode())]
        return [(b"www-authenticate", f'Bearer realm="{REALM}"'.encode())]

    def accepts(self, authorization: bytes | None) -> bool:
        if not self.required:
            return True
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(b" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == b"basic" and self._user is not None and self._password is not None:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            user, sep, password = decoded.partition(b":")
            # Evaluate both comparisons always, so timing says nothing about which half was wrong.
            ok_user = hmac.compare_digest(user, self._user)
            ok_password = hmac.compare_digest(password, self._password)
            return bool(sep) & ok_user & ok_password
        if scheme == b"bearer" and self._token is not None:
            return hmac.compare_digest(value, self._token)
        return False


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class EdgeMiddleware:
    """CORS, preflight, authentication and the last-resort error envelope, for every HTTP request."""

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await send({"type": "http.response.start", "status": 204, "headers": _PREFLIGHT_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] not in OPEN_PATHS and not self.credentials.accepts(_header(scope, b"authorization")):
            body = {"status": "Unauthorized", "message": "authentication required"}
            await _send_json(send, 401, body, [_CORS, *self.credentials.challenge()])
            return

        started = False

        async def send_with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != _CORS[0]]
                message["headers"] = [*headers, _CORS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if started:
                raise  # too late for an envelope: the server closes the connection
            body = {"status": "Internal Server Error", "message": "internal server error; see the server log"}
            await _send_json(send, 500, body, [_CORS])
