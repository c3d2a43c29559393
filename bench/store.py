"""Store throughput and scheduling-loop latency: `python -m bench.store [--history N]`.

Measures inserts/s with 1, 10 and 100 runs per transaction, and the latency of `open_runs` and
`schedule_cursors` with a small and a large history (they must not grow with it), on SQLite (WAL) and on
PostgreSQL when HORAE_TEST_POSTGRES_URL is set. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count

import sqlalchemy as sa

from horae.model import Run, RunState, Trigger
from horae.store import InsertRun, SqlStore
from horae.store._runs import run_to_row
from horae.store._schema import runs

T0 = datetime(2024, 1, 1, tzinfo=UTC)
JOBS = 100
OPEN_RUNS = 100


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{directory}/horae.db"


@contextmanager
def postgres_url(base: str) -> Iterator[str]:
    schema = f"horae_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield (
            sa.make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(False)
        )
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.dispose()


def inserts_per_second(url: str, batch: int, total: int) -> float:
    store = SqlStore(url)
    minutes = count()
    try:
        started = time.perf_counter()
        for _ in range(total // batch):
            store.apply(
                [
                    InsertRun(
                        Run("job", T0 + timedelta(minutes=next(minutes)), Trigger.SCHEDULE, RunState.PENDING)
                    )
                    for _ in range(batch)
                ]
            )
        return total / (time.perf_counter() - started)
    finally:
        store.close()


def fill_history(url: str, history: int) -> None:
    """`history` final runs over JOBS jobs plus OPEN_RUNS open ones, bulk-loaded (loading is not measured)."""
    engine = sa.create_engine(url)
    try:
        per_job = history // JOBS
        for job in range(JOBS):
            rows = [
                run_to_row(
                    Run(
                        f"job-{job:03}",
                        T0 + timedelta(minutes=i),
                        Trigger.SCHEDULE,
                        RunState.SUCCEEDED,
                        exit_code=0,
                    )
                )
                for i in range(per_job)
            ]
            rows.append(
                run_to_row(Run(f"job-{job:03}", T0 - timedelta(days=1), Trigger.MANUAL, RunState.RUNNING))
            )
            with engine.begin() as c:
                c.execute(runs.insert(), rows)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE runs")
    finally:
        engine.dispose()


def latency_ms(call: Callable[[], object], repeat: int = 30) -> float:
    call()  # warm the caches
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def loop_latency(url: str, history: int) -> dict[str, float]:
    SqlStore(url).close()  # create the schema
    fill_history(url, history)
    store = SqlStore(url)
    try:
        assert len(store.open_runs()) == OPEN_RUNS
        assert len(store.schedule_cursors()) == JOBS
        return {
            "open_runs_ms": latency_ms(store.open_runs),
            "schedule_cursors_ms": latency_ms(store.schedule_cursors),
        }
    finally:
        store.close()


def measure(open_url: Callable[[], AbstractContextManager[str]], histories: list[int]) -> dict[str, object]:
    result: dict[str, object] = {}
    for batch, total in ((1, 1000), (10, 5000), (100, 20000)):
        with open_url() as url:
            result[f"inserts_per_s_batch_{batch}"] = round(inserts_per_second(url, batch, total))
    for history in histories:
        with open_url() as url:
            for name, value in loop_latency(url, history).items():
                result[f"{name}_history_{history}"] = round(value, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=1_000_000, help="rows of the large history")
    args = parser.parse_args()
    histories = [1000, args.history]
    backends: dict[str, Callable[[], AbstractContextManager[str]]] = {"sqlite": sqlite_url}
    if base := os.environ.get("HORAE_TEST_POSTGRES_URL"):
        backends["postgresql"] = lambda: postgres_url(base)
    results = {name: measure(open_url, histories) for name, open_url in backends.items()}
    keys = list(next(iter(results.values())))
    print(f"{'measure':<40}" + "".join(f"{name:>14}" for name in results))
    for key in keys:
        print(f"{key:<40}" + "".join(f"{results[name][key]:>14}" for name in results))
    print(json.dumps({"store": results, "jobs": JOBS, "open_runs": OPEN_RUNS, "histories": histories}))


if __name__ == "__main__":
    main()
