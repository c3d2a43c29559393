"""The contract every Store keeps, run against each backend (see conftest.BACKENDS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from horae.model import Job, Run, RunState, Trigger
from horae.store import DeleteJob, InsertRun, PutJob, RunNotFound, Store, UpdateRun
from tests.store.conftest import OpenStore

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def run(job: str = "backup", minute: int = 0, state: RunState = RunState.PENDING, **changes: object) -> Run:
    fields: dict[str, object] = {"trigger": Trigger.SCHEDULE, **changes}
    return Run(job, T0 + timedelta(minutes=minute), state=state, **fields)  # type: ignore[arg-type]


# Jobs.


def test_job_crud(store: Store) -> None:
    assert store.get_job("backup") is None
    store.put_job(Job("backup", command="tar c /data"))
    store.put_job(Job("backup", command="tar cz /data", success_count=3))  # upsert by name
    assert store.get_job("backup") == Job("backup", command="tar cz /data", success_count=3)
    assert store.count_jobs() == 1
    assert store.delete_job("backup") is True
    assert store.delete_job("backup") is False
    assert store.get_job("backup") is None
    assert store.count_jobs() == 0


def test_jobs_page_by_name_in_code_point_order(store: Store) -> None:
    names = ["b", "a-1", "a_1", "A2", "a.b", "zeta", "Backup", "a1"]
    for name in names:
        store.put_job(Job(name))
    assert [j.name for j in store.load_jobs()] == sorted(names)
    seen: list[str] = []
    after = ""
    while page := store.list_jobs(after=after, limit=3):
        assert len(page) <= 3
        seen += [j.name for j in page]
        after = page[-1].name
    assert seen == sorted(names)
    assert store.count_jobs() == len(names)


def test_list_jobs_filters_by_name_ignoring_case(store: Store) -> None:
    for name in ["nightly-Backup", "backup", "report", "back_up", "b%p"]:
        store.put_job(Job(name))
    assert [j.name for j in store.list_jobs(name_contains="BACKUP")] == ["backup", "nightly-Backup"]
    assert [j.name for j in store.list_jobs(name_contains="k_u")] == ["back_up"]  # _ and % are literal
    assert [j.name for j in store.list_jobs(name_contains="%")] == ["b%p"]
    assert [j.name for j in store.list_jobs(name_contains="backup", after="backup")] == ["nightly-Backup"]


def test_list_jobs_rejects_a_page_of_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list_jobs(limit=0)


def test_jobs_change_in_a_batch(store: Store) -> None:
    store.put_job(Job("old"))
    assert store.apply([PutJob(Job("new")), DeleteJob("old"), DeleteJob("never-there")]) == frozenset()
    assert [j.name for j in store.load_jobs()] == ["new"]


def test_deleting_a_job_keeps_its_history(store: Store) -> None:
    store.apply([PutJob(Job("backup")), InsertRun(run(state=RunState.SUCCEEDED))])
    store.delete_job("backup")
    assert store.get_run(run().id) == run(state=RunState.SUCCEEDED)


# Runs.


def test_insert_and_update_runs(store: Store) -> None:
    pending = run(created_at=T0, due_at=T0)
    assert store.apply([InsertRun(pending)]) == frozenset()
    assert store.get_run(pending.id) == pending
    finished = replace(
        pending,
        state=RunState.FAILED,
        attempt=2,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=2, milliseconds=5),
        exit_code=3,
        reason="exit code 3",
        arguments=("--all", "x y"),
        environment=(("A", "1"), ("B", "")),
        output_tail="done\nκ ünïcode ✓\n",
    )
    assert store.apply([UpdateRun(finished)]) == frozenset()
    assert store.get_run(pending.id) == finished
    assert store.get_run("backup:0") is None


def test_an_update_of_an_unknown_run_writes_nothing_of_the_batch(store: Store) -> None:
    with pytest.raises(RunNotFound) as raised:
        store.apply([PutJob(Job("backup")), InsertRun(run()), UpdateRun(run(minute=1))])
    assert raised.value.run_id == run(minute=1).id
    assert store.get_job("backup") is None
    assert store.get_run(run().id) is None


def test_bad_data_writes_nothing_of_the_batch(store: Store) -> None:
    naive = run(minute=1, started_at=datetime(2024, 1, 1))
    too_fine = run(minute=2, finished_at=T0 + timedelta(microseconds=1))
    for bad in [InsertRun(naive), InsertRun(too_fine), PutJob(Job("nan", cpus=float("nan")))]:
        with pytest.raises(ValueError):
            store.apply([PutJob(Job("backup")), InsertRun(run()), bad])
        assert store.get_job("backup") is None
        assert store.get_run(run().id) is None


def test_an_update_may_follow_its_insert_in_one_batch(store: Store) -> None:
    started = run(state=RunState.RUNNING, started_at=T0)
    assert store.apply([InsertRun(run()), UpdateRun(started)]) == frozenset()
    assert store.get_run(run().id) == started


def test_a_duplicate_occurrence_across_batches_is_reported_and_not_written(store: Store) -> None:
    first = run(reason="first")
    store.apply([InsertRun(first)])
    again = run(reason="second", trigger=Trigger.MANUAL)
    other = run(minute=1)
    assert store.apply([InsertRun(again), InsertRun(other)]) == {first.id}
    assert store.get_run(first.id) == first
    assert store.get_run(other.id) == other  # the rest of the batch commits


def test_a_duplicate_occurrence_within_a_batch_is_reported_and_not_written(store: Store) -> None:
    first, second = run(reason="first"), run(reason="second")
    assert store.apply([InsertRun(first), InsertRun(run(minute=1)), InsertRun(second)]) == {first.id}
    assert store.get_run(first.id) == first


def test_the_occurrence_is_the_instant_whatever_the_time_zone(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    local = replace(run(), scheduled_for=T0.astimezone(paris), due_at=T0.astimezone(paris))
    assert store.apply([InsertRun(run())]) == frozenset()
    assert store.apply([InsertRun(local)]) == {run().id}
    stored = store.get_run(run().id)
    assert stored is not None
    assert stored.scheduled_for.tzinfo is UTC


def test_nul_in_text_is_kept_as_a_replacement_character(store: Store) -> None:
    store.apply([InsertRun(run(output_tail="a\x00b", reason="\x00"))])
    assert store.get_run(run().id) == run(output_tail="a\ufffdb", reason="\ufffd")


def test_open_runs_are_the_runs_not_final(store: Store) -> None:
    runs = [run(minute=i, state=s) for i, s in enumerate(RunState)]
    runs.append(run("other", minute=-1, state=RunState.QUEUED))
    store.apply([InsertRun(r) for r in runs])
    assert store.open_runs() == sorted(
        (r for r in runs if not r.state.is_final), key=lambda r: (r.scheduled_for, r.job)
    )


def test_schedule_cursors_are_the_newest_scheduled_run_per_job(store: Store) -> None:
    assert store.schedule_cursors() == {}
    store.apply(
        [
            InsertRun(run("a", minute=5, state=RunState.SUCCEEDED)),
            InsertRun(run("a", minute=9, state=RunState.RUNNING)),
            InsertRun(run("a", minute=3)),
            InsertRun(run("a", minute=20, trigger=Trigger.MANUAL)),
            InsertRun(run("b", minute=1, state=RunState.MISSED)),
            InsertRun(run("c", minute=30, trigger=Trigger.DEPENDENCY)),
        ]
    )
    assert store.schedule_cursors() == {"a": T0 + timedelta(minutes=9), "b": T0 + timedelta(minutes=1)}


def test_list_runs_pages_newest_first(store: Store) -> None:
    runs = [run(minute=i, state=RunState.SUCCEEDED if i % 3 else RunState.FAILED) for i in range(10)]
    store.apply([InsertRun(r) for r in [*runs, run("other", minute=4)]])
    seen: list[Run] = []
    cursor: str | None = None
    while True:
        page, cursor = store.list_runs("backup", before=cursor, limit=4)
        seen += page
        if cursor is None:
            break
    assert seen == runs[::-1]
    failed, cursor = store.list_runs("backup", states=[RunState.FAILED, RunState.KILLED], limit=3)
    assert (failed, cursor is not None) == ([runs[9], runs[6], runs[3]], True)
    assert store.list_runs("backup", states={RunState.FAILED}, before=cursor) == ([runs[0]], None)
    assert store.list_runs("backup", limit=10) == (runs[::-1], None)
    assert store.list_runs("nobody") == ([], None)


def test_prune_by_count_keeps_the_newest_final_runs_and_every_open_one(store: Store) -> None:
    final = [run(minute=i, state=RunState.SUCCEEDED) for i in range(0, 20, 2)]
    open_ = [run(minute=i, state=RunState.RUNNING) for i in range(1, 20, 6)]
    store.apply([InsertRun(r) for r in [*final, *open_, run("other", state=RunState.FAILED)]])
    assert store.prune("backup", keep=3, max_age=None, now=T0) == len(final) - 3
    assert store.list_runs("backup", limit=100)[0] == sorted(
        [*final[-3:], *open_], key=lambda r: r.scheduled_for, reverse=True
    )
    assert store.prune("backup", keep=3, max_age=None, now=T0) == 0
    assert store.get_run(run("other").id) is not None
    assert store.prune("backup", keep=0, max_age=None, now=T0) == 3
    assert store.list_runs("backup", limit=100)[0] == open_[::-1]


def test_prune_by_age(store: Store) -> None:
    final = [run(minute=i, state=RunState.KILLED) for i in range(10)]
    old_open = run(minute=-100, state=RunState.RETRY_WAIT)
    store.apply([InsertRun(r) for r in [*final, old_open]])
    now = T0 + timedelta(minutes=10, microseconds=500)
    # the run of minute 6 is older than 4 minutes by half a millisecond: it goes too
    assert store.prune("backup", keep=100, max_age=timedelta(minutes=4), now=now) == 7
    assert store.list_runs("backup")[0] == [*final[7:][::-1], old_open]
    assert store.prune("backup", keep=1, max_age=timedelta(minutes=4), now=now) == 2
    assert (
        store.prune("backup", keep=1, max_age=timedelta(minutes=4), now=now - timedelta(microseconds=500))
        == 0
    )


def test_prune_deleted_removes_the_final_runs_of_jobs_without_a_record(store: Store) -> None:
    store.put_job(Job("kept", command="true", schedule="* * * * *"))
    kept = [run("kept", minute=i, state=RunState.SUCCEEDED) for i in range(3)]
    gone = [run("gone", minute=i, state=RunState.FAILED) for i in range(4)]
    gone_open = run("gone", minute=9, state=RunState.RUNNING)
    store.apply([InsertRun(r) for r in [*kept, *gone, gone_open]])
    assert store.prune_deleted() == len(gone)
    assert store.list_runs("gone") == ([gone_open], None)
    assert store.list_runs("kept", limit=10)[0] == kept[::-1]
    assert store.prune_deleted() == 0


def test_prune_rejects_nonsense(store: Store) -> None:
    with pytest.raises(ValueError):
        store.prune("backup", keep=-1, max_age=None, now=T0)
    with pytest.raises(ValueError):
        store.prune("backup", keep=1, max_age=None, now=datetime(2024, 1, 1))


# Values.


def test_a_value_is_replaced_whole_and_read_back_exactly(store: Store) -> None:
    assert store.get_value("mesos.framework") is None
    store.put_value("mesos.framework", '{"framework_id": "f-1"}')
    store.put_value("mesos.framework", '{"framework_id": "f-2", "note": "é ✓ \\u0000"}')
    store.put_value("other", "")
    assert store.get_value("mesos.framework") == '{"framework_id": "f-2", "note": "é ✓ \\u0000"}'
    assert store.get_value("other") == ""
    assert store.get_value("Mesos.framework") is None  # keys are exact
    assert store.count_jobs() == 0 and store.open_runs() == []  # values are no jobs nor runs


def test_a_value_needs_a_key_and_no_nul(store: Store) -> None:
    store.put_value("k", "kept")
    for key, value in [("", "v"), ("a\x00b", "v"), ("k", "a\x00b")]:
        with pytest.raises(ValueError):
            store.put_value(key, value)
    assert store.get_value("k") == "kept"


# Durability.


def test_everything_is_there_after_reopening(backend: tuple[str, OpenStore]) -> None:
    name, open_store = backend
    if name == "memory":
        pytest.skip("the in-memory fake keeps nothing across instances")
    first = open_store()
    job = Job("backup", schedule="R/2024-01-01T00:00:00Z/PT1H", success_count=4, last_success=T0)
    runs = [run(minute=i, state=RunState.SUCCEEDED, exit_code=0) for i in range(3)] + [run(minute=3)]
    first.apply([PutJob(job), *(InsertRun(r) for r in runs)])
    first.put_value("mesos.framework", '{"framework_id": "f-1"}')
    first.close()
    second = open_store()  # migrates again: a no-op at head
    assert second.load_jobs() == [job]
    assert second.list_runs("backup")[0] == runs[::-1]
    assert second.open_runs() == [runs[3]]
    assert second.schedule_cursors() == {"backup": runs[3].scheduled_for}
    assert second.get_value("mesos.framework") == '{"framework_id": "f-1"}'


def test_a_job_needs_a_name(store: Store) -> None:
    for name in ["", "a\x00b"]:
        with pytest.raises(ValueError, match="name"):
            store.put_job(Job(name))
        with pytest.raises(ValueError, match="name"):
            store.apply([InsertRun(run(name))])
    assert store.count_jobs() == 0
