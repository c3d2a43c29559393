"""validate_job and find_cycle: every rule names its field; cycles are named in run order."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horae.core._validate import check_calendar, find_cycle, validate_job
from horae.model import CatchUp, CatchUpMode, Fetch, InvalidJob, Job, RetryBackoff
from tests.model.strategies import jobs as valid_jobs

SCHEDULE = "R/2030-01-01T00:00:00Z/PT1H"


def scheduled(name: str, **fields: Any) -> Job:
    return Job(name=name, schedule=SCHEDULE, **fields)


def dependent(name: str, *parents: str, **fields: Any) -> Job:
    return Job(name=name, parents=parents, **fields)


def store(*jobs: Job) -> dict[str, Job]:
    return {j.name: j for j in jobs}


def rejected(
    job: Job, jobs: dict[str, Job] | None = None, *, creating: bool = True, now: datetime | None = None
) -> InvalidJob:
    with pytest.raises(InvalidJob) as caught:
        validate_job(job, jobs or {}, creating=creating, now=now)
    return caught.value


@pytest.mark.parametrize(
    "job",
    [
        scheduled("a"),
        scheduled("a.b-c_1"),
        Job(name="a", schedule="R//PT1M"),  # an empty start is pinned later; it still parses
        Job(name="a", schedule="*/5 * * * *", schedule_time_zone="Europe/Paris"),
        Job(name="a", schedule="R5/2030-01-01T00:00:00/P1D", schedule_time_zone="America/New_York"),
        dependent("child", "a"),
        scheduled("a", uris=("http://x",)),
        scheduled("a", fetch=(Fetch("http://x"),)),
        scheduled("a", retries=0, timeout=timedelta(seconds=1), starting_deadline=timedelta(0)),
        scheduled("a", catch_up=CatchUp(CatchUpMode.ALL, 1)),
        scheduled(
            "a", retry_backoff=RetryBackoff(first=timedelta(seconds=5), cap=timedelta(seconds=5), jitter=1.0)
        ),
    ],
)
def test_valid_jobs_pass(job: Job) -> None:
    validate_job(job, store(scheduled("a"), scheduled("b")), creating=True)
    validate_job(job, store(scheduled("a"), scheduled("b")), creating=False)


@pytest.mark.parametrize(
    ("job", "field", "fragment"),
    [
        (scheduled("has space"), "name", "'has space' may contain only"),
        (scheduled("a#1"), "name", "may contain only"),
        (scheduled(""), "name", "may contain only"),
        (scheduled("é"), "name", "ASCII"),
        (Job(name="n"), "schedule", "exactly one of schedule (a scheduled job) and parents"),
        (Job(name="n", schedule=SCHEDULE, parents=("a",)), "schedule", "exactly one of schedule"),
        (Job(name="n", schedule="every day"), "schedule", "'every day' is neither"),
        (Job(name="n", schedule=""), "schedule", ""),
        (Job(name="n", schedule="R/1969-12-31T00:00:00Z/PT1H"), "schedule", "before 1970"),
        (scheduled("n", schedule_time_zone="Mars/Olympus"), "scheduleTimeZone", "Mars/Olympus"),
        (dependent("n"), "parents", "at least one parent"),
        (dependent("n", "a", "n"), "parents", "'n' cannot be its own parent"),
        (dependent("n", "a", "ghost"), "parents", "parent job 'ghost' does not exist"),
        (dependent("n", "ghost", "phantom"), "parents", "'ghost', 'phantom' do not exist"),
        (scheduled("n", uris=("u",), fetch=(Fetch("u"),)), "fetch", "either uris (deprecated) or fetch"),
        (scheduled("n", retries=-1), "retries", "must be >= 0, got -1"),
        (scheduled("n", cpus=0), "cpus", "must be > 0"),
        (scheduled("n", mem=-1), "mem", "must be > 0"),
        (scheduled("n", disk=float("nan")), "disk", "must be > 0"),
        (scheduled("n", disable_after_failures=-1), "disableAfterFailures", "must be >= 0"),
        (scheduled("n", catch_up=CatchUp(CatchUpMode.ALL, 0)), "catchUp.limit", "must be >= 1"),
        (scheduled("n", retry_backoff=RetryBackoff(first=timedelta(0))), "retryBackoff.first", "must be > 0"),
        (
            scheduled("n", retry_backoff=RetryBackoff(first=timedelta(minutes=2), cap=timedelta(minutes=1))),
            "retryBackoff.cap",
            "must be >= retryBackoff.first",
        ),
        (scheduled("n", retry_backoff=RetryBackoff(jitter=1.5)), "retryBackoff.jitter", "from 0 to 1"),
        (scheduled("n", retry_backoff=RetryBackoff(jitter=-0.1)), "retryBackoff.jitter", "from 0 to 1"),
        (scheduled("n", jitter=timedelta(seconds=-1)), "jitter", "must be >= 0"),
        (scheduled("n", starting_deadline=timedelta(seconds=-1)), "startingDeadline", "must be >= 0"),
        (scheduled("n", timeout=timedelta(0)), "timeout", "must be > 0"),
    ],
)
def test_invalid_jobs_are_rejected_naming_the_field(job: Job, field: str, fragment: str) -> None:
    error = rejected(job, store(scheduled("a")))
    assert error.field == field
    assert fragment in error.message


def test_name_is_checked_on_create_only_as_chronos_does() -> None:
    legacy = scheduled("name with spaces")  # Chronos 2.x allowed spaces
    assert rejected(legacy).field == "name"
    validate_job(legacy, store(legacy), creating=False)


def test_parents_must_exist_on_update_too() -> None:
    error = rejected(dependent("c", "gone"), store(dependent("c", "a"), scheduled("a")), creating=False)
    assert (error.field, error.message) == ("parents", "parent job 'gone' does not exist")


def test_a_cycle_is_rejected_with_the_cycle_named_in_run_order() -> None:
    jobs = store(scheduled("a"), dependent("b", "a"), dependent("c", "b"))
    error = rejected(dependent("a", "c"), jobs, creating=False)
    assert error.field == "parents"
    assert error.message.endswith("a -> b -> c -> a")


def test_a_two_job_cycle_and_an_unrelated_parent_are_told_apart() -> None:
    jobs = store(scheduled("x"), scheduled("a"), dependent("b", "a", "x"))
    assert "a -> b -> a" in rejected(dependent("a", "x", "b"), jobs, creating=False).message
    validate_job(dependent("a", "x"), jobs, creating=False)  # a diamond-free DAG is fine


def test_the_cycle_check_uses_the_new_version_of_the_job() -> None:
    # b used to depend on a; now b is scheduled, so a may depend on b.
    jobs = store(scheduled("root"), dependent("a", "root"), dependent("b", "a"))
    validate_job(scheduled("b"), jobs, creating=False)
    after = {**jobs, "b": scheduled("b")}
    validate_job(dependent("a", "b"), after, creating=False)


def test_a_long_chain_is_checked_without_recursion() -> None:
    chain = [scheduled("j0")] + [dependent(f"j{i}", f"j{i - 1}") for i in range(1, 5000)]
    jobs = store(*chain)
    validate_job(dependent("j4999", "j4998"), jobs, creating=False)
    error = rejected(dependent("j0", "j4999"), jobs, creating=False)
    assert "j0 -> j1 -> j2 -> " in error.message and error.message.endswith("j4999 -> j0")


# the end of the calendar (year 9999), judged from the instant the job is saved

NOW = datetime(2030, 1, 1, tzinfo=UTC)
NEAR_THE_END = datetime(9990, 1, 1, tzinfo=UTC)  # under ten years of calendar left
CENTURY = timedelta(days=36_500)  # the longest duration a job may give


def backoff(cap: timedelta, jitter: float = 0.0) -> RetryBackoff:
    return RetryBackoff(first=timedelta(days=1), cap=cap, jitter=jitter)


@pytest.mark.parametrize(
    ("job", "now", "field", "fragment"),
    [
        (
            Job(name="n", schedule="R/9999-12-30T00:00:00Z/PT1H", jitter=timedelta(days=30)),
            NOW,
            "jitter",
            "the next occurrence (9999-12-30T00:00:00+00:00) delayed by it falls beyond the year 9999",
        ),
        (
            Job(name="n", schedule="0 0 1 12 *", jitter=timedelta(days=31)),
            datetime(9999, 6, 1, tzinfo=UTC),
            "jitter",
            "the next occurrence (9999-12-01T00:00:00+00:00)",
        ),
        (
            scheduled("n", timeout=CENTURY),
            NEAR_THE_END,
            "timeout",
            "the run's deadline falls beyond the year 9999",
        ),
        (
            scheduled("n", retry_backoff=backoff(CENTURY)),
            NEAR_THE_END,
            "retryBackoff.cap",
            "a retry falls beyond",
        ),
        # its spread doubles the longest delay: 3,000 days fit in what is left, 6,000 do not
        (
            scheduled("n", retry_backoff=backoff(timedelta(days=3000), 1.0)),
            NEAR_THE_END,
            "retryBackoff.cap",
            "9999",
        ),
    ],
)
def test_a_job_whose_instants_pass_the_year_9999_is_refused_naming_the_field(
    job: Job, now: datetime, field: str, fragment: str
) -> None:
    error = rejected(job, now=now)
    assert error.field == field
    assert fragment in error.message
    with pytest.raises(InvalidJob):
        check_calendar(job, now)  # what loading a stored job and resuming a paused one ask
    validate_job(job, {}, creating=True)  # without an instant, the job alone is judged


@pytest.mark.parametrize(
    ("job", "now"),
    [
        (Job(name="n", schedule="R/9999-12-01T00:00:00Z/P1D", jitter=timedelta(days=29)), NOW),
        (Job(name="n", schedule="R1/2030-01-01T00:00:00Z/PT1H", jitter=CENTURY), NEAR_THE_END),  # it is over
        # a dependent job has no schedule for its jitter to delay
        (dependent("n", "a", jitter=CENTURY, timeout=timedelta(days=3000)), NEAR_THE_END),
        (scheduled("n", timeout=CENTURY, retry_backoff=backoff(CENTURY, 1.0)), NOW),
        (scheduled("n", retry_backoff=backoff(timedelta(days=3000))), NEAR_THE_END),
    ],
)
def test_a_job_whose_instants_stay_inside_the_calendar_passes(job: Job, now: datetime) -> None:
    validate_job(job, store(scheduled("a")), creating=True, now=now)
    check_calendar(job, now)


def test_a_job_the_other_rules_refuse_is_named_by_them_before_the_calendar_is_asked() -> None:
    job = Job(name="n", schedule="every day", timeout=CENTURY)
    assert rejected(job, now=NEAR_THE_END).field == "schedule"
    with pytest.raises(InvalidJob) as caught:
        check_calendar(job, NEAR_THE_END)  # on its own it still judges the other fields
    assert caught.value.field == "timeout"


# find_cycle


@pytest.mark.parametrize(
    ("jobs", "cycle"),
    [
        ([], None),
        ([scheduled("a"), dependent("b", "a"), dependent("c", "a", "b")], None),
        ([dependent("a", "missing")], None),
        ([dependent("a", "a")], ["a", "a"]),
        ([dependent("a", "b"), dependent("b", "a")], ["a", "b", "a"]),
        ([dependent("b", "a"), dependent("c", "b"), dependent("a", "c")], ["a", "b", "c", "a"]),
        (
            [dependent("z", "y"), dependent("y", "x"), dependent("x", "z"), scheduled("w")],
            ["x", "y", "z", "x"],
        ),
        ([scheduled("r"), dependent("p", "r", "q"), dependent("q", "p")], ["p", "q", "p"]),
    ],
)
def test_find_cycle(jobs: list[Job], cycle: list[str] | None) -> None:
    assert find_cycle(store(*jobs)) == cycle


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Job]:
    """Jobs j0..jn where each depends only on jobs with smaller numbers: acyclic by construction."""
    count = draw(st.integers(1, 12))
    jobs = [scheduled("j0")]
    for i in range(1, count):
        parents = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True))
        jobs.append(dependent(f"j{i}", *(f"j{p}" for p in parents)) if parents else scheduled(f"j{i}"))
    return store(*jobs)


@given(dags(), st.data())
def test_find_cycle_finds_a_real_cycle_exactly_when_an_edge_points_back(
    jobs: dict[str, Job], data: st.DataObject
) -> None:
    assert find_cycle(jobs) is None
    n = len(jobs)
    low = data.draw(st.integers(0, n - 1))
    high = data.draw(st.integers(low, n - 1))
    # Make j<low> depend on j<high>: a cycle exists iff j<high> already (transitively) depends on j<low>.
    old = jobs[f"j{low}"]
    jobs[f"j{low}"] = dependent(f"j{low}", *(old.parents or ()), f"j{high}")
    cycle = find_cycle(jobs)
    if high == low or _depends_on(jobs, f"j{high}", f"j{low}"):
        assert cycle is not None
        assert cycle[0] == cycle[-1] and cycle[0] == min(cycle)
        for parent, child in itertools.pairwise(cycle):
            assert parent in (jobs[child].parents or ())
        with pytest.raises(InvalidJob, match=r"would make a cycle|cannot be its own parent"):
            validate_job(jobs[f"j{low}"], jobs, creating=False)
    else:
        assert cycle is None


def _depends_on(jobs: dict[str, Job], name: str, ancestor: str) -> bool:
    todo, seen = [name], set()
    while todo:
        for parent in jobs[todo.pop()].parents or ():
            if parent == ancestor:
                return True
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return False


@given(valid_jobs())
def test_every_generated_valid_job_validates_once_its_parents_exist(job: Job) -> None:
    parents = {p: scheduled(p) for p in (job.parents or ()) if p != job.name}
    if job.name in (job.parents or ()):
        other = f"{job.name}-parent"
        job = dataclasses.replace(job, parents=(*(p for p in job.parents or () if p != job.name), other))
        parents[other] = scheduled(other)
    validate_job(job, parents, creating=True)
