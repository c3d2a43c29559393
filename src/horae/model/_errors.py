"""Errors that name the field at fault, so every edge can answer with a clear 4xx."""

from __future__ import annotations


class InvalidJob(ValueError):
    """A job definition is invalid; `field` is its JSON name (`schedule`, `container.image`, …)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
