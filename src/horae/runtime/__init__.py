"""Where runs execute, behind one narrow interface: `Runtime`, the in-memory `FakeRuntime` for tests,
and `ProcessRuntime` (child processes on this host)."""

from horae.runtime._abc import DEFAULT_GRACE, LaunchFailed, RunEventSink, Runtime
from horae.runtime._fake import FakeRuntime
from horae.runtime._process import ProcessRuntime

__all__ = ["DEFAULT_GRACE", "FakeRuntime", "LaunchFailed", "ProcessRuntime", "RunEventSink", "Runtime"]
