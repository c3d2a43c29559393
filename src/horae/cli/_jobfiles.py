"""Job files: read Chronos JSON or native YAML/JSON documents, order them so parents come first, and tell
whether applying a job would create, update or leave it unchanged."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from horae.api._jobkeys import READ_ONLY_KEYS, unknown_key
from horae.cli._client import EXIT_USAGE, CliError
from horae.model import InvalidJob, Job, applied_over, job_from_chronos, job_to_chronos

JOB_FILE_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class JobDocument:
    """One job object and where it came from, for error messages: `file`, `file[2]`."""

    source: str
    index: int | None
    doc: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    @property
    def parents(self) -> list[str]:
        parents = self.doc.get("parents")
        return [str(p) for p in parents] if isinstance(parents, list) and parents else []

    @property
    def where(self) -> str:
        return self.source if self.index is None else f"{self.source}[{self.index}]"


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files as given, directories as their job files (`*.json`, `*.yaml`, `*.yml`, sorted by name; not
    recursive, as `horae serve --apply`)."""
    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
            continue
        p = Path(path)
        if p.is_dir():
            found = sorted(str(f) for f in p.iterdir() if f.is_file() and f.suffix in JOB_FILE_SUFFIXES)
            if not found:
                raise CliError(f"{path}: no job files (*.json, *.yaml, *.yml) in this directory", EXIT_USAGE)
            files.extend(found)
        elif p.is_file():
            files.append(path)
        else:
            raise CliError(f"{path}: no such file or directory", EXIT_USAGE)
    return files


def parse_text(text: str, source: str) -> list[Any]:
    """The documents of a job file: JSON, or YAML (several documents separated by `---` allowed)."""
    stripped = text.lstrip()
    if source.endswith(".json") or stripped.startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as e:
            if source.endswith(".json"):
                raise CliError(f"{source}: not valid JSON: {e}", EXIT_USAGE) from None
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as e:
        raise CliError(f"{source}: not valid YAML or JSON: {e}", EXIT_USAGE) from None


def documents_of(parsed: Iterable[Any], source: str) -> list[JobDocument]:
    """The job objects in the parsed documents: each document is one job or a list of jobs."""
    objects: list[tuple[int | None, Any]] = []
    docs = list(parsed)
    for doc in docs:
        if isinstance(doc, list):
            offset = len(objects)
            objects.extend((offset + i, item) for i, item in enumerate(doc))
        else:
            objects.append((None if len(docs) == 1 else len(objects), doc))
    jobs = []
    for index, obj in objects:
        where = source if index is None else f"{source}[{index}]"
        if not isinstance(obj, Mapping):
            raise CliError(f"{where}: a job must be an object with name and command", EXIT_USAGE)
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise CliError(f"{where}: field 'name': is required (a non-empty string)", EXIT_USAGE)
        unknown = unknown_key(obj)
        if unknown is not None:
            raise CliError(f"{where}: job '{name}': {unknown[0]}: {unknown[1]}", EXIT_USAGE)
        body = {k: v for k, v in obj.items() if k not in READ_ONLY_KEYS}
        jobs.append(JobDocument(source, index, body))
    return jobs


def read_job_files(paths: Sequence[str]) -> list[JobDocument]:
    """Every job in the given files and directories (`-` reads stdin); the same name twice is an error."""
    jobs: list[JobDocument] = []
    for path in expand_paths(paths):
        if path == "-":
            text, source = sys.stdin.read(), "<stdin>"
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"{path}: cannot read: {e}", EXIT_USAGE) from None
            source = path
        jobs.extend(documents_of(parse_text(text, source), source))
    seen: dict[str, JobDocument] = {}
    for job in jobs:
        if job.name in seen:
            raise CliError(
                f"job '{job.name}' is defined twice: in {seen[job.name].where} and {job.where}", EXIT_USAGE
            )
        seen[job.name] = job
    return jobs


def parents_first(jobs: Sequence[JobDocument]) -> list[JobDocument]:
    """Scheduled jobs in their order, then dependent jobs each after the parents given alongside it.

    Parents outside the batch must already exist on the server; a cycle is left for the server to name.
    """
    names = {job.name for job in jobs}
    ordered = [job for job in jobs if not job.parents]
    placed = {job.name for job in ordered}
    waiting = [job for job in jobs if job.parents]
    while waiting:
        ready = [job for job in waiting if all(p in placed or p not in names for p in job.parents)]
        if not ready:
            ordered.extend(waiting)  # a cycle: the server rejects it naming the jobs
            break
        ordered.extend(ready)
        placed.update(job.name for job in ready)
        waiting = [job for job in waiting if job.name not in placed]
    return ordered


def _read(doc: Mapping[str, Any]) -> Job | None:
    """The job a document defines; None when it cannot be read here (the server then names the problem)."""
    try:
        return job_from_chronos({k: v for k, v in doc.items() if k not in READ_ONLY_KEYS})
    except (InvalidJob, ValueError, TypeError):
        return None


def is_unchanged(stored: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Whether applying `given` over the stored job would change nothing."""
    old, new = _read(stored), _read(given)
    return old is not None and new is not None and applied_over(new, old) == old


def document_over(given: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The document to replace the stored job with: `given`, as written (so the server checks its keys), with
    the values `applied_over` keeps from the stored job — a replace would otherwise reset them."""
    old, new = _read(stored), _read(given)
    if old is None or new is None:
        return dict(given)
    as_given, applied = job_to_chronos(new), job_to_chronos(applied_over(new, old))
    return {**given, **{k: v for k, v in applied.items() if as_given.get(k) != v}}
