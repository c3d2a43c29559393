"""What the framework must remember across a restart of horae: its framework id (to re-subscribe as the
same framework, so Mesos keeps its tasks), the tasks it launched and has not seen end (to reconcile
them explicitly) and which agent hosts each executor (to keep sending a job's runs there).

One small JSON file, replaced atomically and synced on every change: a cron framework changes it a few
times per run, and a lost framework id would orphan every running task.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TaskRecord:
    task_id: str
    run_id: str
    attempt: int
    job: str
    agent_id: str
    executor_id: str


@dataclass(slots=True)
class FrameworkState:
    framework_id: str | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)  # task id → record, until terminal
    homes: dict[str, str] = field(default_factory=dict)  # executor id → agent id


class StateFile:
    """`load()` once at start; `save()` after every change that must survive a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> FrameworkState:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return FrameworkState()
        return FrameworkState(
            framework_id=doc.get("framework_id"),
            tasks={t["task_id"]: TaskRecord(**t) for t in doc.get("tasks", [])},
            homes=dict(doc.get("homes", {})),
        )

    def save(self, state: FrameworkState) -> None:
        doc = {
            "framework_id": state.framework_id,
            "tasks": [asdict(t) for t in state.tasks.values()],
            "homes": state.homes,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w") as f:
            json.dump(doc, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)
