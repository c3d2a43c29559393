"""Dispatch latency and throughput of a no-op run: bare spawn, process runtime, and Docker warm/exec/fresh.

    python -m bench.runtime [--json] [--soak N]

Latency is measured through the runtime (`launch()` until `RunStarted` is delivered: the run's
supervisor process exists), one run at a time; the bare case is `subprocess.Popen` of `/bin/true`
returning (the process exists). Throughput is sustained with 16 runs in flight (launch → finished).
Prints a table and, as the last line, one JSON object. `--soak N` runs N warm runs through one
container and reports zombies, open files and dockerd's memory before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.runtime.docker_images import BUSYBOX_IMAGE, engine_missing, ensure_images, remove_containers

from horae.model import Container, ContainerMode, Launch, RunEvent, RunFinished, RunLost
from horae.runtime import DockerRuntime, ProcessRuntime, Runtime

IN_FLIGHT = 16
RUN_DIR_PARENT: str | None = None  # --run-dir-parent: where the runtimes' run directories go


class Sink:
    def __init__(self) -> None:
        self.ended: dict[str, asyncio.Future[RunEvent]] = {}

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, RunFinished | RunLost):
            future = self.ended.get(event.run_id)
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


async def throughput(runtime: Runtime, sink: Sink, job: str, mode: ContainerMode | None, runs: int) -> float:
    counter = iter(range(runs))

    async def worker() -> None:
        for i in counter:
            launch = _launch(job, i, mode)
            ended = sink.expect(launch.run_id)
            await runtime.launch(launch)
            await ended

    await _one(runtime, sink, job, mode)  # warm up: the container exists before the clock starts
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


async def soak(runs: int) -> dict[str, Any]:
    async def body(runtime: Runtime, sink: Sink) -> dict[str, Any]:
        await _one(runtime, sink, "soak", ContainerMode.WARM)
        assert isinstance(runtime, DockerRuntime)
        before = {
            "zombies": _zombies(),
            "fds": len(os.listdir("/proc/self/fd")),
            "dockerd_kb": _rss_kb(_dockerd_pid()),
        }
        rate = await throughput(runtime, sink, "soak", ContainerMode.WARM, runs)
        await asyncio.sleep(1)
        after = {
            "zombies": _zombies(),
            "fds": len(os.listdir("/proc/self/fd")),
            "dockerd_kb": _rss_kb(_dockerd_pid()),
        }
        return {
            "runs": runs,
            "runs_per_s": round(rate),
            "before": before,
            "after": after,
            "containers_created": runtime.containers_created,
        }

    result: dict[str, Any] = await with_runtime(_docker, body)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "path": "runtime (launch() until RunStarted), not the full server path",
        "run_dir_parent": RUN_DIR_PARENT or tempfile.gettempdir(),
    }
    rows: list[tuple[str, list[float], float | None]] = []
    rows.append(("bare", bare(500), None))

    def process(run_dir: Path) -> Runtime:
        return ProcessRuntime(run_dir)

    async def process_body(runtime: Runtime, sink: Sink) -> tuple[list[float], float]:
        return await latency(runtime, sink, "p", None, 500), await throughput(runtime, sink, "pt", None, 2000)

    samples, rate = await with_runtime(process, process_body)
    rows.append(("process", samples, rate))
    plan = {ContainerMode.WARM: (500, 4000), ContainerMode.EXEC: (100, 300), ContainerMode.FRESH: (25, 48)}
    for mode, (seq, total) in plan.items():

        async def docker_body(
            runtime: Runtime, sink: Sink, mode: ContainerMode = mode, seq: int = seq, total: int = total
        ) -> tuple[list[float], float]:
            samples = await latency(runtime, sink, f"{mode.value}", mode, seq)
            return samples, await throughput(runtime, sink, f"{mode.value}-t", mode, total)

        samples, rate = await with_runtime(_docker, docker_body)
        rows.append((mode.value, samples, rate))

    async def thousand(runtime: Runtime, sink: Sink) -> int:
        await throughput(runtime, sink, "thousand", ContainerMode.WARM, 1000)
        assert isinstance(runtime, DockerRuntime)
        return runtime.containers_created

    result["containers_created_per_1000_warm_runs"] = await with_runtime(_docker, thousand)
    print(f"{'case':<8} {'p50 ms':>8} {'p99 ms':>8} {'runs/s (16 in flight)':>22}")
    for name, samples, rate in rows:
        p50, p99 = _ms(samples)
        result[f"{name}_p50_ms"] = round(p50, 3)
        result[f"{name}_p99_ms"] = round(p99, 3)
        if rate is not None:
            result[f"{name}_runs_per_s"] = round(rate, 1)
        print(f"{name:<8} {p50:>8.3f} {p99:>8.3f} {'' if rate is None else f'{rate:.1f}':>22}")
    warm = result["warm_p50_ms"]
    result["warm_vs_bare"] = round(warm / result["bare_p50_ms"], 2)
    result["exec_vs_warm"] = round(result["exec_p50_ms"] / warm, 1)
    result["fresh_vs_warm"] = round(result["fresh_p50_ms"] / warm, 1)
    print(
        f"warm is {result['warm_vs_bare']}x bare; exec is {result['exec_vs_warm']}x warm, fresh "
        f"{result['fresh_vs_warm']}x; {result['containers_created_per_1000_warm_runs']} container(s) per 1,000 warm runs"
    )
    if args.soak:
        result["soak"] = await soak(args.soak)
        print(f"soak: {json.dumps(result['soak'])}")
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    parser.add_argument(
        "--soak", type=int, default=0, metavar="N", help="also run N warm runs in one container"
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
