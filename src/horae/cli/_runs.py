"""`horae runs`, `logs`, `next` and `preview`: what ran, what it printed, and what runs next."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from horae.cli._app import AuthOption, JsonOption, ServerOption, TokenOption, app, client, reports_errors
from horae.cli._client import EXIT_USAGE, Client, CliError
from horae.cli._jobs import iter_jobs, job_path
from horae.cli._output import escape, info, print_json, styled_state, table, when
from horae.model import RunState

ACROSS_JOBS_LIMIT = 200  # `horae runs` without a job looks at most at this many jobs

_STATES = [s.value for s in RunState]


def _states(values: list[str]) -> list[str]:
    states = [s.strip() for v in values for s in v.split(",") if s.strip()]
    unknown = [s for s in states if s not in _STATES]
    if unknown:
        raise CliError(f"unknown run state {unknown[0]!r}: choose from {', '.join(_STATES)}", EXIT_USAGE)
    return states


def _job_runs(c: Client, job: str, states: list[str], count: int) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(runs) < count:
        page = c.get(f"{job_path(job)}/runs", state=states, limit=min(count - len(runs), 500), before=cursor)
        runs.extend(page.get("runs", []))
        cursor = page.get("next")
        if not cursor:
            break
    return runs[:count]


def _scheduled_for(run: dict[str, Any]) -> datetime:
    """The instant a run was scheduled for (sorting its ISO text would put `…30Z` after `…30.020Z`)."""
    text = str(run.get("scheduled_for") or run.get("created_at") or "")
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@app.command("runs")
@reports_errors
def runs_command(
    job: Annotated[
        str | None,
        typer.Argument(help="The job; without it, the newest runs across jobs.", show_default=False),
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state", help=f"Only runs in this state ({', '.join(_STATES)}); repeat or comma-separate."
        ),
    ] = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, help="How many runs to show, newest first.")
    ] = 20,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a job's runs, newest first: state, trigger, attempt, times, exit code and reason.

    Without a job, shows the newest runs of the first 200 jobs together.
    """
    states = _states(state or [])
    with client(server, auth, token) as c:
        if job is not None:
            runs = _job_runs(c, job, states, count)
        else:
            runs = []
            for each in iter_jobs(c, limit=ACROSS_JOBS_LIMIT):
                runs.extend(_job_runs(c, each["name"], states, count))
            runs = sorted(runs, key=_scheduled_for, reverse=True)[:count]
    if as_json:
        print_json(runs)
        return
    if not runs:
        info("no runs" + (f" of {escape(job)}" if job else ""))
        return
    rows = [
        [
            escape(str(r.get("id", ""))),
            styled_state(r.get("state")),
            str(r.get("trigger", "")),
            str(r.get("attempt", "")),
            when(r.get("scheduled_for")),
            when(r.get("started_at")),
            when(r.get("finished_at")),
            "" if r.get("exit_code") is None else str(r["exit_code"]),
            escape(str(r.get("reason") or "")),
        ]
        for r in runs
    ]
    table(
        None,
        [
            "RUN",
            "STATE",
            "TRIGGER",
            "ATTEMPT",
            "SCHEDULED FOR (UTC)",
            "STARTED",
            "FINISHED",
            "EXIT",
            "REASON",
        ],
        rows,
    )


@app.command("logs")
@reports_errors
def logs_command(
    run_id: Annotated[
        str, typer.Argument(help="The run id (`<job>:<epoch ms>`, see `horae runs`).", show_default=False)
    ],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing output as it comes until the run ends.")
    ] = False,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a run's output (its latest attempt) to stdout."""
    if follow and as_json:
        raise CliError("--json and --follow cannot be combined: --json prints the output once", EXIT_USAGE)
    path = f"/api/v1/runs/{quote(run_id, safe=':')}/log"
    with client(server, auth, token) as c:
        if as_json:
            text = c.send("GET", path).text
            print_json({"id": run_id, "log": text})
            return
        out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        with c.stream(path, follow="true" if follow else None) as response:
            for chunk in response.iter_bytes():
                if out is not None:
                    out.write(chunk)
                    out.flush()
                else:
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()


def _zone(tz: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _print_times(times: list[str], tz: str = "") -> None:
    if not times:
        info("no further occurrences")
        return
    zone = _zone(tz)
    rows = []
    for t in times:
        row = [t]
        if zone is not None:
            try:
                row.append(datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(zone).isoformat())
            except ValueError:
                row.append("")
        rows.append(row)
    table(None, ["UTC", tz] if zone is not None else ["UTC"], rows)


@app.command("next")
@reports_errors
def next_command(
    job: Annotated[str, typer.Argument(help="The job.", show_default=False)],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000, help="How many occurrences.")] = 10,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The job's next scheduled occurrences."""
    with client(server, auth, token) as c:
        answer = c.get(f"{job_path(job)}/next", count=count)
        times, paused = list(answer.get("times", [])), bool(answer.get("paused"))
        tz = ""
        if not as_json and not paused:
            tz = str(c.get(job_path(job)).get("scheduleTimeZone") or "")
    if as_json:
        print_json({"job": job, "times": times, "paused": paused})
    elif paused:
        info(f"job {escape(job)} is paused: no runs until it is resumed")
    else:
        _print_times(times, tz)


@app.command("preview")
@reports_errors
def preview_command(
    schedule: Annotated[
        str,
        typer.Argument(
            help="An ISO 8601 repeating interval (R/2030-01-01T00:00:00Z/PT1H) or a cron expression ('*/5 * * * *').",
            show_default=False,
        ),
    ],
    tz: Annotated[
        str, typer.Option("--tz", help="The schedule's time zone (IANA name, e.g. Europe/Paris).")
    ] = "",
    after: Annotated[
        str | None,
        typer.Option("--after", help="List occurrences after this ISO 8601 instant (default: now)."),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000, help="How many occurrences.")] = 10,
    server: ServerOption = None,
    auth: AuthOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show when a schedule would fire, without creating a job (the server checks the syntax)."""
    body: dict[str, Any] = {"schedule": schedule, "timezone": tz, "count": count}
    if after:
        body["after"] = after
    with client(server, auth, token) as c:
        times = list(c.post("/api/v1/schedules/preview", body).get("times", []))
    if as_json:
        print_json({"schedule": schedule, "timezone": tz, "times": times})
    else:
        _print_times(times, tz)
