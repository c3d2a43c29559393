"""horae's own API under `/api/v1`: jobs (the same document as Chronos's, plus a read-only `status`), runs,
logs and schedule previews. Lists page with opaque cursors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from horae.api._errors import ApiError, parse_json
from horae.api._jobkeys import READ_ONLY_KEYS, unknown_key
from horae.api._service import JobNotFound, RunNotFound, Service
from horae.api._wire import (
    ERRORS,
    NOT_FOUND,
    ErrorOut,
    JobList,
    JobOut,
    NativeJobDocument,
    NextTimes,
    PreviewRequest,
    RunDetail,
    RunList,
    RunRequest,
    Times,
    iso_utc,
    job_out,
    run_out,
)
from horae.model import InvalidJob, Job, Run, RunState, job_from_chronos, job_to_chronos
from horae.schedule import InvalidSchedule, preview

LOG_POLL_SECONDS = 0.2
LOG_CHUNK = 64 * 1024

_JOB_SCHEMA = NativeJobDocument.model_json_schema()
_JOB_SCHEMA_NAME_OPTIONAL = {**_JOB_SCHEMA, "required": []}


def _body(schema: dict[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _read_job(doc: Any, *, name: str | None) -> Job:
    """The job a native document describes; `name`, when given, is the path's and must agree."""
    if not isinstance(doc, dict):
        raise InvalidJob("job", "must be a JSON object")
    unknown = unknown_key(doc)
    if unknown is not None:
        raise InvalidJob(*unknown)
    doc = {k: v for k, v in doc.items() if k not in READ_ONLY_KEYS}
    if name is not None:
        given = doc.setdefault("name", name)
        if given != name:
            raise InvalidJob("name", f"'{given}' differs from the job named in the path, '{name}'")
    return job_from_chronos(doc)


