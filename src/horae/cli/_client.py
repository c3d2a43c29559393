"""A small synchronous client for horae's native API (and, for `import-chronos`, Chronos's API).

Every failure becomes a `CliError` carrying the message to print and the exit code: the server's own
`{"status", "message"}` message when it gave one, a hint to start a server when nothing listens.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:4400"

# Exit codes, documented in the README's CLI reference.
EXIT_ERROR = 1  # the request failed: the server refused it (400, 409 …) or answered an error
EXIT_USAGE = 2  # bad flags or input files (also Typer's own usage errors)
EXIT_UNREACHABLE = 3  # no server answered at the URL
EXIT_NOT_FOUND = 4  # the job or run does not exist


class CliError(Exception):
    """A failure to report in one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


def auth_headers(auth: str | None, token: str | None) -> dict[str, str]:
    """HTTP headers for `--auth user:pass` (Basic) or `--token T` (Bearer)."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    if auth:
        if ":" not in auth:
            raise CliError("--auth must be user:password", EXIT_USAGE)
        return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode("ascii")}
    return {}


def error_message(response: httpx.Response) -> str:
    """The server's explanation of a failed request: `message` of the JSON error envelope if present."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("detail")
        if isinstance(message, str) and message:
            return message
        if message:
            return str(message)
    text = response.text.strip()
    if text and len(text) < 300 and not text.lstrip().startswith("<"):
        return text
    return f"HTTP {response.status_code} {response.reason_phrase}"


def error_field(response: httpx.Response) -> str | None:
    """The field an error envelope names, when it names one apart from its message."""
    try:
        body = response.json()
    except ValueError:
        return None
    field = body.get("field") if isinstance(body, Mapping) else None
    return field if isinstance(field, str) and field else None


class Client:
    """One server: base URL plus credentials. Paths are relative to the server root."""

    def __init__(
        self, server: str, *, auth: str | None = None, token: str | None = None, timeout: float = 30
    ):
        self.server = server.rstrip("/")
        if "://" not in self.server:
            self.server = "http://" + self.server
        self._http = httpx.Client(
            base_url=self.server, headers=auth_headers(auth, token), timeout=timeout, follow_redirects=True
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _unreachable(self, e: httpx.TransportError) -> CliError:
        if isinstance(e, httpx.ConnectError):
            return CliError(
                f"no horae server at {self.server}: start one with `horae serve`", EXIT_UNREACHABLE
            )
        return CliError(f"cannot talk to {self.server}: {e or type(e).__name__}", EXIT_UNREACHABLE)

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The response; a `CliError` for a transport failure or an error status not listed in `ok`."""
        try:
            response = self._http.request(method, path, json=json, params=_clean(params))
        except httpx.TransportError as e:
            raise self._unreachable(e) from None
        if response.is_error and response.status_code not in ok:
            raise self.failure(response)
        return response

    def failure(self, response: httpx.Response) -> CliError:
        code = response.status_code
        message = error_message(response)
        field = error_field(response)
        if field and field not in message:
            message = f"field '{field}': {message}"
        if code in (401, 403):
            hint = " (give --auth user:pass or --token, or set HORAE_AUTH / HORAE_TOKEN)"
            return CliError(f"{message}{hint}", EXIT_ERROR, status=code)
        return CliError(message, EXIT_NOT_FOUND if code == 404 else EXIT_ERROR, status=code)

    def get(self, path: str, **params: Any) -> Any:
        return self.send("GET", path, params=params).json()

    def post(self, path: str, body: Any = None) -> Any:
        response = self.send("POST", path, json=body)
        return response.json() if response.content else None

    @contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        """A streamed GET (logs); the caller iterates `iter_bytes()`."""
        try:
            with self._http.stream("GET", path, params=_clean(params), timeout=None) as response:
                if response.is_error:
                    response.read()
                    raise self.failure(response)
                yield response
        except httpx.TransportError as e:
            raise self._unreachable(e) from None


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the unset ones (None, empty lists)."""
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None and v != [] and v != ()}
