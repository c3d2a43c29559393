"""horae as an Apache Mesos framework: `MesosRuntime` (built by `build_runtime`) runs each run as a task on
its job's long-lived executor; underneath, a client of the v1 HTTP scheduler API, its typed events and
calls, the RecordIO framing of its event stream and the offer matching. The agent executor comes later."""

from horae.mesos._calls import FrameworkConfig
from horae.mesos._clock import SYSTEM_CLOCK, Clock, SystemClock
from horae.mesos._events import (
    Attribute,
    Disconnected,
    Error,
    Failure,
    Heartbeat,
    Message,
    Offer,
    Offers,
    Rescind,
    SchedulerEvent,
    Subscribed,
    TaskStatus,
    UnknownEvent,
    Update,
)
from horae.mesos._factory import MesosSettingsError, build_runtime, parse_masters
from horae.mesos._offers import ExecutorCost, Need, Plan, plan
from horae.mesos._recordio import RecordIODecoder, RecordIOError
from horae.mesos._runtime import MesosOptions, MesosRuntime
from horae.mesos._scheduler_client import (
    Backoff,
    CallFailed,
    EventHandler,
    MesosSchedulerClient,
    NotSubscribed,
    SchedulerError,
)
from horae.mesos._tasks import ExecutorSpec

__all__ = [
    "SYSTEM_CLOCK",
    "Attribute",
    "Backoff",
    "CallFailed",
    "Clock",
    "Disconnected",
    "Error",
    "EventHandler",
    "ExecutorCost",
    "ExecutorSpec",
    "Failure",
    "FrameworkConfig",
    "Heartbeat",
    "MesosOptions",
    "MesosRuntime",
    "MesosSchedulerClient",
    "MesosSettingsError",
    "Message",
    "Need",
    "NotSubscribed",
    "Offer",
    "Offers",
    "Plan",
    "RecordIODecoder",
    "RecordIOError",
    "Rescind",
    "SchedulerError",
    "SchedulerEvent",
    "Subscribed",
    "SystemClock",
    "TaskStatus",
    "UnknownEvent",
    "Update",
    "build_runtime",
    "parse_masters",
    "plan",
]
