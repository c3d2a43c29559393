"""Which due occurrences run and which are recorded as missed: the misfire and catch-up policy.

Pure: a schedule, the cursor (every occurrence up to it is handled), `now` and the job's policy in; a bounded
list of verdicts out. However long horae was away, the work is bounded: at most `MAX_LISTED` occurrences are
listed one by one, the rest of a long outage is one aggregated `missed` record, and at most
`catchUp.limit` occurrences run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from horae.core._calendar import earlier
from horae.model import CatchUpMode, Job
from horae.schedule import Schedule

MAX_LISTED = 1000
NONE_GRACE = timedelta(
    seconds=60
)  # catchUp none: an occurrence later than this (or startingDeadline) is late
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Verdict:
    scheduled_for: datetime
    run: bool
    reason: str = ""  # why it is missed


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.3f}s"


def due_occurrences(
    schedule: Schedule, cursor: datetime, now: datetime, job: Job, offset: timedelta
) -> tuple[list[Verdict], datetime]:
    """The verdicts for every occurrence in (cursor, now − offset], oldest first, and the new cursor."""
    # A jitter longer than the time since the calendar began: nothing is due yet (none before its start).
    horizon = earlier(now, offset)
    latest = schedule.last_at_or_before(horizon)
    if latest is None or latest <= cursor:
        return [], cursor
    mode = job.catch_up.mode
    keep = job.catch_up.limit if mode is CatchUpMode.ALL else 1

    listed: list[datetime] = []
    t = cursor
    while len(listed) < MAX_LISTED:
        following = schedule.next_after(t)
        if following is None or following > horizon:
            break
        listed.append(following)
        t = following

    verdicts: list[Verdict] = []
    if listed and listed[-1] == latest:
        occurrences = listed
    else:
        # A long outage: list the first MAX_LISTED, aggregate the middle, keep the `keep` most recent.
        tail = [latest]
        while len(tail) < keep:
            before = schedule.last_at_or_before(tail[0] - _TICK)
            if before is None or (listed and before <= listed[-1]):
                break
            tail.insert(0, before)
        occurrences = listed + tail
        gap_end = schedule.last_at_or_before(tail[0] - _TICK)
        if gap_end is not None and (not listed or gap_end > listed[-1]):
            since = listed[-1] if listed else cursor
            verdicts_gap = Verdict(
                gap_end,
                False,
                f"every occurrence after {since.isoformat()} through this one was missed "
                f"(not listed one by one; more than {MAX_LISTED})",
            )
        else:
            verdicts_gap = None
        runnable_from = len(occurrences) - keep
        for i, occ in enumerate(occurrences):
            if i == len(listed) and verdicts_gap is not None:
                verdicts.append(verdicts_gap)
            verdicts.append(judge(occ, i >= runnable_from, now, offset, job))
        return verdicts, latest

    runnable_from = len(occurrences) - keep
    for i, occ in enumerate(occurrences):
        verdicts.append(judge(occ, i >= runnable_from, now, offset, job))
    return verdicts, latest


def judge(occ: datetime, in_window: bool, now: datetime, offset: timedelta, job: Job) -> Verdict:
    lateness = now - (occ + offset)
    if not in_window:
        if job.catch_up.mode is CatchUpMode.ALL:
            return Verdict(occ, False, f"missed: beyond the catch-up limit of {job.catch_up.limit}")
        return Verdict(occ, False, "missed: a later occurrence was also due (catchUp latest)")
    deadline = job.starting_deadline
    if deadline is None and job.catch_up.mode is CatchUpMode.NONE:
        deadline = NONE_GRACE
    if deadline is not None and lateness > deadline:
        return Verdict(
            occ,
            False,
            f"missed: {_seconds(lateness)} late, past the starting deadline of {_seconds(deadline)}",
        )
    return Verdict(occ, True)
