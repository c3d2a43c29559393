"""The imperative shell: the asyncio loop where the clock, the store, the scheduler and the runtime meet."""

from horae.server._host import Host, utc_now
from horae.server._jobfiles import JobFileError, read_job_file
from horae.server._serve import run
from horae.server._settings import ENVIRONMENT, Settings, SettingsError, load_settings

__all__ = [
    "ENVIRONMENT",
    "Host",
    "JobFileError",
    "Settings",
    "SettingsError",
    "load_settings",
    "read_job_file",
    "run",
    "utc_now",
]
