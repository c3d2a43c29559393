"""Fixtures for the Mesos tests: the proto oracle (skips locally without the Debian packages, fails in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import service_missing
from tests.mesos import protos
from tests.mesos.fake_agent import FakeAgent
from tests.mesos.fake_master import FakeMaster


@pytest.fixture(scope="session")
def mesos_protos() -> None:
    """The v1 protos compiled for this session; every test that validates messages depends on it."""
    try:
        protos.pool()
    except protos.ProtosMissing as e:
        service_missing(str(e))


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[FakeAgent]:
    """One agent double, `S1`; on the way out, checks it received no call the real agent would refuse."""
    a = FakeAgent("S1", tmp_path)
    await a.start()
    yield a
    await a.stop()
    assert a.rejected == [], "a call the real agent would refuse"


@pytest.fixture
async def masters() -> AsyncIterator[tuple[FakeMaster, FakeMaster]]:
    """Two master doubles, `m1` and `m2`; on the way out, checks neither received a refusable call."""
    one, two = FakeMaster("m1"), FakeMaster("m2")
    await one.start()
    await two.start()
    yield one, two
    await one.stop()
    await two.stop()
    assert one.rejected == [] and two.rejected == [], "a call the real master would refuse"
