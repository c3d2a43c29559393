"""Fixtures for the Mesos tests: the proto oracle (skips locally without the Debian packages, fails in CI)."""

from __future__ import annotations

import pytest

from tests.conftest import service_missing
from tests.mesos import protos


@pytest.fixture(scope="session")
def mesos_protos() -> None:
    """The v1 protos compiled for this session; every test that validates messages depends on it."""
    try:
        protos.pool()
    except protos.ProtosMissing as e:
        service_missing(str(e))
