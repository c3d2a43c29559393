"""The published `chronos-python` client against a real horae server: uvicorn on 127.0.0.1, SQLite and the
process runtime, in a thread. What the client returns is what its users' scripts see."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import chronos
import httplib2
import pytest

from tests.api.conftest import LiveServer


class _ClosingHttp(httplib2.Http):  # type: ignore[misc]
    """chronos-python opens an httplib2.Http per call and never closes it; close it after each request."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().request(*args, **kwargs)
        finally:
            self.close()


@pytest.fixture(autouse=True)
def _close_client_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httplib2, "Http", _ClosingHttp)


# chronos-python's 2.x mode adds `async` to a class-level list of required fields, for every later call too.
SCHEDULED = {
    "name": "nightly",
    "command": "echo nightly",
    "owner": "ops@example.com",
    "disabled": False,
    "async": False,
    "schedule": "R/2030-01-01T00:00:00Z/P1D",
}
DEPENDENT = {
    "name": "report",
    "command": "echo report",
    "owner": "ops@example.com",
    "disabled": False,
    "async": False,
    "parents": ["nightly"],
}
EMPTY_HISTOGRAM = {
    "75thPercentile": 0.0,
    "95thPercentile": 0.0,
    "98thPercentile": 0.0,
    "99thPercentile": 0.0,
    "median": 0.0,
    "mean": 0.0,
    "count": 0,
}


def eventually(predicate: Callable[[], Any], within: float = 10.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def exercise(client: chronos.ChronosClient, server: LiveServer) -> None:
    assert client.list() == []
    assert client.scheduler_graph() is None  # no jobs: 204, which the client accepts

    assert client.add(dict(SCHEDULED)) is None
    assert client.add(dict(DEPENDENT)) is None
    jobs = {j["name"]: j for j in client.list()}
    assert set(jobs) == {"nightly", "report"}
    assert jobs["nightly"]["schedule"] == SCHEDULED["schedule"]
    assert jobs["report"]["parents"] == ["nightly"]
    # what chronos-nagios.py reads from every job
    for job in jobs.values():
        assert {"disabled", "name", "lastError", "lastSuccess"} <= set(job)

    assert [j["name"] for j in client.search(name="night")] == ["nightly"]
    assert [j["name"] for j in client.search(command="report")] == ["report"]

    updated = {**SCHEDULED, "command": "echo updated"}
    assert client.update(updated) is None
    assert [j["command"] for j in client.list() if j["name"] == "nightly"] == ["echo updated"]

    assert client.job_stat("nightly") == {"histogram": EMPTY_HISTOGRAM, "taskStatHistory": []}

    # a real run: the process runtime runs the command; the dependent job follows its parent
    assert client.run("nightly") is None
    stats = eventually(lambda: (s := client.job_stat("report"))["histogram"]["count"] == 1 and s)
    assert stats["taskStatHistory"] == []
    assert client.job_stat("nightly")["histogram"]["count"] == 1

    graph = client.scheduler_graph()
    assert graph == "node,nightly,success,idle\nnode,report,success,idle\nlink,nightly,report\n"

    for method in ("99th", "98th", "95th", "75th", "median", "mean"):
        rows = getattr(client, f"scheduler_stat_{method}")()
        assert {r["jobNameLabel"] for r in rows} == {"nightly", "report"}
        assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)

    metrics = client.metrics()
    assert isinstance(metrics, str)
    assert "horae_" in metrics

    assert client.delete_tasks("nightly") is None
    assert client.delete("report") is None
    assert client.delete("nightly") is None
    assert client.list() == []


def test_chronos_python_v1(live_server: LiveServer) -> None:
    exercise(chronos.connect([live_server.address]), live_server)


def test_chronos_python_legacy_paths(live_server: LiveServer) -> None:
    exercise(chronos.connect([live_server.address], scheduler_api_version=None), live_server)


def test_chronos_python_errors_come_back_as_chronos_api_errors(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = chronos.connect([live_server.address])
    with pytest.raises(chronos.ChronosAPIError):
        client.job_stat("missing")
    assert "Job 'missing' not found (...)" in caplog.text  # the client quotes the envelope's message
    bad = {**SCHEDULED, "schedule": "R/not-a-date/P1D"}
    with pytest.raises(chronos.ChronosAPIError):
        client.add(bad)
    assert "schedule: " in caplog.text
    assert "Traceback" not in caplog.text
    assert client.list() == []


def test_chronos_python_with_basic_auth(live_server_with_auth: LiveServer) -> None:
    client = chronos.connect([live_server_with_auth.address], username="chronos", password="s3cret")
    exercise(client, live_server_with_auth)
    # the client turns the 401 into UnauthorizedError, then gives up on the server with a ChronosAPIError
    with pytest.raises(chronos.ChronosAPIError):
        chronos.connect([live_server_with_auth.address]).list()
    wrong = chronos.connect([live_server_with_auth.address], username="chronos", password="nope")
    with pytest.raises(chronos.ChronosAPIError):
        wrong.list()
