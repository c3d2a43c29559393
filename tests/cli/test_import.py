"""`horae import-chronos`: from a second horae acting as a Chronos 3.x, and from a Chronos 2.x stand-in."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from tests.cli.conftest import Horae, LiveServer


def chronos_post(server: LiveServer, path: str, job: dict[str, Any]) -> None:
    response = httpx.post(f"{server.url}/v1/scheduler/{path}", json=job)
    assert response.status_code == 204, response.text


@pytest.fixture
def chronos(servers: Callable[..., LiveServer]) -> LiveServer:
    """A horae holding jobs made through the Chronos API; the dependent jobs sort before their parents."""
    source = servers("chronos", store="memory", runtime="fake")
    chronos_post(
        source,
        "iso8601",
        {
            "name": "extract",
            "command": "echo e",
            "schedule": "R/2030-01-01T00:00:00Z/PT1H",
            "uris": ["http://example.com/tool.tgz"],
            "owner": "ops@example.com",
        },
    )
    chronos_post(
        source,
        "iso8601",
        {
            "name": "a-load",
            "command": "echo l",
            "schedule": "0 3 * * *",
            "scheduleTimeZone": "Europe/Paris",
            "retries": 5,
        },
    )
    chronos_post(
        source, "dependency", {"name": "0-report", "command": "echo r", "parents": ["extract", "a-load"]}
    )
    chronos_post(source, "dependency", {"name": "00-mail", "command": "echo m", "parents": ["0-report"]})
    return source


def test_import_copies_every_job_parents_first(
    chronos: LiveServer, horae: Horae, live_server: LiveServer
) -> None:
    dry = horae.ok("import-chronos", chronos.url, "--dry-run", "--json")
    assert json.loads(dry.stdout)["dry_run"] is True
    assert all(j["result"] == "created" for j in json.loads(dry.stdout)["jobs"])
    assert json.loads(horae.ok("job", "ls", "--json").stdout) == []

    result = horae.ok("import-chronos", chronos.url, "--json")
    out = json.loads(result.stdout)
    order = [j["name"] for j in out["jobs"]]
    assert sorted(order) == ["0-report", "00-mail", "a-load", "extract"]
    assert order.index("0-report") > max(order.index("extract"), order.index("a-load"))
    assert order.index("00-mail") > order.index("0-report")
    assert {j["result"] for j in out["jobs"]} == {"created"}

    copied = {j["name"]: j for j in json.loads(horae.ok("job", "ls", "--json").stdout)}
    assert copied["0-report"]["parents"] == ["extract", "a-load"]
    assert copied["a-load"]["scheduleTimeZone"] == "Europe/Paris" and copied["a-load"]["retries"] == 5
    assert copied["extract"]["fetch"][0]["uri"] == "http://example.com/tool.tgz"
    assert copied["extract"]["owner"] == "ops@example.com"

    again = horae.ok("import-chronos", chronos.url)
    assert again.stdout.split() == [word for name in order for word in ("unchanged", name)]


class _Chronos2(BaseHTTPRequestHandler):
    jobs: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        if self.path == "/scheduler/jobs":
            body = json.dumps(self.jobs).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"<html>Not Found</html>"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def chronos2() -> Iterator[str]:
    """A Chronos 2.x stand-in: only `/scheduler/jobs`, a job name 2.x allowed but horae refuses, and a key
    horae does not know."""
    _Chronos2.jobs = [
        {"name": "nightly backup", "command": "backup", "schedule": "R/2030-01-01T00:00:00Z/P1D"},
        {
            "name": "cleanup",
            "command": "rm -rf /tmp/x",
            "schedule": "R/2030-01-01T00:00:00Z/P1D",
            "epsilon": "PT5M",
            "async": False,
            "retryDelay": "PT1M",  # a key horae does not read: ignored, as Chronos ignores unknown keys
        },
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chronos2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_import_from_chronos_2_reports_each_refused_job_and_copies_the_rest(
    horae: Horae, chronos2: str
) -> None:
    result = horae("import-chronos", chronos2)
    assert result.exit_code == 1
    assert "created  cleanup" in result.stdout
    assert "failed  nightly backup: " in result.stdout and "name" in result.stdout
    assert result.stderr.strip() == "error: 1 of 2 jobs could not be copied"
    cleanup = json.loads(horae.ok("job", "get", "cleanup", "--json").stdout)
    assert cleanup["startingDeadline"] == "PT5M"  # 2.x's epsilon

    out = json.loads(horae("import-chronos", chronos2, "--json").stdout)
    assert out["jobs"][1] == {"name": "cleanup", "result": "unchanged"}
    assert out["jobs"][0]["result"] == "failed" and out["jobs"][0]["name"] == "nightly backup"


def test_import_from_nowhere(horae: Horae, chronos2: str) -> None:
    result = horae("import-chronos", "http://127.0.0.1:9")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no Chronos at http://127.0.0.1:9")
    missing = horae("import-chronos", chronos2 + "/elsewhere")
    assert missing.exit_code == 1
    assert "no Chronos job list at" in missing.stderr
