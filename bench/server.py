"""The server end to end: `python -m bench.server [--quick] [--profile]`.

Everything real: SQLite in a temp dir (every run record committed before its launch), the process runtime
(each run is `true` under the runtime's supervisor), the scheduler's own timers. Measures
1. dispatch lateness (scheduled instant -> process started) below saturation;
2. sustained runs/s across 100 jobs, beside a bare `subprocess` spawn loop measured in the same run;
3. with 10,000 jobs stored, the p99 of `GET /v1/scheduler/jobs` (per 100 jobs) and of a native page of
   100 (`GET /api/v1/jobs?limit=100`) from a real server process over HTTP.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from horae.model import CatchUp, CatchUpMode, ConcurrencyPolicy, Job, Launch, from_epoch_ms
from horae.runtime import ProcessRuntime
from horae.server import Host, Settings
from horae.store import PutJob, SqlStore

GOALS = {"lateness_p50_ms": 2.0, "lateness_p99_ms": 10.0, "runs_per_s": 1000.0, "api_p99_ms": 20.0}


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class TimedProcessRuntime(ProcessRuntime):
    """Notes when each launch returned, i.e. when its process was started."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.started: dict[tuple[str, int], datetime] = {}

    async def launch(self, launch: Launch) -> None:
        await super().launch(launch)
        self.started[(launch.run_id, launch.attempt)] = datetime.now(UTC)


def iso_job(name: str, period_ms: int, offset_ms: int) -> Job:
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(milliseconds=offset_ms)
    return Job(
        name,
        command="true",
        schedule=f"R/{start.strftime('%Y-%m-%dT%H:%M:%S')}.{offset_ms % 1000:03d}Z/PT{period_ms / 1000:g}S",
        retries=0,
        concurrency_policy=ConcurrencyPolicy.ALLOW,
        catch_up=CatchUp(CatchUpMode.LATEST),
    )


