"""Shared test helpers."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = bool(os.environ.get("CI"))


def service_missing(reason: str) -> NoReturn:
    """A test needs a service that is not here: skip locally, fail under CI (a green CI ran the real thing)."""
    if IN_CI:
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)
