"""`build_runtime` (what `horae serve --mesos` calls), the ExecutorInfo/TaskInfo builders and the state file."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from horae.mesos import MesosSettingsError, build_runtime, parse_masters
from horae.mesos._state import FrameworkState, StateFile, TaskRecord
from horae.mesos._tasks import ExecutorSpec, executor_info, task_info
from horae.model import Container, KeyValue, Launch, RunEvent, Volume, container_from_chronos
from tests.mesos.fake_master import FakeMaster
from tests.mesos.protos import validate


def launch(**kw: object) -> Launch:
    values: dict[str, object] = {
        "run_id": "backup:1000",
        "job": "backup",
        "attempt": 1,
        "task_id": "ct:1000:1:backup:",
        "argv": ("/bin/sh", "-c", "tar c /data"),
        "environment": (("X", "y"),),
        **kw,
    }
    return Launch(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "masters"),
    [
        ("http://m1:5050", ["http://m1:5050"]),
        ("http://m1:5050,m2:5050", ["http://m1:5050", "http://m2:5050"]),
        ("https://m1:5050/, https://m2:5050", ["https://m1:5050", "https://m2:5050"]),
        ("m1:5050", ["http://m1:5050"]),
    ],
)
def test_master_lists(url: str, masters: list[str]) -> None:
    assert parse_masters(url) == masters


@pytest.mark.parametrize(
    ("url", "kw", "field"),
    [
        ("zk://z1:2181", {}, "mesos"),
        ("", {}, "mesos"),
        ("ftp://m1:5050", {}, "mesos"),
        ("http://m1:5050", {"secret": "s"}, "mesos-secret"),
        ("http://m1:5050", {"role": ""}, "mesos-role"),
        ("http://m1:5050", {"framework_name": ""}, "framework-name"),
        ("http://m1:5050", {"failover_timeout": timedelta(0)}, "failover-timeout"),
    ],
)
def test_bad_settings_name_their_flag(url: str, kw: dict[str, object], field: str, tmp_path: Path) -> None:
    with pytest.raises(MesosSettingsError) as caught:
        build_runtime(url, state_dir=tmp_path, **kw)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.usefixtures("mesos_protos")
def test_executor_and_task_info_are_valid_and_deterministic() -> None:
    spec = ExecutorSpec(command=("python3", "horae.pyz", "executor"), uris=("https://files/horae.pyz",))
    container = Container(
        image="busybox:1.36",
        parameters=(KeyValue("memory-swap", "-1"),),
        volumes=(Volume("/data", "/srv/data", "RO"), Volume("/scratch")),
    )
    first = executor_info(launch(container=container, user="cron"), spec)
    again = executor_info(launch(attempt=2, run_id="backup:2000", container=container, user="cron"), spec)
    assert first == again, "nothing of a run may enter the ExecutorInfo"
    validate("mesos.ExecutorInfo", first)
    assert first["executor_id"]["value"].startswith("horae.backup.")
    assert "container" not in first, "the executor runs on the agent, never in the job's image"
    assert executor_info(launch(), spec)["executor_id"] != first["executor_id"]
    task = task_info(launch(container=container), "S1", first)
    validate("mesos.TaskInfo", task)
    payload = json.loads(base64.b64decode(task["data"]))
    assert payload["argv"] == ["/bin/sh", "-c", "tar c /data"]
    assert container_from_chronos(payload["container"]) == container
    mesos_container = executor_info(launch(container=Container(image="alpine", type="MESOS")), spec)
    validate("mesos.ExecutorInfo", mesos_container)


def test_the_state_file_round_trips_and_starts_empty(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "sub" / "state.json")
    assert file.load() == FrameworkState()
    record = TaskRecord("ct:1:0:a:", "a:1", 0, "a", "S1", "horae.a.abc")
    file.save(FrameworkState("fw-1", {record.task_id: record}, {"horae.a.abc": "S1"}))
    assert file.load() == FrameworkState("fw-1", {record.task_id: record}, {"horae.a.abc": "S1"})
    assert not (tmp_path / "sub" / "state.tmp").exists()


@pytest.mark.usefixtures("mesos_protos")
async def test_built_runtime_subscribes_with_its_role_principal_and_credentials(tmp_path: Path) -> None:
    master = FakeMaster()
    master.credentials = ("horae", "s3cret")
    await master.start()
    runtime = build_runtime(
        master.url,
        state_dir=tmp_path,
        role="cron",
        principal="horae",
        secret="s3cret",
        framework_name="horae-prod",
        failover_timeout=timedelta(days=2),
    )
    events: list[RunEvent] = []
    try:
        await runtime.start(events.append)
        await runtime.reconcile([])
        await master.wait_for(lambda: master.subscribed)
        info = master.of_type("SUBSCRIBE")[0].body["subscribe"]["framework_info"]
        assert info["roles"] == ["cron"] and info["principal"] == "horae" and info["name"] == "horae-prod"
        assert info["failover_timeout"] == 2 * 86400.0
        await master.wait_for(lambda: runtime.framework_id is not None)
        saved = json.loads((tmp_path / "mesos-framework.json").read_text())
        assert saved["framework_id"] == master.framework_id
    finally:
        await runtime.close()
        await master.stop()
    assert master.rejected == []
