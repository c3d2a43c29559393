"""The framework's state kept in horae's store (what `horae serve --mesos` does): a restarted horae
re-subscribes with the framework id the store holds and reconciles the tasks it held, no state file is
written, and the file an earlier horae kept is taken over once."""

from __future__ import annotations

from pathlib import Path

import pytest

from horae.mesos import build_runtime
from horae.mesos._state import FrameworkState, StateFile, StoredState, TaskRecord, decode
from horae.model import RunEvent
from horae.store import MemoryStore, SqlStore
from tests.mesos.fake_master import FakeMaster
from tests.mesos.test_runtime import Harness, harness, launched_and_running, make_launch

__all__ = ["harness"]  # the fixture, shared with test_runtime

RECORD = TaskRecord("ct:1:0:a:", "a:1", 0, "a", "S1", "horae.a.abc")


@pytest.mark.usefixtures("mesos_protos")
async def test_a_restarted_horae_resubscribes_with_the_framework_id_its_store_kept(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    url = f"sqlite:///{tmp_path}/horae.db"
    store = SqlStore(url)
    h.state = StoredState(lambda: store)  # type: ignore[assignment]
    runtime = await h.start()
    framework_id = h.master.framework_id
    launch = make_launch()
    await launched_and_running(h, launch)
    await runtime.close()
    store.close()

    store = SqlStore(url)  # reopened, as by a restarted server
    saved = store.get_value(StoredState.KEY)
    assert saved is not None and decode(saved).framework_id == framework_id
    h.state = StoredState(lambda: store)  # type: ignore[assignment]
    try:
        restarted = await h.start(open_runs=[(launch.run_id, 0)])
        assert restarted.framework_id == framework_id
        assert h.master.of_type("SUBSCRIBE")[-1].body["framework_id"] == {"value": framework_id}
        explicit = (await h.wait_call("RECONCILE", 3))[-2].body["reconcile"]
        assert explicit["tasks"] == [{"task_id": {"value": launch.task_id}, "agent_id": {"value": "S1"}}]
    finally:
        if h.runtime is not None:
            await h.runtime.close()
        store.close()


@pytest.mark.usefixtures("mesos_protos")
async def test_build_runtime_keeps_the_framework_id_in_the_store_it_is_given(tmp_path: Path) -> None:
    master = FakeMaster()
    await master.start()
    store = MemoryStore()
    runtime = build_runtime(master.url, state_dir=tmp_path, store=lambda: store)
    events: list[RunEvent] = []
    try:
        await runtime.start(events.append)
        await runtime.reconcile([])
        await master.wait_for(lambda: runtime.framework_id is not None)
        saved = store.get_value(StoredState.KEY)
        assert saved is not None and decode(saved).framework_id == master.framework_id
        assert not (tmp_path / "mesos-framework.json").exists()
    finally:
        await runtime.close()
        await master.stop()
    assert master.rejected == []


def test_the_file_of_an_earlier_horae_is_taken_over_once(tmp_path: Path) -> None:
    earlier = tmp_path / "mesos-framework.json"
    state = FrameworkState("fw-1", {RECORD.task_id: RECORD}, {"horae.a.abc": "S1"})
    StateFile(earlier).save(state)
    store = MemoryStore()
    assert StoredState(lambda: store, earlier=earlier).load() == state
    assert store.get_value(StoredState.KEY) is not None
    StateFile(earlier).save(FrameworkState("fw-stale"))  # the store wins from now on
    assert StoredState(lambda: store, earlier=earlier).load() == state


def test_an_empty_store_without_an_earlier_file_starts_empty(tmp_path: Path) -> None:
    store = MemoryStore()
    assert StoredState(lambda: store, earlier=tmp_path / "none.json").load() == FrameworkState()
    assert store.get_value(StoredState.KEY) is None, "nothing worth keeping was written"