def _read_chunk(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(LOG_CHUNK)
    except FileNotFoundError:
        return b""


def native_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERRORS)

    def require_job(name: str) -> Job:
        job = service.get_job(name)
        if job is None:
            raise JobNotFound(name)
        return job

    def require_run(run_id: str) -> Run:
        run = service.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def job_document(job: Job) -> dict[str, Any]:
        return job_out(job, service.job_status(job.name))

    def run_document(run: Run, *, with_output: bool = False) -> dict[str, Any]:
        return run_out(run, service.get_job(run.job), with_output=with_output)

    # ---- jobs --------------------------------------------------------------------------------------

    @router.get(
        "/jobs", response_model=JobList, tags=["jobs"], summary="Jobs in name order, a page at a time"
    )
    async def list_jobs(
        name_contains: str = "",
        after: str = Query("", description="the `next` cursor of the previous page"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> JSONResponse:
        jobs = service.list_jobs(name_contains=name_contains, after=after, limit=limit + 1)
        page, more = jobs[:limit], len(jobs) > limit
        return JSONResponse(
            {"jobs": [job_document(job) for job in page], "next": page[-1].name if more and page else None}
        )

    @router.post(
        "/jobs",
        response_model=JobOut,
        status_code=201,
        tags=["jobs"],
        summary="Create a job",
        responses={409: {"model": ErrorOut, "description": "a job with this name exists"}},
        openapi_extra=_body(_JOB_SCHEMA),
    )
    async def create_job(request: Request) -> JSONResponse:
        job = _read_job(parse_json(await request.body()), name=None)
        stored = await service.save_job(job, create_only=True)
        return JSONResponse(job_document(stored), status_code=201)

    @router.get("/jobs/{name}", response_model=JobOut, tags=["jobs"], responses=NOT_FOUND, summary="One job")
    async def get_job(name: str) -> JSONResponse:
        return JSONResponse(job_document(require_job(name)))

    @router.put(
        "/jobs/{name}",
        response_model=JobOut,
        tags=["jobs"],
        summary="Create or replace a job (201 when created)",
        responses={201: {"model": JobOut, "description": "created"}},
        openapi_extra=_body(_JOB_SCHEMA_NAME_OPTIONAL),
    )
    async def put_job(name: str, request: Request) -> JSONResponse:
        job = _read_job(parse_json(await request.body()), name=name)
        existed = service.get_job(name) is not None
        stored = await service.save_job(job)
        return JSONResponse(job_document(stored), status_code=200 if existed else 201)

    @router.patch(
        "/jobs/{name}",
        response_model=JobOut,
        tags=["jobs"],
        responses=NOT_FOUND,
        summary="Change some fields (JSON merge patch, RFC 7396, over the job's document)",
        openapi_extra=_body(_JOB_SCHEMA_NAME_OPTIONAL, "application/merge-patch+json"),
    )
    async def patch_job(name: str, request: Request) -> JSONResponse:
        current = require_job(name)
        patch = parse_json(await request.body())
        if not isinstance(patch, dict):
            raise InvalidJob("job", "a merge patch must be a JSON object")
        stored = await service.save_job(_read_job(merge_patch(job_to_chronos(current), patch), name=name))
        return JSONResponse(job_document(stored))

    @router.delete(
        "/jobs/{name}", status_code=204, tags=["jobs"], responses=NOT_FOUND, summary="Delete a job"
    )
    async def delete_job(name: str) -> Response:
        require_job(name)
        await service.delete_job(name)
        return Response(status_code=204)

    @router.post(
        "/jobs/{name}/pause", response_model=JobOut, tags=["jobs"], responses=NOT_FOUND, summary="Pause"
    )
    async def pause(name: str) -> JSONResponse:
        require_job(name)
        return JSONResponse(job_document(await service.set_paused(name, True)))

    @router.post(
        "/jobs/{name}/resume", response_model=JobOut, tags=["jobs"], responses=NOT_FOUND, summary="Resume"
    )
    async def resume(name: str) -> JSONResponse:
        require_job(name)
        return JSONResponse(job_document(await service.set_paused(name, False)))

    @router.post(
        "/jobs/{name}/success",
        status_code=204,
        tags=["jobs"],
        responses=NOT_FOUND,
        summary="Mark the job successful now (triggers its dependents)",
    )
    async def mark_success(name: str) -> Response:
        require_job(name)
        if not await service.mark_success(name):
            raise JobNotFound(name)
        return Response(status_code=204)

    @router.post(
        "/jobs/{name}/kill", status_code=204, tags=["jobs"], responses=NOT_FOUND, summary="Kill active runs"
    )
    async def kill_job(name: str) -> Response:
        require_job(name)
        await service.kill_job(name)
        return Response(status_code=204)

    @router.get(
        "/jobs/{name}/next",
        response_model=NextTimes,
        tags=["jobs"],
        responses=NOT_FOUND,
        summary="The job's next scheduled occurrences (none while it is paused)",
    )
    async def next_times(name: str, count: int = Query(10, ge=1, le=1000)) -> JSONResponse:
        if require_job(name).disabled:
            return JSONResponse({"times": [], "paused": True})
        times = [iso_utc(t) for t in service.next_occurrences(name, count)]
        return JSONResponse({"times": times, "paused": False})

    # ---- runs --------------------------------------------------------------------------------------

    @router.get(
        "/jobs/{name}/runs",
        response_model=RunList,
        tags=["runs"],
        responses=NOT_FOUND,
        summary="The job's runs, newest first",
    )
    async def list_runs(
        name: str,
        before: str | None = Query(None, description="the `next` cursor of the previous page"),
        limit: int = Query(50, ge=1, le=1000),
        state: Annotated[
            list[str] | None, Query(description="only these states (repeat, or separate with commas)")
        ] = None,
    ) -> JSONResponse:
        require_job(name)
        states = []
        for text in (s.strip() for item in state or () for s in item.split(",")):
            if not text:
                continue
            try:
                states.append(RunState(text))
            except ValueError:
                names = ", ".join(s.value for s in RunState)
                raise ApiError(400, f"state: '{text}' is not one of {names}", field="state") from None
        try:
            page = service.list_runs(name, before=before or None, limit=limit, states=states)
        except InvalidJob:
            raise
        except ValueError:
            shown = before if before is None or len(before) <= 40 else before[:40] + "…"
            raise ApiError(
                400, f"before: '{shown}' is not a cursor this API gave out", field="before"
            ) from None
        return JSONResponse({"runs": [run_document(run) for run in page.runs], "next": page.next})

    @router.post(
        "/jobs/{name}/runs",
        response_model=RunDetail,
        status_code=201,
        tags=["runs"],
        responses=NOT_FOUND,
        summary="Run the job now",
    )
    async def trigger(name: str, body: Annotated[RunRequest | None, Body()] = None) -> JSONResponse:
        require_job(name)
        request = body or RunRequest()
        run = await service.trigger(
            name,
            arguments=request.arguments,
            environment=tuple(request.environment.items()),
        )
        return JSONResponse(run_document(run, with_output=True), status_code=201)

    @router.get(
        "/runs/{run_id}", response_model=RunDetail, tags=["runs"], responses=NOT_FOUND, summary="A run"
    )
    async def get_run(run_id: str) -> JSONResponse:
        return JSONResponse(run_document(require_run(run_id), with_output=True))

    @router.post(
        "/runs/{run_id}/kill", status_code=204, tags=["runs"], responses=NOT_FOUND, summary="Kill a run"
    )
    async def kill_run(run_id: str) -> Response:
        require_run(run_id)
        await service.kill_run(run_id)
        return Response(status_code=204)

    @router.get(
        "/runs/{run_id}/log",
        tags=["runs"],
        responses={**NOT_FOUND, 200: {"content": {"text/plain": {}}, "description": "the run's output"}},
        summary="The run's whole output; with follow=true, streamed until the run ends",
    )
    async def run_log(run_id: str, follow: bool = False) -> StreamingResponse:
        require_run(run_id)
        if service.log_path(run_id) is None:
            raise ApiError(404, f"run '{run_id}' keeps no log file")

        async def chunks() -> AsyncIterator[bytes]:
            path, offset = service.log_path(run_id), 0
            while path is not None:
                data = _read_chunk(path, offset)
                if data:
                    offset += len(data)
                    yield data
                    continue
                if not follow:
                    return
                run = service.get_run(run_id)
                if run is None or run.state.is_final:
                    tail = _read_chunk(path, offset)  # the runtime may finish writing after reporting
                    while tail:
                        offset += len(tail)
                        yield tail
                        tail = _read_chunk(path, offset)
                    return
                await asyncio.sleep(LOG_POLL_SECONDS)
                latest = service.log_path(run_id)
                if latest != path:  # a retry writes its own file
                    path, offset = latest, 0

        return StreamingResponse(chunks(), media_type="text/plain; charset=utf-8")

    # ---- schedules ---------------------------------------------------------------------------------

    @router.post(
        "/schedules/preview",
        response_model=Times,
        tags=["schedules"],
        summary="A schedule's next occurrences",
    )
    async def preview_schedule(body: PreviewRequest) -> JSONResponse:
        after = body.after or datetime.now(UTC)
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        try:
            times = preview(body.schedule, body.timezone, after.astimezone(UTC), body.count)
        except InvalidSchedule as e:
            field = "timezone" if e.field == "scheduleTimeZone" else e.field
            raise ApiError(400, f"{field}: {e.message}", field=field) from None
        except (OverflowError, ValueError) as e:
            raise ApiError(400, f"after: out of the range schedules can reach ({e})", field="after") from None
        return JSONResponse({"times": [iso_utc(t) for t in times]})

    return router
