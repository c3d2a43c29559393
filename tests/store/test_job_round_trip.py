"""Every field of every Job comes back from every store exactly as it went in."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from horae.model import JOB_NAME, Job
from horae.store import PutJob, Store

_INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, UTC]),
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=-5, minutes=-30))), min_value=datetime(2, 1, 1))


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of a model type hint: nested dataclasses, tuples, unions, enums, instants, durations."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(arg) for arg in typing.get_args(tp)))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
        return st.tuples(*(strategy_for(arg) for arg in args))
    if tp is type(None):
        return st.none()
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return st.builds(tp, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(tp)})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=12),
        int: st.integers(min_value=-(2**70), max_value=2**70),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        datetime: _INSTANTS,
        timedelta: st.timedeltas(),
    }
    return simple[tp]


JOBS = st.builds(
    dataclasses.replace,
    strategy_for(Job),
    name=st.from_regex(JOB_NAME, fullmatch=True).filter(lambda n: len(n) < 40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job=JOBS)
def test_every_job_field_round_trips(store: Store, job: Job) -> None:
    store.put_job(job)
    assert store.get_job(job.name) == job
    store.apply([PutJob(job)])
    assert store.load_jobs() == [job]
    assert store.delete_job(job.name)


def test_the_job_strategy_reaches_every_field() -> None:
    hints = typing.get_type_hints(Job)
    assert {f.name for f in dataclasses.fields(Job)} == set(hints)  # strategy_for covers each by its hint
