"""The job definition: every field of Chronos's job JSON plus horae's own policies.

Values are frozen; a change is a new `Job` made with `dataclasses.replace`.
Defaults are Chronos's defaults, so a job that names only `name`, `command` and `schedule` behaves as in Chronos.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

JOB_NAME = re.compile(r"[\w.-]+", re.ASCII)

DEFAULT_CPUS = 0.1
DEFAULT_MEM = 128.0
DEFAULT_DISK = 256.0
DEFAULT_RETRIES = 2
DEFAULT_RUN_AS_USER = "root"


class ConcurrencyPolicy(enum.StrEnum):
    """What a new trigger does while another run of the same job is active."""

    ALLOW = "allow"  # start it alongside (Chronos `concurrent: true`)
    FORBID = "forbid"  # record it as skipped (Chronos `concurrent: false`)
    REPLACE = "replace"  # kill the active runs, then start it
    QUEUE = "queue"  # start it when the active run ends


class CatchUpMode(enum.StrEnum):
    """Which occurrences that fell due while horae was not deciding are still run."""

    LATEST = "latest"  # run the most recent one; record the older ones as missed
    ALL = "all"  # run up to `limit` of the most recent ones; record the rest as missed
    NONE = "none"  # run none that are late; record them all as missed


@dataclass(frozen=True, slots=True)
class CatchUp:
    mode: CatchUpMode = CatchUpMode.LATEST
    limit: int = 10  # only for ALL: the most late occurrences run after one outage


class BackoffKind(enum.StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """Delay before retry attempt n (n >= 1): `first` (fixed) or `first * 2**(n-1)` capped at `cap`
    (exponential), then spread by up to `jitter` (a fraction, 0..1) of itself, drawn from the seeded source."""

    kind: BackoffKind = BackoffKind.FIXED
    first: timedelta = timedelta(seconds=60)  # Chronos's --failure_retry default
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.0


@dataclass(frozen=True, slots=True)
class EnvironmentVariable:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Fetch:
    uri: str
    executable: bool = False
    cache: bool = False
    extract: bool = True
    output_file: str = ""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class PortMapping:
    host_port: int
    container_port: int
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    name: str
    protocol: str = ""  # "IPv4" | "IPv6" | "" (unset)
    labels: tuple[KeyValue, ...] = ()
    port_mappings: tuple[PortMapping, ...] = ()


@dataclass(frozen=True, slots=True)
class ExternalVolume:
    name: str
    provider: str = ""
    options: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class Volume:
    container_path: str
    host_path: str = ""
    mode: str = ""  # "RW" | "RO" | "" (unset)
    external: ExternalVolume | None = None


class ContainerMode(enum.StrEnum):
    """How a run starts in the job's container (horae's own field; Chronos has one container per run)."""

    WARM = "warm"  # one long-lived container per job; the launcher inside starts each run
    EXEC = "exec"  # one long-lived container per job; `docker exec` per run
    FRESH = "fresh"  # a new container per run


@dataclass(frozen=True, slots=True)
class Container:
    image: str
    type: str = "DOCKER"  # "DOCKER" | "MESOS"
    network: str = "HOST"  # "BRIDGE" | "HOST" | "USER"
    network_name: str = ""
    network_infos: tuple[NetworkInfo, ...] = ()
    volumes: tuple[Volume, ...] = ()
    force_pull_image: bool = False
    parameters: tuple[KeyValue, ...] = ()
    mode: ContainerMode | None = None  # None: the server's default


@dataclass(frozen=True, slots=True)
class Job:
    """A job definition. Exactly one of `schedule` (a scheduled job) and `parents` (a dependent job) is set.

    Counters (`success_count` … `errors_since_last_success`) are maintained by the scheduler, as in Chronos.
    """

    name: str
    command: str = ""
    schedule: str | None = None  # ISO 8601 repeating interval (`R…/…/…`) or cron
    schedule_time_zone: str = ""
    parents: tuple[str, ...] | None = None
    shell: bool = True
    arguments: tuple[str, ...] = ()
    environment_variables: tuple[EnvironmentVariable, ...] = ()
    executor: str = ""
    executor_flags: str = ""
    task_info_data: str = ""
    retries: int = DEFAULT_RETRIES
    owner: str = ""
    owner_name: str = ""
    description: str = ""
    cpus: float = DEFAULT_CPUS
    disk: float = DEFAULT_DISK
    mem: float = DEFAULT_MEM
    disabled: bool = False
    soft_error: bool = False
    data_processing_job_type: bool = False
    high_priority: bool = False
    run_as_user: str = DEFAULT_RUN_AS_USER
    fetch: tuple[Fetch, ...] = ()
    uris: tuple[str, ...] = ()
    # (attribute, operator, value); value is "" where the operator takes none (UNIQUE, a bare CLUSTER or GROUP_BY)
    constraints: tuple[tuple[str, str, str], ...] = ()
    container: Container | None = None
    # Counters kept by the scheduler.
    success_count: int = 0
    error_count: int = 0
    last_success: datetime | None = None
    last_error: datetime | None = None
    errors_since_last_success: int = 0
    # Kept by the scheduler, not part of Chronos's JSON: every scheduled occurrence up to this instant has
    # been handled (run, missed or skipped), or the job did not exist or was paused then. Restarts resume here.
    scheduled_through: datetime | None = None
    # horae's own policies.
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.FORBID
    starting_deadline: timedelta | None = None  # Chronos 2.x `epsilon`
    catch_up: CatchUp = field(default_factory=CatchUp)
    retry_backoff: RetryBackoff = field(default_factory=RetryBackoff)
    timeout: timedelta | None = None  # Chronos `maxCompletionTime`
    disable_after_failures: int = 0  # 0: never disable
    jitter: timedelta = timedelta(0)  # a deterministic per-job delay in [0, jitter)

    @property
    def is_dependent(self) -> bool:
        return self.parents is not None

    @property
    def concurrent(self) -> bool:
        """Chronos's view of the concurrency policy."""
        return self.concurrency_policy is ConcurrencyPolicy.ALLOW


def applied_over(job: Job, stored: Job) -> Job:
    """`job`, as a job file defines it, applied over the `stored` job of the same name: the definition is the
    file's; the counters and scheduling cursor the server keeps stay, and an ISO schedule with an empty start
    (`R//PT1H`) matches the stored one whose start was pinned, so re-applying a file changes nothing. The
    server applies job files at start, and `horae job apply` updates a job, by this one rule."""
    schedule = job.schedule
    if schedule is not None and stored.schedule is not None:
        head, _, period = schedule.rpartition("/")
        empty_start = head.endswith("/") and head.count("/") == 1
        if empty_start and stored.schedule.startswith(head) and stored.schedule.endswith("/" + period):
            schedule = stored.schedule
    return replace(
        job,
        schedule=schedule,
        success_count=stored.success_count,
        error_count=stored.error_count,
        last_success=stored.last_success,
        last_error=stored.last_error,
        errors_since_last_success=stored.errors_since_last_success,
        scheduled_through=stored.scheduled_through,
    )
