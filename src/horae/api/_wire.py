"""Wire shapes: the job and run documents, and pydantic models that describe them in the OpenAPI spec.

Job documents are read and written by `horae.model`'s Chronos converter (one format for both APIs); the
models here document them and type the native API's small request bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from horae.api._service import JobStatus
from horae.model import InvalidJob, Job, Run, check_environment, job_to_chronos

# ---- values ---------------------------------------------------------------------------------------------


def iso_utc(instant: datetime | None) -> str | None:
    """UTC ISO 8601 with `Z`: seconds, or milliseconds when the instant has a fraction."""
    if instant is None:
        return None
    t = instant.astimezone(UTC)
    text = t.isoformat(timespec="milliseconds" if t.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def status_out(status: JobStatus) -> dict[str, Any]:
    return {"last": status.last, "state": status.state, "nextDue": iso_utc(status.next_due)}


def job_out(job: Job, status: JobStatus | None = None) -> dict[str, Any]:
    doc = job_to_chronos(job)
    if status is not None:
        doc["status"] = status_out(status)
    return doc


def mirror_fetch(doc: dict[str, Any]) -> dict[str, Any]:
    """Chronos's `GET /jobs` view: `fetch` filled from `uris` when empty, else `uris` from `fetch`."""
    if not doc["fetch"]:
        doc["fetch"] = [{"uri": u, "executable": False, "cache": False, "extract": True} for u in doc["uris"]]
    else:
        doc["uris"] = [f["uri"] for f in doc["fetch"]]
    return doc


def run_out(run: Run, job: Job | None, *, with_output: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.id,
        "job": run.job,
        "scheduled_for": iso_utc(run.scheduled_for),
        "attempt": run.attempt,
        "trigger": str(run.trigger),
        "state": str(run.state),
        "created_at": iso_utc(run.created_at),
        "due_at": iso_utc(run.due_at),
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc(run.finished_at),
        "exit_code": run.exit_code,
        "reason": run.reason,
        "task_id": run.task_id(job.arguments if job is not None else ()),
    }
    if with_output:
        out["output_tail"] = run.output_tail
    return out


# ---- models for the OpenAPI spec -----------------------------------------------------------------------


