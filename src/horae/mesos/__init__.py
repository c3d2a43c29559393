"""horae as an Apache Mesos framework: a client of the v1 HTTP scheduler API, its typed events and calls,
and the RecordIO framing of its event stream. The `MesosRuntime` and the agent executor come later."""

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
from horae.mesos._recordio import RecordIODecoder, RecordIOError
from horae.mesos._scheduler_client import (
    Backoff,
    CallFailed,
    EventHandler,
    MesosSchedulerClient,
    NotSubscribed,
    SchedulerError,
)

__all__ = [
    "SYSTEM_CLOCK",
    "Attribute",
    "Backoff",
    "CallFailed",
    "Clock",
    "Disconnected",
    "Error",
    "EventHandler",
    "Failure",
    "FrameworkConfig",
    "Heartbeat",
    "MesosSchedulerClient",
    "Message",
    "NotSubscribed",
    "Offer",
    "Offers",
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
]
