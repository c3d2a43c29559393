"""What a Mesos task state means for a horae run: every state maps to an outcome with a reason.

Terminal states end the run's attempt; TASK_UNREACHABLE is the one state that is neither (the agent is
partitioned and the task may still run); the framework keeps the run open until a later update, a
reconciliation answer or its own timeout settles it. TASK_UNKNOWN (the master knows nothing of the task,
e.g. after reconciliation) ends the attempt as lost, as do the states a PARTITION_AWARE framework gets
instead of TASK_LOST.
"""

from __future__ import annotations

from dataclasses import dataclass

from horae.mesos._events import TaskStatus
from horae.model import RunState


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    state: RunState  # RUNNING while the attempt goes on, else its final outcome
    reason: str

    @property
    def final(self) -> bool:
        return self.state.is_final


_ACTIVE = {
    "TASK_STAGING": "the task is on its way to the executor",
    "TASK_STARTING": "the executor is starting the task",
    "TASK_RUNNING": "running",
    "TASK_KILLING": "being killed",
    "TASK_UNREACHABLE": "the agent is unreachable; the task may still be running",
}
_FINAL = {
    "TASK_FINISHED": (RunState.SUCCEEDED, "finished"),
    "TASK_FAILED": (RunState.FAILED, "failed"),
    "TASK_KILLED": (RunState.KILLED, "killed"),
    "TASK_ERROR": (RunState.FAILED, "Mesos refused the task description"),
    "TASK_LOST": (RunState.LOST, "lost by Mesos"),
    "TASK_DROPPED": (RunState.LOST, "dropped before it started"),
    "TASK_GONE": (RunState.LOST, "gone: the task is no longer running"),
    "TASK_GONE_BY_OPERATOR": (RunState.LOST, "gone: an operator marked its agent as gone"),
    "TASK_UNKNOWN": (RunState.LOST, "unknown to the Mesos master"),
}
_BY_REASON = {
    "REASON_CONTAINER_LIMITATION_MEMORY": RunState.OOM_KILLED,
    "REASON_MAX_COMPLETION_TIME_REACHED": RunState.TIMED_OUT,
}


def outcome(status: TaskStatus) -> TaskOutcome:
    """The run outcome a status update means; the reason names the Mesos state, reason and message."""
    detail = ", ".join(p for p in (status.state, status.reason, status.message) if p)
    if status.state in _ACTIVE:
        return TaskOutcome(RunState.RUNNING, f"{_ACTIVE[status.state]} ({detail})")
    state, text = _FINAL.get(status.state, (RunState.LOST, "in a state horae does not know"))
    if state is RunState.FAILED:
        state = _BY_REASON.get(status.reason, state)
    return TaskOutcome(state, f"{text} ({detail})")
