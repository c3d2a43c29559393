"""RecordIO, the framing of Mesos event streams: `<decimal byte length>\n<that many bytes>`, repeated.

Records are independent of HTTP chunk boundaries: a chunk may hold several records or a fraction of one,
so the decoder keeps a byte buffer and counts bytes, never decoded characters.
"""

from __future__ import annotations

MAX_RECORD = 64 * 1024 * 1024  # far above any event a master sends; a larger prefix means a corrupt stream
_MAX_DIGITS = len(str(MAX_RECORD))


class RecordIOError(Exception):
    """The stream is not valid RecordIO, or it ended inside a record."""


def encode(record: bytes) -> bytes:
    if not record:
        raise ValueError("a RecordIO record is never empty")
    return b"%d\n%s" % (len(record), record)


class RecordIODecoder:
    """Incremental: `feed(chunk)` returns the records the chunk completes; `close()` at the end of the
    stream raises if a record was cut off. After an error the decoder stays failed."""

    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self._buffer = bytearray()
        self._length: int | None = None  # the length of the record being read, once its prefix is complete
        self._max_record = max_record
        self._failed: RecordIOError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._failed is not None:
            raise self._failed
        self._buffer += chunk
        records: list[bytes] = []
        try:
            while True:
                if self._length is None:
                    newline = self._buffer.find(b"\n")
                    if newline < 0:
                        self._check_prefix(bytes(self._buffer), complete=False)
                        return records
                    self._length = self._check_prefix(bytes(self._buffer[:newline]), complete=True)
                    del self._buffer[: newline + 1]
                if len(self._buffer) < self._length:
                    return records
                records.append(bytes(self._buffer[: self._length]))
                del self._buffer[: self._length]
                self._length = None
        except RecordIOError as e:
            self._failed = e
            raise

    def close(self) -> None:
        """The stream ended: fine between records, an error inside one."""
        if self._failed is not None:
            raise self._failed
        if self._length is not None or self._buffer:
            have = len(self._buffer)
            want = f"{self._length} bytes" if self._length is not None else "a length prefix"
            self._failed = RecordIOError(f"stream ended inside a record: expected {want}, got {have} bytes")
            raise self._failed

    @property
    def pending(self) -> int:
        """Bytes buffered for a record not yet complete."""
        return len(self._buffer)

    def _check_prefix(self, prefix: bytes, *, complete: bool) -> int:
        if not prefix.isdigit() or len(prefix) > _MAX_DIGITS:
            if not prefix and not complete:
                return 0
            if prefix.isdigit():
                raise RecordIOError(f"record length {prefix[:20].decode()}… exceeds {self._max_record} bytes")
            raise RecordIOError(f"bad record length prefix {prefix[:20]!r}")
        length = int(prefix)
        if length > self._max_record:
            raise RecordIOError(f"record length {length} exceeds {self._max_record} bytes")
        if complete and length == 0:
            raise RecordIOError("record length 0 (a RecordIO record is never empty)")
        return length
