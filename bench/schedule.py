"""Benchmark of schedule iteration: `python -m bench.schedule [--repeat R]`.

- the median cost of one `next_after` for a spread of cron expressions and zones (DST zones included),
  over 2,000 instants 37 minutes apart, the best median of `--repeat` rounds;
- the time to parse 100,000 cron jobs in four zones and compute each one's next firing.

Prints a table with each figure beside its goal (under 20 µs; under 2 s), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from horae.schedule import parse_schedule

EXPRESSIONS = (
    ("*/15 * * * *", ""),
    ("0 9 * * MON-FRI", "Europe/Paris"),
    ("30 2 * * *", "America/New_York"),
    ("0 0 1 1 *", "Australia/Sydney"),
    ("*/5 * * * * *", ""),
    ("0 0 13 * 5", "UTC"),
)
NEXT_AFTER_GOAL_US = 20.0
HUNDRED_K_GOAL_S = 2.0


def next_after_us(text: str, zone: str, repeat: int) -> float:
    """The best (over `repeat` rounds) median cost of one next_after, in microseconds."""
    schedule = parse_schedule(text, zone)
    instants = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * i) for i in range(2000)]
    schedule.next_after(instants[0])
    medians = []
    for _ in range(repeat):
        costs = []
        for t in instants:
            began = time.perf_counter()
            schedule.next_after(t)
            costs.append(time.perf_counter() - began)
        medians.append(statistics.median(costs))
    return min(medians) * 1e6


def hundred_thousand_s() -> float:
    """Seconds to parse 100,000 cron jobs (many distinct expressions, four zones) and find each next firing."""
    zones = ["", "Europe/Paris", "America/New_York", "Australia/Sydney"]
    jobs = [
        (f"{i % 60} {i % 24} * * *" if i % 3 else f"*/{i % 59 + 1} * * * *", zones[i % 4])
        for i in range(100_000)
    ]
    now = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    began = time.perf_counter()
    for text, zone in jobs:
        if parse_schedule(text, zone).next_after(now) is None:
            raise AssertionError(f"{text!r} in {zone!r} has no next firing")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds per expression (the best median counts)"
    )
    args = parser.parse_args()
    result: dict[str, float] = {}
    print(f"{'next_after':<34} {'median µs':>10} {'goal µs':>8}")
    for text, zone in EXPRESSIONS:
        cost = next_after_us(text, zone, args.repeat)
        result[f"next_after_us[{text} {zone or 'UTC'}]"] = round(cost, 2)
        mark = "met" if cost < NEXT_AFTER_GOAL_US else "MISSED"
        print(f"{text + ' ' + (zone or 'UTC'):<34} {cost:>10.2f} {NEXT_AFTER_GOAL_US:>8.0f} {mark}")
    seconds = hundred_thousand_s()
    result["hundred_thousand_cron_jobs_s"] = round(seconds, 3)
    mark = "met" if seconds < HUNDRED_K_GOAL_S else "MISSED"
    print(f"{'100,000 cron jobs parsed + next':<34} {seconds:>9.3f}s {HUNDRED_K_GOAL_S:>7.0f}s {mark}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
