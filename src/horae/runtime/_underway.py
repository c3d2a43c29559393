"""Launches under way in a runtime that supervises its own runs: started, not yet watched.

A launch waits (for its directory, for the job's container) before the runtime watches the run. In that
window a reconcile must leave the attempt to the launch (which reports how it went), and a kill must not
be lost: it is noted here and carried out as soon as the run is watched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from horae.model import Launch
from horae.runtime._abc import LaunchFailed


class UnderWay:
    def __init__(self) -> None:
        self._kills: dict[str, timedelta | None] = {}  # run id -> the grace of a kill asked meanwhile

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._kills

    @contextlib.contextmanager
    def launching(self, launch: Launch, watched_attempt: int | None) -> Iterator[None]:
        """Marks the launch under way for its duration; refuses a second one of a run already running
        (`watched_attempt`: the attempt the runtime watches for that run) or being launched."""
        if watched_attempt is not None or launch.run_id in self._kills:
            attempt = watched_attempt if watched_attempt is not None else launch.attempt
            raise LaunchFailed(f"attempt {attempt} of {launch.run_id} is still running")
        self._kills[launch.run_id] = None
        try:
            yield
        finally:
            del self._kills[launch.run_id]

    def ask_kill(self, run_id: str, grace: timedelta) -> None:
        """Note a kill of a run being launched (nothing for any other run)."""
        if run_id in self._kills:
            self._kills[run_id] = grace

    def kill_asked(self, run_id: str) -> timedelta | None:
        """The grace of a kill asked while the run was being launched, if one was."""
        return self._kills.get(run_id)
