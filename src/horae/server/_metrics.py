"""The server's Prometheus metrics, in a registry of its own (several hosts may live in one test process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_COMMIT_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


class Metrics:
    def __init__(self, *, queue_depth: Callable[[], float], jobs: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "horae_runs", "Runs that reached a final state, by state.", ["state"], registry=self.registry
        )
        self.lateness = Histogram(
            "horae_dispatch_lateness_seconds",
            "From the instant an attempt was due to the instant its process or task was started.",
            buckets=_LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.commit = Histogram(
            "horae_store_commit_seconds",
            "Duration of one group commit (one Store.apply call).",
            buckets=_COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.commit_writes = Counter(
            "horae_store_writes", "Writes committed to the store.", registry=self.registry
        )
        queue = Gauge("horae_queue_depth", "Runs waiting for a concurrency slot.", registry=self.registry)
        queue.set_function(queue_depth)
        job_count = Gauge("horae_jobs", "Jobs defined.", registry=self.registry)
        job_count.set_function(jobs)

    def text(self) -> bytes:
        return generate_latest(self.registry)
