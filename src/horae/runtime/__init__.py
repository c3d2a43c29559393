"""Where runs execute, behind one narrow interface: `Runtime`, the in-memory `FakeRuntime` for tests,
`ProcessRuntime` (child processes on this host), `DockerRuntime` (a warm container per job) and
`RoutedRuntime` (container jobs to Docker, the rest to processes)."""

from horae.runtime._abc import DEFAULT_GRACE, LaunchFailed, RunEventSink, Runtime
from horae.runtime._fake import FakeRuntime
from horae.runtime._process import ProcessRuntime
from horae.runtime.docker import DockerRuntime, RoutedRuntime

__all__ = [
    "DEFAULT_GRACE",
    "DockerRuntime",
    "FakeRuntime",
    "LaunchFailed",
    "ProcessRuntime",
    "RoutedRuntime",
    "RunEventSink",
    "Runtime",
]
