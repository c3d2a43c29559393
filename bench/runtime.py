"""Dispatch latency and throughput of a no-op run: bare spawn, process runtime, and Docker warm/exec/fresh.

    python -m bench.runtime [--json] [--quick] [--runtime-level] | --soak N

Latency is measured through horae's full path, one run at a time: a real `Host` (scheduler, SQLite store
in a temp dir, group commit) is asked to trigger the job, and the clock stops when the runtime delivers
`RunStarted` (the run's process exists). The run record is committed before its launch, so every
sample includes a store commit. Each sample starts on a settled host (the previous run's end
committed), as a timer or an API call meets it; the back-to-back column triggers each run as the one
before ends, so it also waits behind the commit of that end. The bare case is `subprocess.Popen` of `/bin/true` returning (the
process exists): the physical limit. Throughput is sustained with 16 runs in flight through the same
host (trigger → finished). `--runtime-level` also measures the runtimes alone (`launch()` until
`RunStarted`), to show what the host adds. Prints a table and, as the last line, one JSON object.
`--soak N` runs only the soak: N warm runs through one container, reporting zombies, open files and
dockerd's memory before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.runtime.docker_images import BUSYBOX_IMAGE, engine_missing, ensure_images, remove_containers

from horae.model import (
    ConcurrencyPolicy,
    Container,
    ContainerMode,
    Job,
    Launch,
    RunEvent,
    RunFinished,
    RunLost,
    RunStarted,
)
from horae.runtime import DEFAULT_GRACE, DockerRuntime, ProcessRuntime, RunEventSink, Runtime
from horae.server import Host, Settings
from horae.store import SqlStore

IN_FLIGHT = 16
RUN_DIR_PARENT: str | None = None  # --run-dir-parent: where the runtimes' run directories go


class Sink:
    def __init__(self) -> None:
        self.ended: dict[str, asyncio.Future[RunEvent]] = {}

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, RunFinished | RunLost):
            future = self.ended.pop(event.run_id, None)
            if future is not None and not future.done():
                future.set_result(event)

    def expect(self, run_id: str) -> asyncio.Future[RunEvent]:
        future: asyncio.Future[RunEvent] = asyncio.get_running_loop().create_future()
        self.ended[run_id] = future
        return future


def _launch(job: str, i: int, mode: ContainerMode | None) -> Launch:
    container = None if mode is None else Container(image=BUSYBOX_IMAGE, network="NONE", mode=mode)
    return Launch(
        run_id=f"{job}:{i}",
        job=job,
        attempt=1,
        task_id="t",
        argv=("true",) if mode is not None else ("/bin/true",),
        environment=(("PATH", "/usr/bin:/bin"),),
        container=container,
    )


def _ms(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def bare(runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        process = subprocess.Popen(["/bin/true"])
        samples.append(time.perf_counter() - t)
        process.wait()
    return samples


async def latency(
    runtime: Runtime, sink: Sink, job: str, mode: ContainerMode | None, runs: int
) -> list[float]:
    samples = []
    for i in range(runs):
        launch = _launch(job, i, mode)
        ended = sink.expect(launch.run_id)
        t = time.perf_counter()
        await runtime.launch(launch)
        samples.append(time.perf_counter() - t)
        await ended
    return samples[min(5, runs // 10) :]  # the first runs create the container


async def throughput(
    runtime: Runtime,
    sink: Sink,
    job: str,
    mode: ContainerMode | None,
    runs: int,
    first: int = 0,
    *,
    warm_up: bool = True,
) -> float:
    """Runs/s of `runs` runs (numbered from `first`), 16 in flight; `warm_up`: after one untimed run,
    so the job's container exists before the clock starts."""
    counter = iter(range(first, first + runs))

    async def worker() -> None:
        for i in counter:
            launch = _launch(job, i, mode)
            ended = sink.expect(launch.run_id)
            await runtime.launch(launch)
            await ended

    if warm_up:
        await _one(runtime, sink, job, mode)
    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return runs / (time.perf_counter() - t)


async def _one(runtime: Runtime, sink: Sink, job: str, mode: ContainerMode | None) -> None:
    launch = _launch(job, -1, mode)  # the same job: its container is the one the runs use
    ended = sink.expect(launch.run_id)
    await runtime.launch(launch)
    await ended


