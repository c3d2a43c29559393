"""Pure pieces of the task model: every Mesos task state has an outcome and a reason; executor ids are
deterministic and change exactly when the executor's configuration does."""

from __future__ import annotations

import hashlib

import pytest

from horae.mesos._events import TaskStatus
from horae.mesos._executor_id import executor_id, with_executor_id
from horae.mesos._task_states import outcome
from horae.model import RunState

TABLE = [
    ("TASK_STAGING", "", RunState.RUNNING),
    ("TASK_STARTING", "", RunState.RUNNING),
    ("TASK_RUNNING", "", RunState.RUNNING),
    ("TASK_KILLING", "", RunState.RUNNING),
    ("TASK_UNREACHABLE", "REASON_AGENT_DISCONNECTED", RunState.RUNNING),
    ("TASK_FINISHED", "", RunState.SUCCEEDED),
    ("TASK_FAILED", "", RunState.FAILED),
    ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED", RunState.FAILED),
    ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", RunState.OOM_KILLED),
    ("TASK_FAILED", "REASON_MAX_COMPLETION_TIME_REACHED", RunState.TIMED_OUT),
    ("TASK_KILLED", "", RunState.KILLED),
    ("TASK_ERROR", "REASON_TASK_INVALID", RunState.FAILED),
    ("TASK_LOST", "REASON_AGENT_REMOVED", RunState.LOST),
    ("TASK_DROPPED", "REASON_INVALID_OFFERS", RunState.LOST),
    ("TASK_GONE", "REASON_RECONCILIATION", RunState.LOST),
    ("TASK_GONE_BY_OPERATOR", "", RunState.LOST),
    ("TASK_UNKNOWN", "REASON_RECONCILIATION", RunState.LOST),
    ("TASK_FROM_THE_FUTURE", "", RunState.LOST),
]


@pytest.mark.parametrize(("state", "reason", "expected"), TABLE)
def test_every_task_state_has_an_outcome_and_a_reason(state: str, reason: str, expected: RunState) -> None:
    result = outcome(TaskStatus("ct:1:0:job:", state, reason=reason, message="exit 3"))
    assert result.state is expected
    assert result.final is (expected is not RunState.RUNNING)
    assert state in result.reason and "exit 3" in result.reason
    if reason:
        assert reason in result.reason


EXECUTOR = {
    "type": "CUSTOM",
    "command": {"shell": False, "value": "horae", "arguments": ["horae", "executor", "--job", "backup"]},
    "container": {"type": "DOCKER", "docker": {"image": "busybox:1"}},
    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
}


def test_executor_id_is_byte_identical_for_the_same_config() -> None:
    reordered = dict(reversed(list(EXECUTOR.items())))
    assert executor_id("backup", EXECUTOR) == executor_id("backup", reordered)
    assert (
        executor_id("backup", EXECUTOR) == "horae.backup." + executor_id("backup", EXECUTOR).rsplit(".", 1)[1]
    )
    # The id itself is not part of the hash: filling it in does not change it.
    filled = with_executor_id("backup", EXECUTOR)
    assert executor_id("backup", filled) == filled["executor_id"]["value"]


def test_executor_id_changes_with_any_config_change_and_job() -> None:
    changed = {**EXECUTOR, "container": {"type": "DOCKER", "docker": {"image": "busybox:2"}}}
    ids = {executor_id("backup", EXECUTOR), executor_id("backup", changed), executor_id("report", EXECUTOR)}
    assert len(ids) == 3


def test_executor_id_is_stable_across_releases() -> None:
    # Pinned: a changed hash would give every job a new executor (and container) after an upgrade.
    assert executor_id("backup", {"type": "CUSTOM"}) == "horae.backup.a08110119b47"
    assert hashlib.sha256(b'{"type":"CUSTOM"}').hexdigest().startswith("a08110119b47")
