"""Benchmark of the scheduler core: `python -m bench.core [--jobs N] [--repeat R] [--hours H]`.

On one machine, for 100,000 jobs with a realistic mix of schedules (parsing is cached per distinct
expression, so a distinct expression is parsed once per run):
- the time to load them and compute their next firings, by `StateRestored` and by one `JobSaved` each;
- the median and p99 cost of one decision over a realistic event mix (timer firings, `RunStarted`,
  `RunFinished`), driving the scheduler through simulated hours;
- the memory the scheduler holds for them (tracemalloc, after loading; the input jobs not counted).

Each figure is the median over `--repeat` runs (the machine is shared and noisy). Prints a table with
each figure beside its goal, then one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from horae.core import JobSaved, LaunchRun, Scheduler, StateRestored
from horae.model import ConcurrencyPolicy, ExitKind, Job, RunFinished, RunStarted
from horae.schedule import _parse

NOW = datetime(2030, 3, 9, 12, tzinfo=UTC)
ZONES = ("Europe/Paris", "America/New_York", "Australia/Sydney", "UTC", "")
CRONS = (
    "0 0 * * *",
    "30 2 * * *",
    "15 */6 * * *",
    "0 9 * * 1-5",
    "@hourly",
    "@daily",
    "*/15 * * * *",
    "*/5 * * * *",
    "0 */30 * * * *",
    "45 59 1 * * *",
    "5 4 * * 0",
    "0 0,12 * * *",
)
PERIODS = ("P1D", "PT1H", "PT6H", "PT10M", "PT45M", "P1W")


def make_jobs(count: int, seed: int = 1) -> list[Job]:
    """A realistic variety: cron in four zones with a spread of minutes, ISO with many distinct starts."""
    rng = random.Random(seed)
    jobs = []
    for i in range(count):
        tz = rng.choice(ZONES)
        if rng.random() < 0.35:
            start = NOW - timedelta(minutes=rng.randrange(0, 14 * 24 * 60))
            schedule = f"R/{start:%Y-%m-%dT%H:%M}:00Z/{rng.choice(PERIODS)}"
        else:
            schedule = rng.choice(CRONS)
            if schedule.startswith("0 ") and rng.random() < 0.5:
                schedule = f"{rng.randrange(60)} {schedule[2:]}"  # spread the minute, as people do
        jobs.append(
            Job(
                name=f"job-{i:06d}",
                command="true",
                schedule=schedule,
                schedule_time_zone=tz,
                concurrency_policy=rng.choice(list(ConcurrencyPolicy)),
                retries=rng.choice((0, 1, 2)),
                timeout=rng.choice((None, timedelta(minutes=10))),
            )
        )
    return jobs


def _cold_parse_cache() -> None:
    _parse._parse_cached.cache_clear()  # each load parses its distinct expressions itself


def load_restored(jobs: list[Job]) -> tuple[float, Scheduler]:
    _cold_parse_cache()
    cursors = {job.name: NOW for job in jobs}
    scheduler = Scheduler(seed=1)
    started = time.perf_counter()
    decision = scheduler.handle(StateRestored(jobs=jobs, cursors=cursors), NOW)
    elapsed = time.perf_counter() - started
    assert decision.wake_at is not None and all(scheduler.next_due(j.name) for j in jobs[:100])
    return elapsed, scheduler


def load_saved(jobs: list[Job]) -> float:
    _cold_parse_cache()
    scheduler = Scheduler(seed=1)
    handle = scheduler.handle
    started = time.perf_counter()
    for job in jobs:
        handle(JobSaved(job), NOW)
    elapsed = time.perf_counter() - started
    assert scheduler.wake_at() is not None
    return elapsed


def decision_costs(scheduler: Scheduler, hours: float, seed: int = 2) -> tuple[list[int], dict[str, int]]:
    """Drive the loaded scheduler through simulated time: tick at each wake-up, answer every launch with
    RunStarted a little later and RunFinished later still. Returns the cost of each decision in ns."""
    rng = random.Random(seed)
    pending: list[tuple[datetime, int, object]] = []
    seq = 0
    costs: list[int] = []
    counts = {"timer": 0, "started": 0, "finished": 0, "commands": 0}
    end = NOW + timedelta(hours=hours)
    now = NOW
    clock = time.perf_counter_ns
    while True:
        wake = scheduler.wake_at()
        next_event = pending[0][0] if pending else None
        if wake is not None and (next_event is None or wake <= next_event):
            now, event, kind = max(now, wake), None, "timer"
        elif next_event is not None:
            now, _, event = heapq.heappop(pending)
            kind = "started" if isinstance(event, RunStarted) else "finished"
        else:
            break
        if now > end:
            break
        t0 = clock()
        decision = scheduler.tick(now) if event is None else scheduler.handle(event, now)
        costs.append(clock() - t0)
        counts[kind] += 1
        counts["commands"] += len(decision.commands)
        for cmd in decision.commands:
            if isinstance(cmd, LaunchRun):
                rid, attempt = cmd.run.id, cmd.launch.attempt
                start = now + timedelta(milliseconds=rng.randrange(5, 2000))
                finish = start + timedelta(seconds=rng.expovariate(1 / 30))
                code = 0 if rng.random() < 0.9 else 1
                seq += 1
                heapq.heappush(pending, (start, seq, RunStarted(rid, attempt, start)))
                seq += 1
                finished = RunFinished(rid, attempt, finish, ExitKind.EXITED, exit_code=code)
                heapq.heappush(pending, (finish, seq, finished))
    return costs, counts


def memory(jobs: list[Job]) -> int:
    """Bytes the scheduler holds after loading the jobs (the input jobs themselves not counted)."""
    _cold_parse_cache()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    scheduler = Scheduler(seed=1)
    scheduler.handle(StateRestored(jobs=jobs, cursors={job.name: NOW for job in jobs}), NOW)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del scheduler
    return held


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def _median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours of events per repeat")
    args = parser.parse_args()

    jobs = make_jobs(args.jobs)
    distinct = len({(j.schedule, j.schedule_time_zone) for j in jobs})
    restored, saved, medians, p99s, mems, events = [], [], [], [], [], 0
    for _ in range(args.repeat):
        gc.collect()
        elapsed, scheduler = load_restored(jobs)
        restored.append(elapsed)
        saved.append(load_saved(jobs))
        costs, counts = decision_costs(scheduler, args.hours)
        events = len(costs)
        medians.append(statistics.median(costs) / 1000)
        p99s.append(percentile(costs, 0.99) / 1000)
        del scheduler
    for _ in range(min(args.repeat, 3)):
        mems.append(memory(jobs) / 2**20)

    rows = [
        ("load by StateRestored + next firings", statistics.median(restored), 2.0, "s"),
        ("load by JobSaved + next firings", statistics.median(saved), 2.0, "s"),
        ("decision cost, median", statistics.median(medians), 20.0, "µs"),
        ("decision cost, p99 (reported)", statistics.median(p99s), None, "µs"),
        ("memory held for the jobs", statistics.median(mems), 200.0, "MiB"),
    ]
    print(
        f"horae.core benchmark: {args.jobs:,} jobs ({distinct:,} distinct schedules), {args.repeat} repeats,"
    )
    print(f"{events:,} decisions per repeat over {args.hours:g} simulated hour(s) ({counts})")
    print(f"{'figure':<40} {'median':>12} {'goal':>10} {'ratio':>7}")
    for name, value, goal, unit in rows:
        goal_text = f"< {goal:g} {unit}" if goal is not None else "-"
        ratio = f"{value / goal:.2f}" if goal is not None else "-"
        print(f"{name:<40} {value:>9.3f} {unit:<3}{goal_text:>10} {ratio:>7}")
    result = {
        "jobs": args.jobs,
        "distinct_schedules": distinct,
        "repeats": args.repeat,
        "decisions_per_repeat": events,
        "load_restored_s": round(statistics.median(restored), 4),
        "load_saved_s": round(statistics.median(saved), 4),
        "decision_median_us": round(statistics.median(medians), 3),
        "decision_p99_us": round(statistics.median(p99s), 3),
        "memory_mib": round(statistics.median(mems), 2),
        "goals": {"load_s": 2.0, "decision_median_us": 20.0, "memory_mib": 200.0},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