async def run_jobs(jobs: list[Job], seconds: float, warmup: float, profile: bool) -> dict[str, Any]:
    """Run `jobs` for `seconds` on a real host; statistics of the attempts scheduled after `warmup`."""
    with tempfile.TemporaryDirectory(prefix="horae-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = SqlStore(settings.store_url)
        runtime = TimedProcessRuntime(settings.run_dir)
        host = Host(store, runtime, settings=settings)
        await host.start()
        for job in jobs:
            await host.save_job(job)
        begin = datetime.now(UTC)
        cpu0, commits0 = time.process_time(), host.commits
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        await asyncio.sleep(seconds)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu0
        commits = host.commits - commits0
        registry = host.metrics.registry
        commit_s = registry.get_sample_value("horae_store_commit_seconds_sum") or 0.0
        commit_n = registry.get_sample_value("horae_store_commit_seconds_count") or 1.0
        for job in jobs:
            await host.set_paused(job.name, True)
        await host.settle()
        for _ in range(300):  # up to 30 s for the last runs to end
            if not host.scheduler.open_runs():
                break
            await asyncio.sleep(0.1)
        window_start = begin + timedelta(seconds=warmup)
        window_end = begin + timedelta(seconds=seconds)
        lateness: list[float] = []
        started_in_window = 0  # the sustained rate counts starts, not runs that were due, however late
        for (run_id, attempt), started in runtime.started.items():
            scheduled = from_epoch_ms(int(run_id.rsplit(":", 1)[1]))
            if attempt == 0 and window_start <= scheduled < window_end:
                lateness.append((started - scheduled).total_seconds() * 1000)
            if window_start <= started < window_end:
                started_in_window += 1
        states: dict[str, int] = {}
        for job in jobs:
            page = host.list_runs(job.name, limit=1000)
            for run in page.runs:
                if window_start <= run.scheduled_for < window_end:
                    states[run.state.value] = states.get(run.state.value, 0) + 1
        await host.stop()
        store.close()
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(20)
    span = seconds - warmup
    return {
        "launched": len(lateness),
        "runs_per_s": started_in_window / span,
        "lateness_p50_ms": statistics.median(lateness) if lateness else float("nan"),
        "lateness_p99_ms": quantile(lateness, 0.99),
        "lateness_max_ms": max(lateness, default=float("nan")),
        "states": states,
        "cpu_s_per_s": cpu / seconds,
        "commits_per_s": commits / seconds,
        "commit_mean_ms": commit_s / commit_n * 1000,
    }


def bare_spawn(seconds: float, in_flight: int = 16) -> dict[str, float]:
    """The floor: `subprocess.Popen(["true"])` as fast as possible, `in_flight` children at a time."""
    deadline = time.monotonic() + seconds
    running: list[subprocess.Popen[bytes]] = []
    done = 0
    latencies: list[float] = []
    start = time.monotonic()
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        running.append(subprocess.Popen(["true"]))
        latencies.append((time.perf_counter() - t0) * 1000)
        if len(running) >= in_flight:
            running.pop(0).wait()
            done += 1
    for p in running:
        p.wait()
        done += 1
    elapsed = time.monotonic() - start
    return {"runs_per_s": done / elapsed, "spawn_p50_ms": statistics.median(latencies)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_api(job_count: int, requests: int) -> dict[str, float] | str:
    try:
        from horae.api import create_app  # noqa: F401
    except ImportError:
        return "skipped: horae.api.create_app is not available yet"
    import httpx

    with tempfile.TemporaryDirectory(prefix="horae-bench-api-") as tmp:
        data = Path(tmp)
        store = SqlStore(f"sqlite:///{data / 'horae.db'}")
        jobs = [
            PutJob(
                Job(
                    f"job-{i:05d}",
                    command=f"echo job {i}",
                    schedule="R/2099-01-01T00:00:00.000Z/P1D",
                    owner="bench@example.com",
                    description="a job that never comes due during the benchmark",
                )
            )
            for i in range(job_count)
        ]
        for i in range(0, len(jobs), 1000):
            store.apply(jobs[i : i + 1000])
        store.close()
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "horae.server",
            "--data-dir",
            tmp,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        server = subprocess.Popen(cmd)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if client.get("/ping").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        return "skipped: the server did not start"
                    time.sleep(0.1)

                def timed(path: str, n: int) -> list[float]:
                    times = []
                    for _ in range(n):
                        t0 = time.perf_counter()
                        reply = client.get(path)
                        times.append((time.perf_counter() - t0) * 1000)
                        reply.raise_for_status()
                    return times

                full = timed("/v1/scheduler/jobs", max(10, requests // 10))
                assert len(client.get("/v1/scheduler/jobs").json()) == job_count
                pages = []
                for i in range(requests):
                    after = f"job-{(i * 7919) % job_count:05d}"
                    pages.extend(timed(f"/api/v1/jobs?limit=100&after={after}", 1))
                first = timed("/api/v1/jobs?limit=100", max(10, requests // 10))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    per100 = [t * 100 / job_count for t in full]
    return {
        "jobs": job_count,
        "chronos_all_p50_ms": statistics.median(full),
        "chronos_all_p99_ms": quantile(full, 0.99),
        "chronos_per_100_p99_ms": quantile(per100, 0.99),
        "native_page_p50_ms": statistics.median(pages + first),
        "native_page_p99_ms": quantile(pages + first, 0.99),
    }


def verdict(value: float, goal: float, *, higher_is_better: bool = False) -> str:
    ok = value >= goal if higher_is_better else value <= goal
    if ok:
        return "met"
    ratio = goal / value if higher_is_better else value / goal
    return f"MISSED by {ratio:.1f}x"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    parser.add_argument("--profile", action="store_true", help="cProfile the sustained-throughput run")
    args = parser.parse_args(argv)
    seconds = 4.0 if args.quick else 10.0
    results: dict[str, Any] = {"cpus": os.cpu_count()}

    # 1. Below saturation: 20 jobs every second, spread 50 ms apart (20 runs/s).
    below = [iso_job(f"late-{k:02d}", 1000, 50 * k) for k in range(20)]
    results["lateness"] = asyncio.run(run_jobs(below, seconds, 2.0, False))
    # 2. Sustained: 100 jobs offering 1,000 and then 2,000 runs/s.
    for rate, period in ((1000, 100), (2000, 50)):
        jobs = [iso_job(f"tp-{k:03d}", period, (k * period) // 100) for k in range(100)]
        results[f"offered_{rate}"] = asyncio.run(run_jobs(jobs, seconds, 2.0, args.profile and rate == 2000))
    results["bare_spawn"] = bare_spawn(seconds / 2)
    results["api"] = bench_api(10_000, 100 if args.quick else 300)

    late = results["lateness"]
    sustained = max(results["offered_1000"]["runs_per_s"], results["offered_2000"]["runs_per_s"])
    bare = results["bare_spawn"]["runs_per_s"]
    rows = [
        (
            "dispatch lateness p50 (20 runs/s)",
            f"{late['lateness_p50_ms']:.2f} ms",
            "≤ 2 ms",
            verdict(late["lateness_p50_ms"], GOALS["lateness_p50_ms"]),
        ),
        (
            "dispatch lateness p99 (20 runs/s)",
            f"{late['lateness_p99_ms']:.2f} ms",
            "≤ 10 ms",
            verdict(late["lateness_p99_ms"], GOALS["lateness_p99_ms"]),
        ),
    ]
    for rate in (1000, 2000):
        r = results[f"offered_{rate}"]
        rows.append(
            (
                f"runs/s, 100 jobs, {rate}/s offered",
                f"{r['runs_per_s']:.0f}/s",
                "≥ 1000/s",
                verdict(r["runs_per_s"], GOALS["runs_per_s"], higher_is_better=True),
            )
        )
        rows.append(
            (
                f"  lateness p50 / p99 at {rate}/s",
                f"{r['lateness_p50_ms']:.1f} / {r['lateness_p99_ms']:.1f} ms",
                "",
                f"cpu {r['cpu_s_per_s']:.2f} s/s, {r['commits_per_s']:.0f} commits/s of {r['commit_mean_ms']:.1f} ms",
            )
        )
        rows.append((f"  outcomes at {rate}/s", json.dumps(r["states"]), "", ""))
    rows.append(("bare subprocess.Popen(['true']) loop", f"{bare:.0f}/s", "", ""))
    rows.append(
        (
            "horae sustained vs bare spawn",
            f"{bare / sustained:.2f}x slower",
            "within 2x",
            "met" if bare / sustained <= 2 else f"MISSED by {bare / sustained / 2:.1f}x",
        )
    )
    api = results["api"]
    if isinstance(api, dict):
        rows.append(
            (
                "GET /v1/scheduler/jobs, 10k jobs, p50 / p99",
                f"{api['chronos_all_p50_ms']:.0f} / {api['chronos_all_p99_ms']:.0f} ms",
                "",
                "",
            )
        )
        rows.append(
            (
                "  per 100 jobs, p99",
                f"{api['chronos_per_100_p99_ms']:.2f} ms",
                "≤ 20 ms",
                verdict(api["chronos_per_100_p99_ms"], GOALS["api_p99_ms"]),
            )
        )
        rows.append(
            (
                "GET /api/v1/jobs?limit=100, p50 / p99",
                f"{api['native_page_p50_ms']:.1f} / {api['native_page_p99_ms']:.1f} ms",
                "≤ 20 ms",
                verdict(api["native_page_p99_ms"], GOALS["api_p99_ms"]),
            )
        )
    else:
        rows.append(("API with 10,000 jobs", api, "", ""))
    width = [max(len(str(r[i])) for r in rows) for i in range(4)]
    header = ("measure", "horae", "goal", "verdict")
    width = [max(w, len(h)) for w, h in zip(width, header, strict=True)]
    for row in (header, tuple("-" * w for w in width), *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, width, strict=True)).rstrip())
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
