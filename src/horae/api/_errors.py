"""The error envelope every failure answers with: `{"status": <reason phrase>, "message": …}`, as Chronos 3.x.

Never a stack trace and never HTML: a bad request names the field and the problem; anything unexpected is a
generic 500 whose trace goes to the server log only.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from horae.api._service import JobAlreadyExists, JobNotFound, RunNotFound, StoreUnavailable
from horae.model import InvalidJob
from horae.schedule import InvalidSchedule

log = logging.getLogger("horae.api")

NATIVE_PREFIX = "/api/"


class ApiError(Exception):
    """A request the API refuses: answered as the envelope with `status_code`."""

    def __init__(self, status_code: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field


def envelope(
    status_code: int, message: str, *, field: str | None = None, headers: Any = None
) -> JSONResponse:
    body: dict[str, Any] = {"status": HTTPStatus(status_code).phrase, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status_code, headers=headers)


def _is_native(request: Request) -> bool:
    return request.url.path.startswith(NATIVE_PREFIX)


def _location(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(field, how to say it): `("query", "limit")` → `limit`, `query parameter 'limit'`;
    `("body", "environment", "K")` → `environment.K` twice."""
    where, *rest = loc or ("request",)
    path = ".".join(str(part) for part in rest) or str(where)
    if where in ("query", "path", "header"):
        return path, f"{where} parameter '{path}'"
    return path, path


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return envelope(400, "the request is invalid")
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    field, said = _location(loc)
    if first.get("type") == "json_invalid":
        return envelope(400, f"malformed JSON: {first.get('ctx', {}).get('error', 'cannot be parsed')}")
    return envelope(400, f"{said}: {first.get('msg', 'is invalid')}", field=field)


async def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidJob | InvalidSchedule)
    return envelope(400, f"{exc.field}: {exc.message}", field=exc.field)


async def _on_not_found(request: Request, exc: Exception) -> JSONResponse:
    # Chronos answers an unknown job with a 400; the native API says what it is.
    return envelope(404 if _is_native(request) else 400, str(exc.args[0]) if exc.args else "not found")


async def _on_exists(request: Request, exc: Exception) -> JSONResponse:
    return envelope(409, str(exc), field="name")


async def _on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return envelope(503, f"{exc}; nothing was changed, try again", headers={"Retry-After": "1"})


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return envelope(exc.status_code, exc.message, field=exc.field)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such resource: {request.url.path}"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"method {request.method} is not allowed on {request.url.path}"
    return envelope(exc.status_code, detail, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(InvalidJob, _on_invalid)
    app.add_exception_handler(InvalidSchedule, _on_invalid)
    app.add_exception_handler(JobNotFound, _on_not_found)
    app.add_exception_handler(RunNotFound, _on_not_found)
    app.add_exception_handler(JobAlreadyExists, _on_exists)
    app.add_exception_handler(StoreUnavailable, _on_store_unavailable)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)


def parse_json(body: bytes) -> Any:
    """The JSON document of a request body; ApiError 400 saying where it is malformed."""
    if not body.strip():
        raise ApiError(400, "the request body is empty; expected a JSON document")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise ApiError(400, f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    except ValueError:  # an integer with more digits than Python converts
        raise ApiError(400, "malformed JSON: a number has too many digits") from None
