"""horae as an Apache Mesos framework (v1 HTTP scheduler API); the agent executor comes later."""

from horae.mesos._recordio import RecordIODecoder, RecordIOError

__all__ = ["RecordIODecoder", "RecordIOError"]
