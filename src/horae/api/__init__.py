"""HTTP: Chronos-compatible routes, the native API, auth and the error envelope. Translation only."""

from horae.api._app import create_app
from horae.api._service import JobNotFound, JobStatus, RunNotFound, RunPage, Service

__all__ = ["JobNotFound", "JobStatus", "RunNotFound", "RunPage", "Service", "create_app"]
