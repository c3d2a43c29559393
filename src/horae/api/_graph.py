"""The dependency graph in Chronos's two text formats: jgrapht's DOT and Chronos's CSV export."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from horae.api._service import JobStatus
from horae.model import Job


def edges(jobs: Sequence[Job]) -> list[tuple[str, str]]:
    """(parent, child) for every dependent job, children in the order given, parents as written."""
    return [(parent, job.name) for job in jobs for parent in job.parents or ()]


def to_dot(jobs: Sequence[Job]) -> str:
    """jgrapht 1.0's `DOTExporter(IntegerNameProvider, StringNameProvider)`: vertices numbered from 1."""
    ids = {job.name: i for i, job in enumerate(jobs, start=1)}
    lines = ["digraph G {"]
    lines += [f'  {ids[job.name]} [ label="{job.name}" ];' for job in jobs]
    lines += [f"  {ids[p]} -> {ids[c]};" for p, c in edges(jobs) if p in ids and c in ids]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_csv(jobs: Sequence[Job], status: Callable[[str], JobStatus]) -> str:
    """`node,<name>,<last>,<state>` per job, then `link,<parent>,<child>` per edge; no header."""
    out = []
    for job in jobs:
        s = status(job.name)
        out.append(f"node,{job.name},{s.last},{s.state}\n")
    out += [f"link,{p},{c}\n" for p, c in edges(jobs)]
    return "".join(out)
