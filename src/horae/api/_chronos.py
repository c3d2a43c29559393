"""Chronos's REST API: 3.x under `/v1/scheduler`, 2.x under `/scheduler`. Status codes and bodies are the
ones Chronos clients parse: 204 with an empty body for mutations, JSON arrays for lists, text for graphs.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from horae.api._errors import ApiError, parse_json
from horae.api._graph import to_csv, to_dot
from horae.api._service import JobNotFound, RunNotFound, Service
from horae.api._wire import JobDocument, job_out, mirror_fetch
from horae.model import InvalidJob, Job, RunState, TaskId, job_from_chronos, parse_task_id

ONCE_NOW = "R1//PT24H"  # Chronos's schedule for a job posted with neither schedule nor parents
PERCENTILES = (
    "99thPercentile",
    "98thPercentile",
    "95thPercentile",
    "75thPercentile",
    "median",
    "mean",
    "count",
)
NOT_STARTED = (RunState.PENDING, RunState.QUEUED, RunState.RETRY_WAIT)
INT32 = (-(2**31), 2**31 - 1)  # a task's status code becomes the run's exit code, an INTEGER column

_JOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": JobDocument.model_json_schema()}},
    }
}


def _no_content() -> Response:
    return Response(status_code=204)


def _text(body: str) -> PlainTextResponse:
    return PlainTextResponse(body, media_type="text/plain; charset=utf-8")


def _task_id(text: str) -> TaskId:
    """The Chronos task id in a path; InvalidJob naming `taskId` when it is not one, including one whose
    numbers are beyond any instant or beyond what Python parses."""
    try:
        task = parse_task_id(text)
    except (OverflowError, ValueError, OSError):
        task = None
    if task is None:
        raise InvalidJob(
            "taskId", f"'{_clip(text)}' is not a Chronos task id (ct:<due>:<attempt>:<job>:<args>)"
        )
    return task


def _clip(text: str, keep: int = 80) -> str:
    return text if len(text) <= keep else text[:keep] + "…"


def chronos_router(service: Service, *, legacy: bool) -> APIRouter:
    """The Chronos routes; `legacy` adds 2.x's PUT saves, async task completion and task purge."""
    router = APIRouter(tags=["chronos 2.x" if legacy else "chronos"], include_in_schema=not legacy)

    def require_job(name: str) -> Job:
        job = service.get_job(name)
        if job is None:
            raise JobNotFound(name)
        return job

    def all_jobs() -> list[Job]:
        return sorted(service.list_jobs(), key=lambda j: j.name)

    # ---- jobs --------------------------------------------------------------------------------------

    @router.get("/jobs", summary="All jobs (fetch and uris mirrored)")
    async def list_jobs() -> JSONResponse:
        return JSONResponse([mirror_fetch(job_out(job)) for job in all_jobs()])

    @router.get("/jobs/search", summary="Jobs whose name or command contains the given text")
    async def search_jobs(
        name: str = "",
        command: str = "",
        any_: str = Query("", alias="any"),
        limit: int = Query(10, ge=0),
        offset: int = Query(0, ge=0),
    ) -> JSONResponse:
        found = []
        for job in all_jobs():
            # Chronos's filter, quirks included: `any` can only bring a job back, never exclude one.
            valid = True
            if name and name.lower() not in job.name.lower():
                valid = False
            if command and command.lower() not in job.command.lower():
                valid = False
            if not valid and any_:
                needle = any_.lower()
                valid = needle in job.name.lower() or needle in job.command.lower()
            if valid:
                found.append(job)
        return JSONResponse([job_out(job) for job in found[offset : offset + limit]])

    @router.get("/jobs/summary", summary="Name, last outcome and state of every job (the UI's table)")
    async def summary() -> JSONResponse:
        rows = []
        for job in all_jobs():
            status = service.job_status(job.name)
            rows.append(
                {
                    "name": job.name,
                    "status": status.last,
                    "state": status.state,
                    "schedule": job.schedule if job.parents is None and job.schedule is not None else "",
                    "parents": list(job.parents or ()),
                    "disabled": job.disabled,
                }
            )
        return JSONResponse({"jobs": rows})

    @router.get("/job/{name}", summary="One job")
    async def get_job(name: str) -> JSONResponse:
        return JSONResponse(job_out(require_job(name)))

    @router.put("/job/{name}", status_code=204, summary="Run the job now")
    async def run_job(name: str, arguments: str = "") -> Response:
        require_job(name)
        text = arguments.replace(";", "").strip()
        # Chronos appends the argument string to the command as written; keep it one piece.
        await service.trigger(name, arguments=(text,) if text else None)
        return _no_content()

    @router.delete("/job/{name}", status_code=204, summary="Delete the job")
    async def delete_job(name: str) -> Response:
        require_job(name)
        await service.delete_job(name)
        return _no_content()

    @router.put("/job/success/{name}", summary="Mark the job's last run successful (plain-text answer)")
    async def mark_success(name: str) -> PlainTextResponse:
        ok = False
        if service.get_job(name) is not None:
            try:
                ok = await service.mark_success(name)
            except JobNotFound:
                ok = False
        return _text(f"marked job {name} as successful: {str(ok).lower()}")

    @router.get("/job/stat/{name}", summary="Run-time histogram (milliseconds)")
    async def job_stat(name: str) -> JSONResponse:
        require_job(name)
        return JSONResponse({"histogram": service.job_histogram(name).as_chronos(), "taskStatHistory": []})

    @router.post(
        "/job/{name}/task/{task_id:path}/progress",
        status_code=204,
        summary="Report progress of a data-processing task (accepted and ignored)",
    )
    async def task_progress(name: str, task_id: str, request: Request) -> Response:
        job = require_job(name)
        _task_id(task_id)
        if not job.data_processing_job_type:
            raise InvalidJob("dataProcessingJobType", f"job '{name}' is not a data-processing job")
        body = await request.body()
        doc = parse_json(body) if body.strip() else {}
        if not isinstance(doc, dict):
            raise InvalidJob("numAdditionalElementsProcessed", "the body must be a JSON object")
        count = doc.get("numAdditionalElementsProcessed")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise InvalidJob("numAdditionalElementsProcessed", f"must be an integer >= 0, got {count!r}")
        return _no_content()  # no Cassandra here: progress counters are not kept

    # ---- saving jobs -------------------------------------------------------------------------------

    async def save(request: Request, *, dependent: bool) -> Response:
        job = job_from_chronos(parse_json(await request.body()))
        if job.schedule is None and job.parents is None:
            if dependent:
                raise InvalidJob("parents", "a dependent job needs at least one parent")
            job = replace(job, schedule=ONCE_NOW)  # the start is pinned to now when stored
        await service.save_job(job)
        return _no_content()

    async def save_scheduled(request: Request) -> Response:
        return await save(request, dependent=False)

    async def save_dependent(request: Request) -> Response:
        return await save(request, dependent=True)

    methods = ["POST", "PUT"] if legacy else ["POST"]
    router.add_api_route(
        "/iso8601",
        save_scheduled,
        methods=methods,
        status_code=204,
        summary="Create or replace a scheduled job (a body with parents makes a dependent job)",
        openapi_extra=_JOB_BODY,
    )
    router.add_api_route(
        "/dependency",
        save_dependent,
        methods=methods,
        status_code=204,
        summary="Create or replace a dependent job",
        openapi_extra=_JOB_BODY,
    )

    # ---- tasks -------------------------------------------------------------------------------------

    @router.delete("/task/kill/{name}", status_code=204, summary="Kill the job's active runs")
    async def kill_tasks(name: str) -> Response:
        require_job(name)
        await service.kill_job(name)
        return _no_content()

    if legacy:

        @router.delete("/task/all", status_code=204, summary="Cancel every run that has not started yet")
        async def purge_tasks() -> Response:
            for job in all_jobs():
                page = service.list_runs(job.name, limit=1000, states=NOT_STARTED)
                for run in page.runs:
                    with contextlib.suppress(RunNotFound):  # it ended meanwhile
                        await service.kill_run(run.id)
            return _no_content()

        @router.put("/task/{task_id:path}", status_code=204, summary="Report completion of an async task")
        async def complete_task(task_id: str, request: Request) -> Response:
            doc = parse_json(await request.body())
            code = doc.get("statusCode") if isinstance(doc, dict) else None
            if not isinstance(code, int) or isinstance(code, bool):
                raise InvalidJob("statusCode", f"must be an integer, got {_clip(repr(code))}")
            if not INT32[0] <= code <= INT32[1]:
                raise InvalidJob(
                    "statusCode", f"must be from {INT32[0]} to {INT32[1]}, got {_clip(str(code))}"
                )
            _task_id(task_id)
            try:
                await service.complete_task(task_id, code)
            except RunNotFound:
                raise ApiError(400, f"task '{task_id}' not found", field="taskId") from None
            return _no_content()

    # ---- graph, stats, leader ----------------------------------------------------------------------

    @router.get("/graph/dot", response_class=PlainTextResponse, summary="The dependency graph in DOT")
    async def graph_dot() -> PlainTextResponse:
        return _text(to_dot(all_jobs()))

    @router.get("/graph/csv", response_class=PlainTextResponse, summary="Jobs and dependency edges as CSV")
    async def graph_csv() -> Response:
        text = to_csv(all_jobs(), service.job_status)
        if not text:
            # An empty 200 is an error to chronos-python; 204 is the one empty answer it accepts.
            return _no_content()
        return _text(text)

    @router.get("/stats/{percentile}", summary="One run-time statistic of every job, in seconds")
    async def stats(percentile: str) -> JSONResponse:
        if percentile not in PERCENTILES:
            return JSONResponse([])
        times = [
            (job.name, float(service.job_histogram(job.name).as_chronos()[percentile]) / 1000.0)
            for job in all_jobs()
        ]
        times.sort(key=lambda item: -item[1])  # stable: equal times stay in name order
        return JSONResponse([{"jobNameLabel": name, "time": time} for name, time in times])

    @router.get("/leader", summary="The leader's host:port")
    async def leader() -> JSONResponse:
        return JSONResponse({"leader": service.leader()})

    return router
