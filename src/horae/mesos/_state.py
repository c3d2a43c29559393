"""What the framework must remember across a restart of horae: its framework id (to re-subscribe as the
same framework, so Mesos keeps its tasks), the tasks it launched and has not seen end (to reconcile
them explicitly) and which agent hosts each executor (to keep sending a job's runs there).

One small JSON document, replaced whole on every change: a cron framework changes it a few times per
run, and a lost framework id would orphan every running task. `horae serve` keeps it in its store (with
the jobs, wherever they are replicated); without a store it is a file, replaced atomically and synced.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from horae.store import Store


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


def encode(state: FrameworkState) -> str:
    doc = {
        "framework_id": state.framework_id,
        "tasks": [asdict(t) for t in state.tasks.values()],
        "homes": state.homes,
    }
    return json.dumps(doc, sort_keys=True)


def decode(text: str) -> FrameworkState:
    doc = json.loads(text)
    return FrameworkState(
        framework_id=doc.get("framework_id"),
        tasks={t["task_id"]: TaskRecord(**t) for t in doc.get("tasks", [])},
        homes=dict(doc.get("homes", {})),
    )


class StateKeeper(ABC):
    """`load()` once at start; `save()` after every change that must survive a crash."""

    @abstractmethod
    def load(self) -> FrameworkState: ...

    @abstractmethod
    def save(self, state: FrameworkState) -> None: ...


class StateFile(StateKeeper):
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> FrameworkState:
        try:
            return decode(self.path.read_text())
        except FileNotFoundError:
            return FrameworkState()

    def save(self, state: FrameworkState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w") as f:
            f.write(encode(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class StoredState(StateKeeper):
    """The state as the store's value `mesos.framework`. `store()` is asked at `load()`, so a runtime can
    be built (and its settings checked) before the store is opened.

    While the store holds no state yet, `load()` takes over the file a horae without a store kept
    (`earlier`), so upgrading does not lose the framework id and orphan every running task."""

    KEY = "mesos.framework"

    def __init__(self, store: Callable[[], Store], *, earlier: Path | None = None) -> None:
        self._store = store
        self._earlier = earlier

    def load(self) -> FrameworkState:
        value = self._store().get_value(self.KEY)
        if value is not None:
            return decode(value)
        state = StateFile(self._earlier).load() if self._earlier is not None else FrameworkState()
        if state != FrameworkState():
            self.save(state)
        return state

    def save(self, state: FrameworkState) -> None:
        self._store().put_value(self.KEY, encode(state))