async def with_runtime(
    factory: Callable[[Path], Runtime], body: Callable[[Runtime, Sink], Awaitable[Any]]
) -> Any:
    with tempfile.TemporaryDirectory(prefix="horae-bench-", dir=RUN_DIR_PARENT) as directory:
        runtime = factory(Path(directory) / "runs")
        sink = Sink()
        await runtime.start(sink)
        try:
            return await body(runtime, sink)
        finally:
            await runtime.close()
            if isinstance(runtime, DockerRuntime):
                await asyncio.to_thread(remove_containers, str(runtime.run_dir))


class Stamped(Runtime):
    """Passes everything to `inner`, noting when each run's `RunStarted` reached the host and
    resolving a future when its attempt ends."""

    name = "stamped"

    def __init__(self, inner: Runtime) -> None:
        self.inner = inner
        self.started: dict[str, float] = {}
        self.ended_futures: dict[str, asyncio.Future[None]] = {}

    def ended(self, run_id: str) -> asyncio.Future[None]:
        future = self.ended_futures.get(run_id)
        if future is None:
            future = self.ended_futures[run_id] = asyncio.get_running_loop().create_future()
        return future

    async def start(self, sink: RunEventSink) -> None:
        def stamp(event: RunEvent) -> None:
            if isinstance(event, RunStarted):
                self.started[event.run_id] = time.perf_counter()
            sink(event)
            if isinstance(event, RunFinished | RunLost):
                future = self.ended(event.run_id)
                if not future.done():
                    future.set_result(None)

        await self.inner.start(stamp)

    def prepare(self, launch: Launch) -> None:
        self.inner.prepare(launch)

    async def launch(self, launch: Launch) -> None:
        await self.inner.launch(launch)

    async def kill(self, run_id: str, *, grace: timedelta = DEFAULT_GRACE) -> None:
        await self.inner.kill(run_id, grace=grace)

    async def reconcile(self, open_runs: Sequence[tuple[str, int]]) -> None:
        await self.inner.reconcile(open_runs)

    async def close(self) -> None:
        await self.inner.close()

    def log_path(self, run_id: str, attempt: int) -> Path | None:
        return self.inner.log_path(run_id, attempt)


def _job(name: str, mode: ContainerMode | None) -> Job:
    container = None if mode is None else Container(image=BUSYBOX_IMAGE, network="NONE", mode=mode)
    return Job(
        name,
        command="true",
        schedule="R/2099-01-01T00:00:00.000Z/P1D",  # never due here: every run is triggered
        retries=0,
        concurrency_policy=ConcurrencyPolicy.ALLOW,
        container=container,
    )


async def _trigger(host: Host, runtime: Stamped, name: str) -> float:
    """Trigger one run of `name` and wait for its end; returns trigger → RunStarted in seconds."""
    t = time.perf_counter()
    run = await host.trigger(name)
    await runtime.ended(run.id)
    del runtime.ended_futures[run.id]
    started = runtime.started.pop(run.id, None)
    if started is None:
        raise RuntimeError(f"run {run.id} ended without starting: {host.get_run(run.id)}")
    return started - t


@contextlib.asynccontextmanager
async def _bench_host(factory: Callable[[Path], Runtime]) -> AsyncIterator[tuple[Host, Stamped, Runtime]]:
    """A real host on SQLite in a temp dir, over the runtime `factory` makes (wrapped to stamp starts);
    the containers it made are removed on the way out."""
    with tempfile.TemporaryDirectory(prefix="horae-bench-", dir=RUN_DIR_PARENT) as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = SqlStore(settings.store_url)
        inner = factory(settings.run_dir)
        runtime = Stamped(inner)
        host = Host(store, runtime, settings=settings)
        await host.start()
        try:
            yield host, runtime, inner
        finally:
            await host.stop()
            store.close()
            if isinstance(inner, DockerRuntime):
                await asyncio.to_thread(remove_containers, str(inner.run_dir))


async def _in_flight(host: Host, runtime: Stamped, name: str, total: int) -> None:
    """`total` runs of `name`, IN_FLIGHT at a time, each triggered as the one before it ends."""
    counter = iter(range(total))

    async def worker() -> None:
        for _ in counter:
            await _trigger(host, runtime, name)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


