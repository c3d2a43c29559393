"""`horae job …`: apply job files, list, show, delete, run, pause, resume and kill jobs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote

import typer
import yaml

from horae.cli._app import AuthOption, JsonOption, ServerOption, TokenOption, client, job_app, reports_errors
from horae.cli._client import EXIT_USAGE, Client, CliError
from horae.cli._jobfiles import JobDocument, document_over, is_unchanged, parents_first, read_job_files
from horae.cli._output import escape, info, print_json, styled_state, table, when
from horae.model import InvalidJob, job_from_chronos

PAGE_SIZE = 100

_RESULT_STYLES = {"created": "green", "updated": "yellow", "unchanged": "dim", "failed": "red"}  # by result


def job_path(name: str) -> str:
    return f"/api/v1/jobs/{quote(name, safe='')}"


def apply_job(c: Client, job: JobDocument, *, dry_run: bool = False) -> str:
    """Create or update one job with `PUT /api/v1/jobs/{name}`: "created", "updated" or "unchanged".

    An unchanged job is not written again. A dry run reads the job locally instead, so that a definition the
    server would refuse fails here too (naming the field).
    """
    path = job_path(job.name)
    current = c.send("GET", path, ok=(404,))
    body = job.doc
    if current.status_code == 404:
        result = "created"
    elif is_unchanged(current.json(), job.doc):
        return "unchanged"
    else:
        result = "updated"
        body = document_over(job.doc, current.json())
    if dry_run:
        try:
            job_from_chronos(job.doc)
        except InvalidJob as e:
            raise CliError(f"field '{e.field}': {e.message}", status=400) from None
        return result
    written = c.send("PUT", path, json=body)
    return "created" if written.status_code == 201 else "updated"


def refused(job: JobDocument, e: CliError) -> CliError:
    """The server's refusal of a job, naming where the job came from."""
    if e.status is None or e.status in (401, 403):
        return e
    return CliError(f"{job.where}: job '{job.name}': {e.message}", e.exit_code, status=e.status)


def print_results(results: list[dict[str, Any]], *, dry_run: bool) -> None:
    for r in results:
        verb = f"would be {r['result']}" if dry_run and r["result"] in ("created", "updated") else r["result"]
        style = _RESULT_STYLES.get(r["result"], "default")
        line = f"[{style}]{verb:>10}[/]  {escape(r['name'])}"
        if r.get("error"):
            line += f": {escape(r['error'])}"
        info(line)


