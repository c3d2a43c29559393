"""Job files applied at start-up (`--apply`): JSON or YAML, one Chronos job or a list, or a directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from horae.model import InvalidJob, Job, jobs_from_document

SUFFIXES = (".json", ".yaml", ".yml")


class JobFileError(ValueError):
    """A job file cannot be applied; says which file, and which field when a job in it is invalid."""

    def __init__(self, path: Path, problem: str, field: str = "") -> None:
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + problem)
        self.path = path
        self.field = field
        self.problem = problem


def job_files(paths: tuple[Path, ...]) -> list[Path]:
    """The files named, with each directory replaced by its job files (sorted by name, not recursive)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found


def read_job_file(path: Path) -> list[Job]:
    """The jobs in one file; raises JobFileError naming the file (and the field at fault)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise JobFileError(path, f"cannot read it: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise JobFileError(path, "is not UTF-8 text") from None
    document: Any
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise JobFileError(
            path, f"is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}"
        ) from None
    try:
        return jobs_from_document(document)
    except InvalidJob as e:
        raise JobFileError(path, e.message, e.field) from None
