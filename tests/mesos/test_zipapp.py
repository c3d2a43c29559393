"""The executor as agents fetch it: `scripts/build-executor` makes a shiv zipapp, and `python3 horae.pyz
executor` started by the agent double runs tasks with nothing but the zipapp on its path."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from horae.mesos._tasks import ExecutorSpec
from tests.conftest import service_missing
from tests.mesos.fake_agent import FakeAgent
from tests.mesos.test_executor import task

pytestmark = pytest.mark.service  # the build installs horae's dependencies from pip's index

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("shiv") is None:
        service_missing("shiv is not installed (pip install -e '.[test]')")
    output = tmp_path_factory.mktemp("zipapp") / "horae.pyz"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-executor"), "-o", str(output)],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.splitlines()[-1] == str(output)  # pip may warn on stdout before it
    return output


def isolated(zipapp: Path, shiv_root: Path) -> tuple[str, ...]:
    """The zipapp under `python -S` without PYTHONPATH: only the standard library and the zipapp's own
    packages are importable, so the test proves the file is self-contained (not the installed horae)."""
    return ("/usr/bin/env", "-u", "PYTHONPATH", f"SHIV_ROOT={shiv_root}", sys.executable, "-S", str(zipapp))


def test_without_the_agents_environment_it_exits_2_naming_what_is_missing(
    zipapp: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_") and k != "PYTHONPATH"}
    done = subprocess.run(
        [*isolated(zipapp, tmp_path / "shiv"), "executor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    for name in ("MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID"):
        assert name in done.stderr


@pytest.mark.usefixtures("mesos_protos")
async def test_the_zipapp_executor_runs_tasks_for_the_agent(
    zipapp: Path, agent: FakeAgent, tmp_path: Path
) -> None:
    spec = ExecutorSpec(command=(*isolated(zipapp, tmp_path / "shiv"), "executor"))
    runs = [task(n, command, executor=spec) for n, command in ((1, 'echo "run $RUN"'), (2, "exit 3"))]
    await agent.launch("fw-1", runs[0])
    await agent.wait_for(lambda: "TASK_FINISHED" in agent.states("ct:1:0:tick:"), within=30)
    await agent.launch("fw-1", runs[1])
    await agent.wait_for(lambda: "TASK_FAILED" in agent.states("ct:2:0:tick:"))
    assert agent.states("ct:1:0:tick:") == ["TASK_RUNNING", "TASK_FINISHED"]
    assert agent.status_data("ct:2:0:tick:", "TASK_FAILED") == {"exit_code": 3}
    (slot,) = agent.executors.values()
    assert (slot.sandbox / "ct:1:0:tick:.log").read_text() == "run 1\n"
    assert (tmp_path / "shiv").is_dir(), "the executor ran from the unpacked zipapp"
