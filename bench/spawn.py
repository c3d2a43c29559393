"""Spawn cost: a bare `subprocess.Popen(["/bin/true"]).wait()` loop beside ProcessRuntime launch→finished.

    python -m bench.spawn [--runs 500] [--in-flight 16] [--run-dir DIR]

Prints a table, the ratio to bare, and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

from horae.model import Launch, RunEvent, RunFinished, RunLost
from horae.runtime import ProcessRuntime

TRUE = "/bin/true"
_CPU: dict[str, float] = {}  # the calling process's own CPU ms per run, in the throughput phase


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def bare_latency(runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.Popen([TRUE]).wait()
        samples.append(time.perf_counter() - t)
    return samples


def bare_throughput(runs: int, in_flight: int) -> float:
    t = time.perf_counter()
    cpu = time.process_time()
    pending: deque[subprocess.Popen[bytes]] = deque()
    for _ in range(runs):
        if len(pending) >= in_flight:
            pending.popleft().wait()
        pending.append(subprocess.Popen([TRUE]))
    while pending:
        pending.popleft().wait()
    _CPU["bare"] = (time.process_time() - cpu) / runs * 1000
    return runs / (time.perf_counter() - t)


class _Runs:
    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[RunEvent]] = {}

    def sink(self, event: RunEvent) -> None:
        if isinstance(event, RunFinished | RunLost):
            self.waiting.pop(event.run_id).set_result(event)

    async def run(self, runtime: ProcessRuntime, run_id: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting[run_id] = done
        await runtime.launch(Launch(run_id, "bench", 1, run_id, (TRUE,), (("PATH", "/usr/bin:/bin"),)))
        event = await done
        assert isinstance(event, RunFinished) and event.succeeded, event


async def runtime_numbers(run_dir: Path, runs: int, in_flight: int) -> tuple[list[float], float]:
    runs_ = _Runs()
    runtime = ProcessRuntime(run_dir)
    await runtime.start(runs_.sink)
    try:
        samples = []
        for i in range(runs):
            t = time.perf_counter()
            await runs_.run(runtime, f"bench:{i}")
            samples.append(time.perf_counter() - t)
        gate = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with gate:
                await runs_.run(runtime, f"bench:{runs + i}")

        t = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(one(i) for i in range(runs)))
        _CPU["runtime"] = (time.process_time() - cpu) / runs * 1000
        return samples, runs / (time.perf_counter() - t)
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="parent of the runs' files (default: $TMPDIR)"
    )
    args = parser.parse_args()

    bare_latency(20)  # warm the page cache and the allocator
    bare_p50, bare_p99 = _percentiles(bare_latency(args.runs))
    bare_rate = bare_throughput(args.runs, args.in_flight)
    with tempfile.TemporaryDirectory(prefix="horae-bench-", dir=args.run_dir) as tmp:
        samples, rate = asyncio.run(runtime_numbers(Path(tmp), args.runs, args.in_flight))
    p50, p99 = _percentiles(samples)

    flight = f"runs/s ({args.in_flight} in flight)"
    cpu_bare, cpu = _CPU["bare"], _CPU["runtime"]
    print(f"{'':24} {'p50 ms':>8} {'p99 ms':>8} {flight:>24} {'own CPU ms/run':>15}")
    print(f"{'bare Popen(/bin/true)':24} {bare_p50:8.3f} {bare_p99:8.3f} {bare_rate:24.0f} {cpu_bare:15.3f}")
    print(f"{'ProcessRuntime':24} {p50:8.3f} {p99:8.3f} {rate:24.0f} {cpu:15.3f}")
    ratio = (p50 / bare_p50, p99 / bare_p99, bare_rate / rate, cpu / cpu_bare)
    print(f"{'ratio (runtime / bare)':24} {ratio[0]:8.2f} {ratio[1]:8.2f} {ratio[2]:24.2f} {ratio[3]:15.2f}")
    print(
        json.dumps(
            {
                "bench": "spawn",
                "runs": args.runs,
                "in_flight": args.in_flight,
                "run_dir": tempfile.gettempdir() if args.run_dir is None else str(args.run_dir),
                "bare": {
                    "p50_ms": round(bare_p50, 3),
                    "p99_ms": round(bare_p99, 3),
                    "runs_per_s": round(bare_rate),
                    "cpu_ms_per_run": round(cpu_bare, 3),
                },
                "process_runtime": {
                    "p50_ms": round(p50, 3),
                    "p99_ms": round(p99, 3),
                    "runs_per_s": round(rate),
                    "cpu_ms_per_run": round(cpu, 3),
                },
                "ratio": {
                    "p50": round(p50 / bare_p50, 2),
                    "p99": round(p99 / bare_p99, 2),
                    "throughput": round(bare_rate / rate, 2),
                    "cpu": round(cpu / cpu_bare, 2),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
