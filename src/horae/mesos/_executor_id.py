"""The executor id of a job: its name plus a hash of the executor's configuration.

Mesos compares the ExecutorInfo of every launch with the one already running under the same id and
fails the task (TASK_ERROR) if they differ, so the id must change exactly when the configuration does:
the hash covers the canonical JSON of the ExecutorInfo without its id (keys sorted, no whitespace), which
is byte-identical for an unchanged job across runs, restarts and hosts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

HASH_LENGTH = 12


def config_hash(executor_info: Mapping[str, Any]) -> str:
    config = {k: v for k, v in executor_info.items() if k != "executor_id"}
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def executor_id(job: str, executor_info: Mapping[str, Any]) -> str:
    """`horae.<job>.<config hash>`; job names are `[\\w.-]+`, so the id stays readable in Mesos's UIs."""
    return f"horae.{job}.{config_hash(executor_info)}"


def with_executor_id(job: str, executor_info: Mapping[str, Any]) -> dict[str, Any]:
    """The ExecutorInfo with its deterministic id filled in."""
    return {**executor_info, "executor_id": {"value": executor_id(job, executor_info)}}
