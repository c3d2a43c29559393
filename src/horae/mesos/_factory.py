"""`build_runtime`: a `MesosRuntime` from the settings `horae serve --mesos` takes, checked up front so a
bad flag fails at start with a message naming it, not later inside the event loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from horae.mesos._calls import ONE_WEEK, FrameworkConfig
from horae.mesos._offers import Constraint
from horae.mesos._runtime import DEFAULT_OPTIONS, MesosOptions, MesosRuntime
from horae.mesos._state import StoredState
from horae.mesos._tasks import ExecutorSpec
from horae.mesos._zookeeper import ZooKeeperDetector
from horae.store import Store

STATE_FILE = "mesos-framework.json"


class MesosSettingsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_masters(url: str) -> list[str]:
    """`http://m1:5050,m2:5050` (or `m1:5050,…`) → base URLs; a scheme given once applies to the rest."""
    scheme = "http"
    masters = []
    for part in (p.strip() for p in url.split(",")):
        if not part:
            continue
        if "://" in part:
            scheme = urlsplit(part).scheme
        else:
            part = f"{scheme}://{part}"
        parsed = urlsplit(part)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise MesosSettingsError("mesos", f"{part!r} is not an http(s)://host:port master address")
        masters.append(f"{parsed.scheme}://{parsed.netloc}")
    if not masters:
        raise MesosSettingsError("mesos", "no master given")
    return masters


def build_runtime(
    mesos: str,
    *,
    state_dir: Path,
    role: str = "*",
    principal: str = "",
    secret: str = "",
    framework_name: str = "horae",
    failover_timeout: timedelta = ONE_WEEK,
    user: str = "root",
    hostname: str = "",
    webui_url: str = "",
    executor: ExecutorSpec | None = None,
    constraints: Callable[[str], Sequence[Constraint]] = lambda job: (),
    options: MesosOptions = DEFAULT_OPTIONS,
    store: Callable[[], Store] | None = None,
) -> MesosRuntime:
    """The runtime `horae serve --mesos URL` runs on; URL is `http://m1:5050[,m2:5050…]` or
    `zk://host:2181[,…]/mesos` (the leader is looked up in ZooKeeper at every subscription).

    The framework id and the tasks in flight are kept in the store `store()` returns when the runtime
    starts (so it may be opened after the settings were checked), taking over a
    `<state_dir>/mesos-framework.json` left from before; without `store`, in that file.
    `constraints(job)` returns the job's Chronos constraints."""
    detector = None
    if mesos.startswith("zk://"):
        try:
            detector = ZooKeeperDetector(mesos)
        except ValueError as e:
            raise MesosSettingsError("mesos", str(e)) from None
        masters: list[str] = []
    else:
        masters = parse_masters(mesos)
    if secret and not principal:
        raise MesosSettingsError("mesos-secret", "a secret needs --mesos-principal")
    if not role:
        raise MesosSettingsError("mesos-role", "must not be empty ('*' is the default role)")
    if not framework_name:
        raise MesosSettingsError("framework-name", "must not be empty")
    if failover_timeout <= timedelta(0):
        raise MesosSettingsError(
            "failover-timeout", "must be positive: zero kills every task when horae disconnects"
        )
    framework = FrameworkConfig(
        user=user,
        name=framework_name,
        roles=(role,),
        principal=principal,
        hostname=hostname,
        webui_url=webui_url,
        failover_timeout=failover_timeout,
    )
    return MesosRuntime(
        masters,
        framework,
        StoredState(store, earlier=state_dir / STATE_FILE) if store is not None else state_dir / STATE_FILE,
        executor=executor or ExecutorSpec(),
        constraints=constraints,
        options=options,
        credentials=(principal, secret) if secret else None,
        detector=detector,
    )
