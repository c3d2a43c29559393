"""Whether a job may be stored, given the jobs already stored: InvalidJob naming the field at fault.

Stricter than Chronos where Chronos accepts a job it can never run: parents must exist on create too, a
dependency cycle is an error naming the cycle rather than a 500 from the graph library, and a job whose
next firing, deadline or retry falls beyond the year 9999 is refused rather than silently never firing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from horae.core._scheduler import TIMEOUT_MARGIN
from horae.model import JOB_NAME, InvalidJob, Job, check_limits
from horae.schedule import InvalidSchedule, parse_schedule

# Empty-start schedules are pinned before they get here; any fixed instant parses the rest the same way.
_PARSE_NOW = datetime(2000, 1, 1, tzinfo=UTC)
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def validate_job(job: Job, jobs: Mapping[str, Job], *, creating: bool, now: datetime | None = None) -> None:
    """Raise InvalidJob unless `job` may replace (or, when `creating`, join) the stored `jobs`.

    Keeps the invariant that every stored dependent job's parents exist and the graph has no cycle. Given
    `now` (the instant the job is saved), also refuses what `check_calendar` refuses then; without it,
    only the rules that hold at any instant are checked.
    """
    # Chronos checks the name on create only, so jobs it let in with other names stay editable.
    if creating and not JOB_NAME.fullmatch(job.name):
        raise InvalidJob("name", f"'{job.name}' may contain only ASCII letters, digits, '_', '.' and '-'")
    _check_trigger(job)
    if job.parents is not None:
        _check_parents(job, jobs)
    _check_fields(job)
    if now is not None:
        check_calendar(job, now)


def check_calendar(job: Job, now: datetime) -> None:
    """InvalidJob when an instant the scheduler would compute for the job from `now` (its next firing
    plus jitter, a timeout's deadline, a retry's due time) falls beyond the year 9999, which a datetime
    cannot hold. The scheduler survives such an instant by treating it as never, so the job would just
    stop firing, timing out or retrying; refusing it names the field that makes it so."""
    room = _END_OF_TIME - now
    if job.timeout is not None and not _fits(lambda: job.timeout + TIMEOUT_MARGIN, room):  # type: ignore[operator]
        raise InvalidJob("timeout", "is so long that the run's deadline falls beyond the year 9999")
    backoff = job.retry_backoff
    if not _fits(lambda: backoff.cap * (1 + backoff.jitter), room):
        raise InvalidJob("retryBackoff.cap", "is so long that a retry falls beyond the year 9999")
    if job.schedule is None or job.parents is not None or not job.jitter:
        return
    try:
        first = parse_schedule(job.schedule, job.schedule_time_zone).next_after(now)
    except InvalidSchedule:
        return  # _check_trigger names the problem
    if first is not None and not _fits(lambda: job.jitter, _END_OF_TIME - first):
        raise InvalidJob(
            "jitter", f"the next occurrence ({first.isoformat()}) delayed by it falls beyond the year 9999"
        )


def _fits(length: Callable[[], timedelta], room: timedelta) -> bool:
    try:
        return length() < room
    except OverflowError:
        return False


def _check_trigger(job: Job) -> None:
    if (job.schedule is None) == (job.parents is None):
        raise InvalidJob(
            "schedule",
            "a job needs exactly one of schedule (a scheduled job) and parents (a dependent job)",
        )
    if job.schedule is not None:
        try:
            parse_schedule(job.schedule, job.schedule_time_zone, now=_PARSE_NOW)
        except InvalidSchedule as e:
            raise InvalidJob(e.field, e.message) from None


def _check_parents(job: Job, jobs: Mapping[str, Job]) -> None:
    parents = job.parents or ()
    if not parents:
        raise InvalidJob("parents", "a dependent job needs at least one parent")
    if job.name in parents:
        raise InvalidJob("parents", f"job '{job.name}' cannot be its own parent")
    missing = [p for p in parents if p not in jobs]
    if len(missing) == 1:
        raise InvalidJob("parents", f"parent job '{missing[0]}' does not exist")
    if missing:
        raise InvalidJob("parents", f"parent jobs {', '.join(repr(p) for p in missing)} do not exist")
    cycle = _cycle_through(job.name, {**jobs, job.name: job})
    if cycle is not None:
        raise InvalidJob("parents", f"the dependency would make a cycle: {' -> '.join(cycle)}")


def _check_fields(job: Job) -> None:
    if job.uris and job.fetch:
        raise InvalidJob("fetch", "give either uris (deprecated) or fetch, not both")
    check_limits(job)


def _parents_of(name: str, jobs: Mapping[str, Job]) -> Iterator[str]:
    job = jobs.get(name)
    for parent in (job.parents or ()) if job is not None else ():
        if parent in jobs:
            yield parent


def _cycle_through(start: str, jobs: Mapping[str, Job]) -> list[str] | None:
    """A cycle through `start` in run order (`start -> child … -> start`), or None."""
    # Walk parent edges from `start`; reaching `start` again closes a cycle. Iterative: chains may be long.
    seen = {start}
    stack = [(start, _parents_of(start, jobs))]
    while stack:
        _, parents = stack[-1]
        parent = next(parents, None)
        if parent is None:
            stack.pop()
        elif parent == start:
            path = [name for name, _ in stack]  # start <- p1 <- p2 … (parent edges)
            return [start, *reversed(path[1:]), start]
        elif parent not in seen:
            seen.add(parent)
            stack.append((parent, _parents_of(parent, jobs)))
    return None


def find_cycle(jobs: Mapping[str, Job]) -> list[str] | None:
    """A dependency cycle among `jobs` in run order, first name repeated last (`a -> b -> a`), or None.

    Parents that are not in `jobs` are ignored. Deterministic: the cycle starts at its smallest name.
    """
    done: set[str] = set()
    for root in sorted(jobs):
        if root in done:
            continue
        on_path = {root: 0}
        stack = [(root, _parents_of(root, jobs))]
        while stack:
            name, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                stack.pop()
                del on_path[name]
                done.add(name)
            elif parent in on_path:
                # The stack from `parent` up follows parent edges; reversed, it is run order.
                loop = [n for n, _ in stack[on_path[parent] :]][::-1]
                first = loop.index(min(loop))
                loop = loop[first:] + loop[:first]
                return [*loop, loop[0]]
            elif parent not in done:
                on_path[parent] = len(stack)
                stack.append((parent, _parents_of(parent, jobs)))
    return None
