"""The scheduler as a deterministic state machine: `Scheduler.handle(event, now) -> Decision`."""

from horae.core._calendar import later
from horae.core._catchup import MAX_LISTED, NONE_GRACE, Verdict, due_occurrences
from horae.core._launch import build_argv, build_launch, task_environment
from horae.core._messages import (
    Command,
    CreateRun,
    Decision,
    Event,
    JobDeleted,
    JobSaved,
    KillRequested,
    KillRun,
    LaunchRun,
    ManualRunRequested,
    NoticeKind,
    Notify,
    RunKillRequested,
    RunMarkedSucceeded,
    StateRestored,
    TaskCompleted,
    TimerFired,
    UpdateJob,
    UpdateRun,
)
from horae.core._scheduler import MAX_QUEUED, TIMEOUT_MARGIN, Scheduler, jitter_offset, replay, truncate_ms
from horae.core._stats import Histogram
from horae.core._validate import check_calendar, find_cycle, validate_job
from horae.model import RunFinished, RunLost, RunStarted

__all__ = [
    "MAX_LISTED",
    "MAX_QUEUED",
    "NONE_GRACE",
    "TIMEOUT_MARGIN",
    "Command",
    "CreateRun",
    "Decision",
    "Event",
    "Histogram",
    "JobDeleted",
    "JobSaved",
    "KillRequested",
    "KillRun",
    "LaunchRun",
    "ManualRunRequested",
    "NoticeKind",
    "Notify",
    "RunFinished",
    "RunKillRequested",
    "RunLost",
    "RunMarkedSucceeded",
    "RunStarted",
    "Scheduler",
    "StateRestored",
    "TaskCompleted",
    "TimerFired",
    "UpdateJob",
    "UpdateRun",
    "Verdict",
    "build_argv",
    "build_launch",
    "check_calendar",
    "due_occurrences",
    "find_cycle",
    "jitter_offset",
    "later",
    "replay",
    "task_environment",
    "truncate_ms",
    "validate_job",
]
