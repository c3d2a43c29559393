"""Argument checks shared by every backend, so they all refuse the same calls the same way."""

from __future__ import annotations

from datetime import datetime


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def check_prune(keep: int, now: datetime) -> None:
    if keep < 0:
        raise ValueError(f"keep must not be negative, not {keep}")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")


def check_job_name(name: str) -> None:
    if not name or "\x00" in name:
        raise ValueError(f"a job needs a name without NUL, not {name!r}")


def check_value(key: str, value: str) -> None:
    if not key or "\x00" in key:
        raise ValueError(f"a value needs a key without NUL, not {key!r}")
    if "\x00" in value:
        raise ValueError(f"the value under {key!r} holds NUL")
