"""Leader detection through a real ZooKeeper (Debian's `zookeeper`, started by .ci/zookeeper.sh): masters
contend as ephemeral sequential `json.info_` nodes, as Mesos masters do; the lowest sequence leads.

Locally without ZooKeeper these tests skip; under CI they fail. `HORAE_TEST_ZOOKEEPER` overrides the
address (default 127.0.0.1:2181).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from horae.mesos._calls import FrameworkConfig
from horae.mesos._events import SchedulerEvent, Subscribed
from horae.mesos._scheduler_client import Backoff, MesosSchedulerClient
from horae.mesos._zookeeper import NoLeader, ZooKeeperDetector, ZooKeeperUrl, leader_node, master_url
from tests.conftest import service_missing
from tests.mesos.fake_master import FakeMaster

ZOOKEEPER = os.environ.get("HORAE_TEST_ZOOKEEPER", "127.0.0.1:2181")


def master_info(master: FakeMaster) -> bytes:
    info = {
        "id": master.name,
        "ip": 16777343,
        "port": master.port,
        "hostname": "127.0.0.1",
        "pid": f"master@127.0.0.1:{master.port}",
        "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": master.port},
    }
    return json.dumps(info).encode()


def test_zk_urls() -> None:
    assert ZooKeeperUrl.parse("zk://z1:2181,z2:2181/mesos") == ZooKeeperUrl("z1:2181,z2:2181", "/mesos")
    assert ZooKeeperUrl.parse("zk://u:p%40ss@z1:2181/a/mesos/").auth == ("u", "p@ss")
    for bad in ("http://z1:2181/mesos", "zk://z1:2181", "zk:///mesos"):
        with pytest.raises(ValueError, match="zk://"):
            ZooKeeperUrl.parse(bad)


def test_lowest_sequence_leads() -> None:
    assert (
        leader_node(["json.info_0000000012", "json.info_0000000003", "log_replicas"])
        == "json.info_0000000003"
    )
    assert leader_node(["info_0000000001", "log_replicas"]) is None
    assert master_url({"address": {"ip": "10.0.0.1", "port": 5050}}) == "http://10.0.0.1:5050"
    assert master_url({"hostname": "m1", "port": 5050}) == "http://m1:5050"


@pytest.fixture
def zk() -> Iterator[tuple[KazooClient, str]]:
    client = KazooClient(hosts=ZOOKEEPER, timeout=3)
    try:
        client.start(timeout=5)
    except Exception as e:  # kazoo raises its own timeout type when nothing listens
        client.close()
        service_missing(f"no ZooKeeper at {ZOOKEEPER} ({e}); run .ci/zookeeper.sh")
    path = f"/horae-test-{uuid.uuid4().hex[:8]}/mesos"
    client.ensure_path(path)
    yield client, path
    client.delete(path.rsplit("/", 1)[0], recursive=True)
    client.stop()
    client.close()


@pytest.mark.usefixtures("mesos_protos")
async def test_the_detector_follows_the_lowest_sequence(
    zk: tuple[KazooClient, str], masters: tuple[FakeMaster, FakeMaster]
) -> None:
    client, path = zk
    one, two = masters
    detector = ZooKeeperDetector(f"zk://{ZOOKEEPER}{path}")
    try:
        with pytest.raises(NoLeader, match="no master"):
            await detector()
        first = client.create(f"{path}/json.info_", master_info(one), ephemeral=True, sequence=True)
        client.create(f"{path}/json.info_", master_info(two), ephemeral=True, sequence=True)
        client.create(f"{path}/log_replicas", b"")
        assert await detector() == [one.url]
        client.delete(first)
        assert await detector() == [two.url]
    finally:
        await detector.close()


@pytest.mark.usefixtures("mesos_protos")
async def test_the_client_resubscribes_to_the_new_leader_after_a_failover(
    zk: tuple[KazooClient, str], masters: tuple[FakeMaster, FakeMaster]
) -> None:
    client, path = zk
    one, two = masters
    first = client.create(f"{path}/json.info_", master_info(one), ephemeral=True, sequence=True)
    client.create(f"{path}/json.info_", master_info(two), ephemeral=True, sequence=True)
    events: list[SchedulerEvent] = []
    subscribed = asyncio.Event()

    async def handler(event: SchedulerEvent) -> None:
        events.append(event)
        if isinstance(event, Subscribed):
            subscribed.set()

    detector = ZooKeeperDetector(f"zk://{ZOOKEEPER}{path}")
    scheduler = MesosSchedulerClient(
        [], FrameworkConfig(name="horae-zk"), handler, detector=detector, backoff=Backoff(0.05, 0.2)
    )
    runner = asyncio.create_task(scheduler.run())
    try:
        await one.wait_for(lambda: one.subscribed)
        framework_id = one.framework_id
        client.delete(first)  # the leader's session ends: it is no longer in ZooKeeper
        one.no_leader = True  # and it stops serving as a master
        one.drop_stream()
        await two.wait_for(lambda: two.subscribed, within=10)
        subscribe: Any = two.of_type("SUBSCRIBE")[0].body
        assert subscribe["framework_id"] == {"value": framework_id}
        assert scheduler.master == two.url
        async with asyncio.timeout(5):
            while len([e for e in events if isinstance(e, Subscribed)]) < 2:
                subscribed.clear()
                await subscribed.wait()
        assert [e.framework_id for e in events if isinstance(e, Subscribed)] == [framework_id, framework_id]
    finally:
        await scheduler.stop()
        await runner
        await detector.close()
    assert one.rejected == [] and two.rejected == []
