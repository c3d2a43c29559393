"""Persistence behind one narrow interface: `Store`; `SqlStore` (SQLite, PostgreSQL) and `MemoryStore`."""

from horae.store._abc import Store
from horae.store._memory import MemoryStore
from horae.store._sql import SqlStore
from horae.store._writes import DeleteJob, InsertRun, PutJob, RunNotFound, UpdateRun, Write

__all__ = [
    "DeleteJob",
    "InsertRun",
    "MemoryStore",
    "PutJob",
    "RunNotFound",
    "SqlStore",
    "Store",
    "UpdateRun",
    "Write",
]