@dataclasses.dataclass
class FullPath:
    settled: list[float]  # trigger -> RunStarted, each on a settled host (seconds)
    back_to_back: list[float]  # the same, each triggered as the previous run ended
    rate: float  # runs/s, 16 in flight, trigger -> finished
    containers_created: int
    host_cpu_ms: float  # this process's CPU per run at 16 in flight (server, bench driver, all threads)
    runs_cpu_ms: float | None  # the runs' side per run: the job's container, or the reaped processes


def _cgroup_cpu_ns(container: str) -> int | None:
    """CPU the container's cgroup has used (cgroup v1 cpuacct or v2 cpu.stat), if it can be read here."""
    for path in (
        f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage",
        f"/sys/fs/cgroup/cpuacct/system.slice/docker-{container}.scope/cpuacct.usage",
    ):
        with contextlib.suppress(OSError, ValueError):
            return int(Path(path).read_text())
    for path in (
        f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat",
        f"/sys/fs/cgroup/docker/{container}/cpu.stat",
    ):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(path).read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) * 1000
    return None


def _runs_cpu_ns(inner: Runtime, job: str) -> int | None:
    if isinstance(inner, DockerRuntime):
        containers = [c for c, j in inner.containers().items() if j == job]
        return _cgroup_cpu_ns(containers[0]) if containers else None
    times = os.times()
    return int((times.children_user + times.children_system) * 1e9)