class ErrorOut(BaseModel):
    status: str = Field(description="the HTTP reason phrase, e.g. 'Bad Request'")
    message: str = Field(description="what is wrong; names the field at fault")
    field: str | None = Field(default=None, description="the JSON path of the field at fault, if one is")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "invalid request; the message names the field"},
    401: {"model": ErrorOut, "description": "authentication required"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such job or run"}}


class JobDocument(BaseModel):
    """A job, as Chronos's job JSON (camelCase) plus horae's own fields. Only `name` is required, and
    exactly one of `schedule` and `parents`. Unknown keys are ignored, as Chronos does."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description=r"unique; ASCII letters, digits, '_', '.', '-' (`^[\w.-]+$`)")
    command: str | None = None
    schedule: str | None = Field(
        default=None, description="ISO 8601 repeating interval `R[n]/start/period`, or cron (5 or 6 fields)"
    )
    scheduleTimeZone: str | None = Field(default=None, description="IANA zone (or Chronos's aliases)")
    parents: list[str] | None = Field(default=None, description="a dependent job: runs after these succeed")
    shell: bool | None = None
    arguments: list[str] | None = None
    environmentVariables: list[dict[str, str]] | None = None
    executor: str | None = None
    executorFlags: str | None = None
    taskInfoData: str | None = None
    retries: int | None = None
    owner: str | None = None
    ownerName: str | None = None
    description: str | None = None
    cpus: float | None = None
    mem: float | None = None
    disk: float | None = None
    disabled: bool | None = None
    softError: bool | None = None
    dataProcessingJobType: bool | None = None
    highPriority: bool | None = None
    runAsUser: str | None = None
    concurrent: bool | None = None
    maxCompletionTime: int | None = None
    fetch: list[dict[str, Any]] | None = None
    uris: list[str] | None = None
    constraints: list[list[str]] | None = None
    container: dict[str, Any] | None = None
    successCount: int | None = None
    errorCount: int | None = None
    lastSuccess: str | None = None
    lastError: str | None = None
    errorsSinceLastSuccess: int | None = None
    concurrencyPolicy: Literal["allow", "forbid", "replace", "queue"] | None = None
    startingDeadline: str | None = Field(default=None, description="ISO 8601 duration; Chronos 2.x `epsilon`")
    catchUp: str | dict[str, Any] | None = Field(
        default=None, description="latest | all | none, or {mode, limit}"
    )
    retryBackoff: dict[str, Any] | None = None
    disableAfterFailures: int | None = None
    jitter: str | None = None
    epsilon: str | None = Field(default=None, description="input only: Chronos 2.x's `startingDeadline`")
    timeout: str | None = Field(
        default=None, description="input only: ISO 8601 duration, whole seconds; `maxCompletionTime`"
    )
    async_: bool | None = Field(default=None, alias="async", description="input only: Chronos 2.x; ignored")


class NativeJobDocument(JobDocument):
    """A job as horae's own API takes it: the same keys, and no others — a key that is not one of these is
    refused (400 naming it) rather than ignored, so a misspelt field cannot fall back to its default."""

    model_config = ConfigDict(extra="forbid")

    status: dict[str, Any] | None = Field(default=None, description="read-only; ignored on input")


class JobStatusOut(BaseModel):
    last: Literal["success", "failure", "fresh"]
    state: str = Field(description="idle | queued | '<n> running'")
    nextDue: str | None = Field(description="the next scheduled occurrence (UTC), if any")


class JobOut(JobDocument):
    status: JobStatusOut = Field(description="read-only; ignored on input")


class JobList(BaseModel):
    jobs: list[JobOut]
    next: str | None = Field(description="pass as `after` for the following page; null on the last page")


RunStateName = Literal[
    "pending",
    "queued",
    "running",
    "retry_wait",
    "succeeded",
    "failed",
    "killed",
    "timed_out",
    "oom_killed",
    "lost",
    "skipped",
    "missed",
]


class RunOut(BaseModel):
    id: str = Field(description="`<job>:<scheduled_for epoch ms>`")
    job: str
    scheduled_for: str
    attempt: int
    trigger: Literal["schedule", "manual", "dependency"]
    state: RunStateName
    created_at: str | None
    due_at: str | None
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    reason: str
    task_id: str = Field(description="Chronos task id `ct:<due ms>:<attempt>:<job>:<args>`")


class RunDetail(RunOut):
    output_tail: str = Field(description="the last few KiB of the output; the whole output is at /log")


class RunList(BaseModel):
    runs: list[RunOut]
    next: str | None = Field(description="pass as `before` for the following page; null on the last page")


def _no_nul(text: str, what: str) -> str:
    if "\x00" in text:
        raise ValueError(f"{what} must not contain NUL characters")
    return text


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arguments: list[str] | None = Field(default=None, description="replace the job's arguments for this run")
    environment: dict[str, str] = Field(default_factory=dict, description="extra environment variables")

    @field_validator("arguments")
    @classmethod
    def _arguments(cls, value: list[str] | None) -> list[str] | None:
        for argument in value or ():
            _no_nul(argument, "an argument")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        try:  # the rule a job's own variables follow: a name the launch can export
            check_environment(value.items(), "environment")
        except InvalidJob as e:
            raise ValueError(str(e)) from None
        return value


class Times(BaseModel):
    times: list[str] = Field(description="UTC instants, ISO 8601 with Z")


class NextTimes(Times):
    paused: bool = Field(description="the job is paused: it runs at none of its times until resumed")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str = Field(description="ISO 8601 repeating interval or cron")
    timezone: str = Field(
        default="", description="IANA zone; empty: UTC (or the offset written in the schedule)"
    )
    after: datetime | None = Field(default=None, description="default: now; a naive instant is taken as UTC")
    count: int = Field(default=10, ge=1, le=1000)
