"""`horae import-chronos URL`: copy every job of a running Chronos (3.x or 2.x) into horae."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from horae.api._jobkeys import ACCEPTED_KEYS
from horae.cli._app import AuthOption, JsonOption, ServerOption, TokenOption, app, client, reports_errors
from horae.cli._client import EXIT_ERROR, EXIT_UNREACHABLE, CliError, auth_headers, error_message
from horae.cli._jobfiles import JobDocument, documents_of, parents_first
from horae.cli._jobs import apply_job, print_results
from horae.cli._output import info, print_json


def chronos_jobs(url: str, auth: str | None) -> list[dict[str, Any]]:
    """Every job of the Chronos at `url`: `GET /v1/scheduler/jobs` (3.x), else `/scheduler/jobs` (2.x)."""
    base = url.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    with httpx.Client(headers=auth_headers(auth, None), timeout=30, follow_redirects=True) as http:
        for path in ("/v1/scheduler/jobs", "/scheduler/jobs"):
            try:
                response = http.get(base + path)
            except httpx.TransportError as e:
                raise CliError(f"no Chronos at {base}: {e or type(e).__name__}", EXIT_UNREACHABLE) from None
            if response.status_code == 404:
                continue
            if response.is_error:
                raise CliError(f"Chronos at {base} refused {path}: {error_message(response)}", EXIT_ERROR)
            try:
                jobs = response.json()
            except ValueError:
                raise CliError(f"Chronos at {base} answered {path} with something other than JSON") from None
            if not isinstance(jobs, list):
                raise CliError(f"Chronos at {base} answered {path} with something other than a job list")
            return [unmirror(known_keys(job)) for job in jobs if isinstance(job, dict)]
    raise CliError(
        f"no Chronos job list at {base} (tried /v1/scheduler/jobs and /scheduler/jobs)", EXIT_ERROR
    )


def known_keys(job: dict[str, Any]) -> dict[str, Any]:
    """The job without keys horae does not read: Chronos ignores unknown keys, so a copy from it does too
    (horae's own API would refuse them)."""
    return {k: v for k, v in job.items() if k in ACCEPTED_KEYS}


def unmirror(job: dict[str, Any]) -> dict[str, Any]:
    """Undo the job list's mirroring of `fetch` into `uris` (Chronos fills each from the other in that
    listing only), which would otherwise read as a job giving both."""
    fetch, uris = job.get("fetch"), job.get("uris")
    if (
        fetch
        and uris
        and isinstance(fetch, list)
        and uris == [f.get("uri") for f in fetch if isinstance(f, dict)]
    ):
        return {k: v for k, v in job.items() if k != "uris"}
    return job


@app.command("import-chronos")
@reports_errors
def import_chronos_command(
    url: Annotated[
        str, typer.Argument(help="Base URL of the Chronos to copy from, e.g. http://chronos:4400.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be copied; change nothing.")
    ] = False,
    chronos_auth: Annotated[
        str | None,
        typer.Option("--chronos-auth", help="user:password for the Chronos server, if it needs one."),
    ] = None,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy every job from a running Chronos into horae, parents before their children.

    Reports created/updated/unchanged/failed per job; a job horae refuses is reported with the reason and the
    others are still copied. Exits non-zero when any job failed.
    """
    documents = documents_of([chronos_jobs(url, chronos_auth)], url)
    jobs: list[JobDocument] = parents_first(documents)
    results: list[dict[str, Any]] = []
    with client(server, auth, token) as c:
        for job in jobs:
            try:
                results.append({"name": job.name, "result": apply_job(c, job, dry_run=dry_run)})
            except CliError as e:
                if e.status is None or e.status in (401, 403):
                    raise
                results.append({"name": job.name, "result": "failed", "error": e.message})
    failed = [r for r in results if r["result"] == "failed"]
    if as_json:
        print_json({"source": url, "dry_run": dry_run, "jobs": results})
    else:
        print_results(results, dry_run=dry_run)
        if not results:
            info("no jobs in that Chronos")
    if failed:
        raise CliError(f"{len(failed)} of {len(results)} jobs could not be copied")
