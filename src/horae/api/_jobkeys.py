"""The top-level keys a job document may have. horae's own API and job files refuse any other key, so that a
misspelt field (`comand`, `schedul`) is an error instead of a default; Chronos's routes ignore unknown keys,
as Chronos does. Free of the web framework, so that the command line can check job files with it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# What horae.model's Chronos converter reads: Chronos 3.x's job JSON, then horae's own keys.
JOB_KEYS = frozenset(
    {
        "name", "command", "shell", "executor", "executorFlags", "taskInfoData", "retries", "owner", "ownerName",
        "description", "successCount", "errorCount", "lastSuccess", "lastError", "cpus", "disk", "mem",
        "disabled", "softError", "dataProcessingJobType", "errorsSinceLastSuccess", "fetch", "uris",
        "environmentVariables", "arguments", "highPriority", "runAsUser", "concurrent", "maxCompletionTime",
        "container", "constraints", "parents", "schedule", "scheduleTimeZone",
        "concurrencyPolicy", "startingDeadline", "catchUp", "retryBackoff", "disableAfterFailures", "jitter",
    }
)  # fmt: skip
# Accepted on input, never written: Chronos 2.x's `epsilon` (= startingDeadline) and `async` (ignored), and
# `timeout` (an ISO 8601 duration, = maxCompletionTime).
INPUT_ONLY_KEYS = frozenset({"epsilon", "async", "timeout"})
# The server's summary in a job it answers with: ignored on input, so a fetched job can be sent back.
READ_ONLY_KEYS = frozenset({"status"})

ACCEPTED_KEYS = JOB_KEYS | INPUT_ONLY_KEYS | READ_ONLY_KEYS


def unknown_key(keys: Iterable[str]) -> tuple[str, str] | None:
    """The first key a job document may not have and a message for it (with the nearest known key, if one
    is close), or None when every key is known."""
    for key in keys:
        if key not in ACCEPTED_KEYS:
            shown = key if len(key) <= 60 else key[:60] + "…"
            near = difflib.get_close_matches(key, sorted(ACCEPTED_KEYS), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            return shown, f"'{shown}' is not a field of a job{hint}"
    return None
