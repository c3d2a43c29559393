"""Run-time statistics as Chronos reports them: a histogram of (finish − due) in milliseconds."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW = 1028  # the size of Dropwizard's default reservoir, which Chronos's histograms use


@dataclass(frozen=True, slots=True)
class Histogram:
    count: int
    median: float
    p75: float
    p95: float
    p98: float
    p99: float
    mean: float

    def as_chronos(self) -> dict[str, float | int]:
        """Chronos's shape; its `mean` is really the median (a bug clients have come to expect)."""
        return {
            "75thPercentile": self.p75,
            "95thPercentile": self.p95,
            "98thPercentile": self.p98,
            "99thPercentile": self.p99,
            "median": self.median,
            "mean": self.median,
            "count": self.count,
        }


EMPTY = Histogram(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def quantile(sorted_values: list[float], q: float) -> float:
    """Dropwizard's Snapshot.getValue: linear interpolation at position q × (n + 1)."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    pos = q * (n + 1)
    index = int(pos)
    if index < 1:
        return sorted_values[0]
    if index >= n:
        return sorted_values[-1]
    lower, upper = sorted_values[index - 1], sorted_values[index]
    return lower + (pos - math.floor(pos)) * (upper - lower)


class RunTimes:
    """The most recent run times of one job (a sliding window), with a running total for the count."""

    __slots__ = ("count", "window")

    def __init__(self) -> None:
        self.window: deque[float] = deque(maxlen=WINDOW)
        self.count = 0

    def add(self, millis: float) -> None:
        self.window.append(millis)
        self.count += 1

    def histogram(self) -> Histogram:
        if not self.window:
            return EMPTY
        values = sorted(self.window)
        return Histogram(
            count=self.count,
            median=quantile(values, 0.5),
            p75=quantile(values, 0.75),
            p95=quantile(values, 0.95),
            p98=quantile(values, 0.98),
            p99=quantile(values, 0.99),
            mean=sum(values) / len(values),
        )