@job_app.command("apply")
@reports_errors
def apply_command(
    files: Annotated[
        list[str],
        typer.Option(
            "--file",
            "-f",
            help="A job file (Chronos JSON, or native YAML/JSON; one job or a list), a directory of them, "
            "or - for stdin. Repeat for several.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; change nothing.")
    ] = False,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update jobs from files; report created/updated/unchanged per job.

    Scheduled jobs are applied first and each dependent job after its parents, so a file may define both.
    The first refused job stops the run with the server's reason, naming the file, the job and the field.
    """
    jobs = parents_first(read_job_files(files))
    results: list[dict[str, Any]] = []
    with client(server, auth, token) as c:
        try:
            for job in jobs:
                try:
                    result = apply_job(c, job, dry_run=dry_run)
                except CliError as e:
                    raise refused(job, e) from None
                results.append({"name": job.name, "source": job.where, "result": result})
        except CliError as e:
            if as_json:
                print_json({"dry_run": dry_run, "jobs": results, "error": e.message})
            else:
                print_results(results, dry_run=dry_run)
            raise
    if as_json:
        print_json({"dry_run": dry_run, "jobs": results})
    else:
        print_results(results, dry_run=dry_run)


def iter_jobs(c: Client, name_contains: str = "", limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every job (or the first `limit`), following the `next` cursor of `GET /api/v1/jobs`."""
    cursor: str | None = None
    count = 0
    while True:
        page = c.get("/api/v1/jobs", name_contains=name_contains or None, after=cursor, limit=PAGE_SIZE)
        for job in page.get("jobs", []):
            yield job
            count += 1
            if limit is not None and count >= limit:
                return
        cursor = page.get("next")
        if not cursor:
            return


def _schedule_of(job: dict[str, Any]) -> str:
    if job.get("parents"):
        return "after " + ", ".join(job["parents"])
    schedule = str(job.get("schedule") or "")
    zone = job.get("scheduleTimeZone")
    return f"{schedule} ({zone})" if zone else schedule


def _state_of(job: dict[str, Any]) -> str:
    state = str((job.get("status") or {}).get("state") or "")
    return f"[yellow]paused[/], {state}" if job.get("disabled") else state


@job_app.command("ls")
@reports_errors
def ls_command(
    name: Annotated[str, typer.Option("--name", help="Only jobs whose name contains this text.")] = "",
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs with their schedule, last outcome, state and next due time."""
    with client(server, auth, token) as c:
        jobs = list(iter_jobs(c, name))
    if as_json:
        print_json(jobs)
        return
    if not jobs:
        info("no jobs" + (f" matching '{escape(name)}'" if name else ""))
        return
    rows = []
    for job in jobs:
        status = job.get("status") or {}
        rows.append(
            [
                escape(job["name"]),
                escape(_schedule_of(job)),
                styled_state(status.get("last")),
                _state_of(job),
                when(status.get("nextDue")),
            ]
        )
    table(None, ["NAME", "SCHEDULE", "LAST", "STATE", "NEXT DUE (UTC)"], rows)


@job_app.command("get")
@reports_errors
def get_command(
    name: Annotated[str, typer.Argument(help="The job's name.", show_default=False)],
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a job's definition and status (YAML; JSON with --json). The output can be applied again."""
    with client(server, auth, token) as c:
        job = c.get(job_path(name))
    if as_json:
        print_json(job)
    else:
        sys.stdout.write(yaml.safe_dump(job, sort_keys=False, allow_unicode=True, default_flow_style=False))


@job_app.command("rm")
@reports_errors
def rm_command(
    name: Annotated[str, typer.Argument(help="The job to delete.", show_default=False)],
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a job and kill its active runs. Its children lose this parent."""
    with client(server, auth, token) as c:
        c.send("DELETE", job_path(name))
    if as_json:
        print_json({"name": name, "deleted": True})
    else:
        info(f"deleted job {escape(name)}")


def _environment(pairs: list[str]) -> dict[str, str]:
    environment: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--env takes KEY=VALUE, got {pair!r}", EXIT_USAGE)
        environment[key] = value
    return environment


def describe_run(run: dict[str, Any]) -> str:
    text = f"run {escape(run.get('id', '?'))}: {styled_state(run.get('state'))}"
    if run.get("reason"):
        text += f" ({escape(run['reason'])})"
    return text


@job_app.command("run")
@reports_errors
def run_command(
    name: Annotated[str, typer.Argument(help="The job to run now.", show_default=False)],
    arguments: Annotated[
        list[str] | None,
        typer.Option(
            "--arg", "-a", help="An argument replacing the job's arguments for this run; repeat for several."
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="KEY=VALUE added to the run's environment; repeat for several."),
    ] = None,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of the job now (its concurrency policy still applies: the run may be queued or skipped)."""
    body: dict[str, Any] = {"environment": _environment(env or [])}
    if arguments:
        body["arguments"] = arguments
    with client(server, auth, token) as c:
        run = c.post(f"{job_path(name)}/runs", body)
    if as_json:
        print_json(run)
    else:
        info(describe_run(run))


def _set_paused(
    name: str, paused: bool, server: str | None, auth: str | None, token: str | None, as_json: bool
) -> None:
    with client(server, auth, token) as c:
        c.post(f"{job_path(name)}/{'pause' if paused else 'resume'}")
    if as_json:
        print_json({"name": name, "paused": paused})
    else:
        info(f"{'paused' if paused else 'resumed'} job {escape(name)}")


@job_app.command("pause")
@reports_errors
def pause_command(
    name: Annotated[str, typer.Argument(help="The job to pause.", show_default=False)],
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pause a job: no new scheduled or dependent runs until it is resumed (Chronos `disabled`)."""
    _set_paused(name, True, server, auth, token, as_json)


@job_app.command("resume")
@reports_errors
def resume_command(
    name: Annotated[str, typer.Argument(help="The job to resume.", show_default=False)],
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resume a paused job."""
    _set_paused(name, False, server, auth, token, as_json)


@job_app.command("kill")
@reports_errors
def kill_command(
    name: Annotated[str, typer.Argument(help="The job whose active runs to kill.", show_default=False)],
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Kill every active run of a job (they end as killed; killed runs are not retried)."""
    with client(server, auth, token) as c:
        answer = c.post(f"{job_path(name)}/kill")
    if as_json:
        out: dict[str, Any] = {"name": name, "kill_requested": True}
        if isinstance(answer, dict):
            out.update({k: v for k, v in answer.items() if k not in out})
        print_json(out)
    else:
        info(f"killing the active runs of {escape(name)}")
