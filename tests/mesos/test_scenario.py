"""The end-to-end scenario over a two-agent test cluster (doubles of a master and two agents, with the real
`MesosRuntime` and the real executor as a subprocess): 60 runs of one job, horae stopped and restarted
mid-way, then the executor's agent restarted. The run events are recorded as the server would record
them (one ledger entry per event).

The scenario drives the runtime directly, launching each run when the previous one started (the
schedule itself is the core's business, tested there); the spacing is compressed from 2 s to ~0.1 s.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from horae.mesos._calls import FrameworkConfig
from horae.mesos._runtime import MesosOptions, MesosRuntime
from horae.mesos._tasks import ExecutorSpec
from horae.model import ExitKind, Launch, RunEvent, RunFinished, RunLost, RunStarted
from horae.model._run import format_task_id, from_epoch_ms
from tests.mesos.cluster import TestCluster, two_agent_cluster
from tests.mesos.loopback import wait_until

pytestmark = [pytest.mark.usefixtures("mesos_protos"), pytest.mark.slow]

RUNS = 60
RESTART_AT = 30
AGENT_RESTART_AT = 45
FRAMEWORK = FrameworkConfig(user="cron", name="horae-scenario", roles=("cron",))
EXECUTOR = ExecutorSpec(command=(sys.executable, "-m", "horae.mesos.executor"), cpus=0.1, mem=32.0)
START_MS = 1_800_000_000_000


def run_launch(n: int, command: str) -> Launch:
    at = START_MS + n * 2_000
    return Launch(
        run_id=f"tick:{at}",
        job="tick",
        attempt=0,
        task_id=format_task_id(from_epoch_ms(at), 0, "tick", ""),
        argv=("/bin/sh", "-c", command),
        environment=(("RUN", str(n)),),
        cpus=0.2,
        mem=32.0,
        disk=0.0,
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    async with two_agent_cluster(tmp_path) as c:
        yield c


async def test_sixty_runs_one_executor_and_a_restart_midway(cluster: TestCluster, tmp_path: Path) -> None:
    ledger: list[RunEvent] = []
    changed = asyncio.Event()

    def record(event: RunEvent) -> None:
        ledger.append(event)
        changed.set()

    async def until(predicate: Callable[[], bool], within: float = 20.0) -> None:
        await wait_until(changed, predicate, within)

    def finished(run_id: str) -> bool:
        return any(isinstance(e, RunFinished | RunLost) and e.run_id == run_id for e in ledger)

    def open_runs() -> list[tuple[str, int]]:
        started = {(e.run_id, e.attempt) for e in ledger if isinstance(e, RunStarted)}
        return sorted(r for r in started if not finished(r[0]))

    state = tmp_path / "framework.json"

    def runtime() -> MesosRuntime:
        return MesosRuntime([cluster.master.url], FRAMEWORK, state, executor=EXECUTOR, options=MesosOptions())

    first = runtime()
    await first.start(record)
    await first.reconcile([])
    launches = [run_launch(n, 'echo "run $RUN"') for n in range(1, RUNS + 1)]
    slow = run_launch(RESTART_AT, 'sleep 1; echo "run $RUN"')
    launches[RESTART_AT - 1] = slow
    for launch in launches[: RESTART_AT - 1]:
        await asyncio.wait_for(first.launch(launch), 10)
    await until(lambda: all(finished(x.run_id) for x in launches[: RESTART_AT - 1]))
    await asyncio.wait_for(first.launch(slow), 10)
    framework_id = first.framework_id
    await first.close()  # horae goes away with a run in flight; the run ends while it is away

    restarted_at = len(ledger)
    second = runtime()
    await second.start(record)
    await second.reconcile(open_runs())
    assert open_runs() == [(slow.run_id, 0)]
    await until(lambda: finished(slow.run_id))
    for n, launch in enumerate(launches[RESTART_AT:], start=RESTART_AT + 1):
        if n == AGENT_RESTART_AT:  # the executor's agent restarts; with checkpointing the executor stays
            (host,) = [a for a in cluster.agents.values() if a.running()]
            host.restart()
            await asyncio.sleep(0.3)
            host.recovered()
        await asyncio.wait_for(second.launch(launch), 10)
    await until(lambda: all(finished(x.run_id) for x in launches))
    await second.close()

    master = cluster.master
    assert second.framework_id == framework_id
    assert master.of_type("SUBSCRIBE")[-1].body["framework_id"] == {"value": framework_id}
    # One executor (one container) for the job across both agents, through the agent's restart too.
    (host,) = [a for a in cluster.agents.values() if a.executors]
    assert len(next(iter(host.executors.values())).subscribes) == 2
    started = [e for agent in cluster.agents.values() for e in agent.started_executors]
    assert len(started) == 1, started
    # Every run launched once, as one task, and every task finished.
    tasks = [
        t["task_id"]["value"]
        for c in master.of_type("ACCEPT")
        for op in c.body["accept"]["operations"]
        for t in op["launch"]["task_infos"]
    ]
    assert sorted(tasks) == sorted(x.task_id for x in launches)
    finals = Counter(
        u["task_id"]["value"]
        for agent in cluster.agents.values()
        for slot in agent.executors.values()
        for u in slot.updates
        if u["state"] == "TASK_FINISHED"
    )
    assert finals == Counter({x.task_id: 1 for x in launches})
    # Recorded once each: one outcome per run, all successes, nothing lost.
    outcomes = [e for e in ledger if isinstance(e, RunFinished | RunLost)]
    assert Counter(e.run_id for e in outcomes) == Counter({x.run_id: 1 for x in launches})
    assert all(
        isinstance(e, RunFinished) and e.kind is ExitKind.EXITED and e.exit_code == 0 for e in outcomes
    )
    # The run in flight at the restart ended while horae was away; the restarted runtime reported it.
    (slow_end,) = [i for i, e in enumerate(ledger) if isinstance(e, RunFinished) and e.run_id == slow.run_id]
    assert slow_end >= restarted_at
    # The other agent's offers were declined: runs stayed with the executor's agent.
    assert master.of_type("DECLINE")
    # The restart reconciled the run in flight before anything new was launched.
    second_subscribe = [i for i, c in enumerate(master.calls) if c.type == "SUBSCRIBE"][-1]
    after = [c for c in master.calls[second_subscribe:] if c.type in ("RECONCILE", "ACCEPT")]
    assert after[0].type == "RECONCILE"
    assert after[0].body["reconcile"]["tasks"][0]["task_id"] == {"value": slow.task_id}