async def full_path(
    factory: Callable[[Path], Runtime], mode: ContainerMode | None, runs: int, total: int
) -> FullPath:
    """Through a real host on SQLite: the latency of `runs` triggers, each on a settled host (the
    previous run's records committed: a dispatch as a timer or an API call meets it), then of `runs`
    triggers back to back (each queued behind the commit of the previous run's end), then runs/s of
    `total` with 16 in flight and the CPU they cost on each side; also the containers the runtime
    created (0 for the process runtime)."""
    async with _bench_host(factory) as (host, runtime, inner):
        await host.save_job(_job("latency", mode))
        await host.save_job(_job("rate", mode))
        settled = []
        for _ in range(runs):
            await host.settle()
            settled.append(await _trigger(host, runtime, "latency"))
        back_to_back = [await _trigger(host, runtime, "latency") for _ in range(runs)]
        await _trigger(host, runtime, "rate")  # the job's container exists before the clock starts
        await host.settle()
        # A fresh run's container is gone by the time it could be read: its side is not measured.
        sided = mode is not ContainerMode.FRESH
        cpu, runs_cpu = os.times(), _runs_cpu_ns(inner, "rate") if sided else None
        t = time.perf_counter()
        await _in_flight(host, runtime, "rate", total)
        rate = total / (time.perf_counter() - t)
        await host.settle()
        after, runs_after = os.times(), _runs_cpu_ns(inner, "rate") if sided else None
        created = inner.containers_created if isinstance(inner, DockerRuntime) else 0
    skip = min(5, runs // 10)  # the first runs create the container
    host_cpu = (after.user + after.system - cpu.user - cpu.system) * 1000 / total
    runs_side = None if runs_cpu is None or runs_after is None else (runs_after - runs_cpu) / 1e6 / total
    return FullPath(settled[skip:], back_to_back, rate, created, host_cpu, runs_side)


async def containers_per_1000() -> int:
    """Containers created while 1,000 warm runs of one job go through the full path."""
    async with _bench_host(DockerRuntime) as (host, runtime, inner):
        await host.save_job(_job("thousand", ContainerMode.WARM))
        await _in_flight(host, runtime, "thousand", 1000)
        assert isinstance(inner, DockerRuntime)
        return inner.containers_created


def _docker(run_dir: Path) -> DockerRuntime:
    return DockerRuntime(run_dir)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _zombies() -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
                    count += 1
            except (OSError, IndexError):
                pass
    return count


def _dockerd_pid() -> int:
    return int(Path("/var/run/docker.pid").read_text())


def _launcher_pid(container: str) -> int:
    """The container's launcher: the child of Docker's init (the container's first process)."""
    inspect = ["docker", "inspect", "-f", "{{.State.Pid}}", container]
    init = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
    return int(Path(f"/proc/{init}/task/{init}/children").read_text().split()[0])


def _sample(launcher: int) -> dict[str, int]:
    return {
        "zombies": _zombies(),
        "fds": len(os.listdir("/proc/self/fd")),
        "horae_kb": _rss_kb(os.getpid()),
        "launcher_kb": _rss_kb(launcher),
        "dockerd_kb": _rss_kb(_dockerd_pid()),
    }


async def soak(runs: int, seconds: float) -> dict[str, Any]:
    """`runs` warm runs of one job in chunks of 10,000 (fewer if `seconds` run out first), sampling
    zombies (host-wide), this process's open files and memory, the container launcher's memory and
    dockerd's memory after each chunk."""

    async def body(runtime: Runtime, sink: Sink) -> dict[str, Any]:
        assert isinstance(runtime, DockerRuntime)
        await _one(runtime, sink, "soak", ContainerMode.WARM)
        (container,) = runtime.containers()
        launcher = _launcher_pid(container)
        samples = [{"runs": 0, **_sample(launcher)}]
        print(f"soak: {json.dumps(samples[0])}", flush=True)
        deadline = time.monotonic() + seconds
        done, rates = 0, []
        while done < runs and time.monotonic() < deadline:
            chunk = min(10_000, runs - done)
            rates.append(
                await throughput(runtime, sink, "soak", ContainerMode.WARM, chunk, done + 1, warm_up=False)
            )
            done += chunk
            await asyncio.sleep(0.5)  # let the last runs' processes be reaped before counting zombies
            samples.append({"runs": done, **_sample(launcher)})
            print(f"soak: {json.dumps(samples[-1])} at {rates[-1]:.0f} runs/s", flush=True)
        return {
            "runs": done,
            "runs_per_s_median": round(statistics.median(rates)),
            "containers_created": runtime.containers_created,
            "samples": samples,
        }

    result: dict[str, Any] = await with_runtime(_docker, body)
    return result


PLAN: dict[ContainerMode | None, tuple[int, int]] = {  # (sequential runs, runs at 16 in flight)
    None: (500, 2000),
    ContainerMode.WARM: (500, 4000),
    ContainerMode.EXEC: (100, 300),
    ContainerMode.FRESH: (25, 48),
}


def _case(mode: ContainerMode | None) -> str:
    return "process" if mode is None else mode.value


def _process(run_dir: Path) -> Runtime:
    return ProcessRuntime(run_dir)


async def runtime_level() -> dict[str, tuple[list[float], float]]:
    """The runtimes alone: `launch()` until `RunStarted`, and launch → finished at 16 in flight."""
    rows: dict[str, tuple[list[float], float]] = {}
    for mode, (seq, total) in PLAN.items():

        async def body(
            runtime: Runtime,
            sink: Sink,
            mode: ContainerMode | None = mode,
            seq: int = seq,
            total: int = total,
        ) -> tuple[list[float], float]:
            samples = await latency(runtime, sink, _case(mode), mode, seq)
            return samples, await throughput(runtime, sink, f"{_case(mode)}-t", mode, total)

        rows[_case(mode)] = await with_runtime(_process if mode is None else _docker, body)
    return rows


Row = tuple[list[float], float | None, list[float] | None]  # latency samples, runs/s, back-to-back samples


def _table(title: str, rows: dict[str, Row], into: dict[str, Any]) -> None:
    print(title)
    print(f"  {'case':<8} {'p50 ms':>8} {'p99 ms':>8} {'back-to-back p50':>17} {'runs/s (16 in flight)':>22}")
    for name, (samples, rate, back_to_back) in rows.items():
        p50, p99 = _ms(samples)
        into[f"{name}_p50_ms"] = round(p50, 3)
        into[f"{name}_p99_ms"] = round(p99, 3)
        b2b = ""
        if back_to_back:
            into[f"{name}_back_to_back_p50_ms"] = round(_ms(back_to_back)[0], 3)
            b2b = f"{_ms(back_to_back)[0]:.3f}"
        if rate is not None:
            into[f"{name}_runs_per_s"] = round(rate, 1)
        print(f"  {name:<8} {p50:>8.3f} {p99:>8.3f} {b2b:>17} {'' if rate is None else f'{rate:.1f}':>22}")


def _cpu_table(cpu: dict[str, tuple[float, float | None]], into: dict[str, Any]) -> None:
    """CPU per run at 16 in flight: horae's process, and the runs' side (the container's cgroup, or the
    reaped supervisors and commands); with os.cpu_count() cores, their sum bounds the runs/s."""
    cores = os.cpu_count() or 1
    print(f"CPU per run at {IN_FLIGHT} in flight (ms): the ceiling is {cores} cores / (horae + runs)")
    print(f"  {'case':<8} {'horae':>8} {'runs':>8} {'ceiling runs/s':>15}")
    for name, (host, runs) in cpu.items():
        into[f"{name}_host_cpu_ms_per_run"] = round(host, 3)
        ceiling = ""
        if runs is not None:
            into[f"{name}_runs_cpu_ms_per_run"] = round(runs, 3)
            ceiling = f"{cores * 1000 / (host + runs):.0f}"
        print(f"  {name:<8} {host:>8.3f} {'' if runs is None else f'{runs:.3f}':>8} {ceiling:>15}")


def _goals(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    warm = result["warm_p50_ms"]
    result["warm_vs_bare"] = round(warm / result["bare_p50_ms"], 2)
    result["exec_vs_warm"] = round(result["exec_p50_ms"] / warm, 1)
    result["fresh_vs_warm"] = round(result["fresh_p50_ms"] / warm, 1)
    created = result["containers_created_per_1000_warm_runs"]
    return [
        (f"warm p50 {warm:.3f} ms", "<= 2 ms", warm <= 2),
        (f"warm/bare {result['warm_vs_bare']}x", "<= 3x", result["warm_vs_bare"] <= 3),
        (f"exec/warm {result['exec_vs_warm']}x", ">= 20x", result["exec_vs_warm"] >= 20),
        (f"fresh/warm {result['fresh_vs_warm']}x", ">= 50x", result["fresh_vs_warm"] >= 50),
        (f"warm {result['warm_runs_per_s']:.0f} runs/s", ">= 1000/s", result["warm_runs_per_s"] >= 1000),
        (f"{created} container(s) per 1,000 warm runs", "== 1", created == 1),
    ]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "path": "full: Host.trigger (scheduler, SQLite commit) until the runtime's RunStarted",
        "run_dir_parent": RUN_DIR_PARENT or tempfile.gettempdir(),
        "cpus": os.cpu_count(),
    }
    if args.soak:  # the soak alone: its own run, its own JSON line
        result["soak"] = await soak(args.soak, args.soak_seconds)
        return result
    scale = 10 if args.quick else 1
    rows: dict[str, Row] = {"bare": (bare(500), None, None)}
    cpu: dict[str, tuple[float, float | None]] = {}
    for mode, (seq, total) in PLAN.items():
        factory = _process if mode is None else _docker
        path = await full_path(factory, mode, max(10, seq // scale), max(16, total // scale))
        rows[_case(mode)] = (path.settled, path.rate, path.back_to_back)
        cpu[_case(mode)] = (path.host_cpu_ms, path.runs_cpu_ms)
    result["containers_created_per_1000_warm_runs"] = await containers_per_1000()
    _table("full path (trigger -> RunStarted; p50/p99 on a settled host)", rows, result)
    for figure, goal, met in _goals(result):
        print(f"  {figure:<40} goal {goal:<10} {'met' if met else 'MISSED'}")
    _cpu_table(cpu, result)
    if args.runtime_level:
        level: dict[str, Any] = {}
        alone = await runtime_level()
        _table("runtime level (launch() -> RunStarted)", {k: (*v, None) for k, v in alone.items()}, level)
        result["runtime_level"] = level
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the runs (a smoke test)")
    parser.add_argument(
        "--runtime-level",
        action="store_true",
        help="also measure the runtimes alone (launch() -> RunStarted)",
    )
    parser.add_argument(
        "--soak", type=int, default=0, metavar="N", help="run only the soak: N warm runs in one container"
    )
    parser.add_argument(
        "--soak-seconds", type=float, default=1200, help="stop the soak after the chunk running then"
    )
    parser.add_argument("--run-dir-parent", help="directory for the run directories (default: the temp dir)")
    args = parser.parse_args()
    global RUN_DIR_PARENT
    RUN_DIR_PARENT = args.run_dir_parent
    reason = engine_missing()
    if reason is not None:
        raise SystemExit(f"bench.runtime needs Docker: {reason}")
    ensure_images()
    print(json.dumps(asyncio.run(main(args))))


if __name__ == "__main__":
    cli()
