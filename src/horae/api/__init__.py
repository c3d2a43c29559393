"""HTTP: Chronos-compatible routes, the native API, auth and the error envelope. Translation only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from horae.api._service import (
    JobAlreadyExists,
    JobNotFound,
    JobStatus,
    RunNotFound,
    RunPage,
    Service,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from horae.api._app import create_app

__all__ = [
    "JobAlreadyExists",
    "JobNotFound",
    "JobStatus",
    "RunNotFound",
    "RunPage",
    "Service",
    "StoreUnavailable",
    "create_app",
]


def __getattr__(name: str) -> Any:
    # The web framework loads when the app is first asked for, not for the command line's use of
    # `horae.api._jobkeys`.
    if name == "create_app":
        from horae.api._app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
