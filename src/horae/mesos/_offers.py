"""Which offer each queued run goes to: a pure function of the offers, the queue and where executors live.

Rules, in order:
- a run fits an offer when every Chronos constraint of its job holds on the offer's agent and the
  offer's remaining cpus/mem/disk cover the task, plus the executor's own resources when the job's
  executor is not already on that agent (Mesos charges them only for a new executor);
- a run whose executor already lives on an agent (`Offer.executor_ids`, or what the framework knows
  from its own launches) goes only to that agent's offer; it moves to another agent only when the
  framework says its home may be left (the agent is gone, or its offers stayed too small);
- runs are placed in queue order, first fit; an offer may take several runs;
- every offer that took nothing is declined.

Constraints follow Chronos: `EQUALS` compares a TEXT attribute; `LIKE`/`UNLIKE` fully match a Java
regular expression against a TEXT value, a SCALAR's Java `toString`, or any SET item (RANGES never
match); a missing attribute fails all three; `hostname` is the offer's hostname unless the agent has
an attribute of that name. Unknown operators were dropped when the job was read.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from horae.mesos._events import Attribute, Offer

RESOURCES = ("cpus", "mem", "disk")
Constraint = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Need:
    """One queued task: what it asks for and which executor it runs on."""

    key: str  # the task id
    executor_id: str
    cpus: float
    mem: float
    disk: float
    constraints: tuple[Constraint, ...] = ()
    home: str = ""  # the agent already hosting its executor, as the framework knows it
    may_leave_home: bool = False


@dataclass(frozen=True, slots=True)
class ExecutorCost:
    """What an executor itself takes from an offer when it is started on an agent."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    placed: Mapping[str, tuple[str, ...]]  # offer id → keys of the needs it takes, in queue order
    declined: tuple[str, ...]  # offer ids that took nothing
    waiting: tuple[str, ...]  # keys of needs no offer fits
    new_executors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # offer id → executor ids


def java_double(value: float) -> str:
    """Java's `Double.toString` (what Chronos matches LIKE against): plain between 1e-3 and 1e7, else
    `d.dddE±n`; the shortest digits that read back as the same double, always with a fraction part."""
    if value != value or value in (math.inf, -math.inf):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{len(digits) - 1 + exponent}"


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _attribute(offer: Offer, name: str) -> Attribute | None:
    for attribute in offer.attributes:
        if attribute.name == name:
            return attribute
    if name == "hostname":
        return Attribute("hostname", "TEXT", text=offer.hostname)
    return None


def _texts(attribute: Attribute) -> tuple[str, ...]:
    if attribute.kind == "TEXT":
        return (attribute.text,)
    if attribute.kind == "SCALAR" and attribute.scalar is not None:
        return (java_double(attribute.scalar),)
    if attribute.kind == "SET":
        return attribute.items
    return ()


def satisfies(offer: Offer, constraint: Constraint) -> bool:
    name, operator, operand = constraint
    attribute = _attribute(offer, name)
    if attribute is None:
        return False
    if operator == "EQUALS":
        return attribute.kind == "TEXT" and attribute.text == operand
    if attribute.kind == "RANGES":
        return False
    matched = any(_regex(operand).fullmatch(text) for text in _texts(attribute))
    if operator == "LIKE":
        return matched
    if operator == "UNLIKE":
        return not matched
    raise ValueError(f"unknown constraint operator {operator!r}")


def fits_constraints(offer: Offer, constraints: Sequence[Constraint]) -> bool:
    return all(satisfies(offer, c) for c in constraints)


def plan(
    offers: Sequence[Offer], queue: Sequence[Need], executor_cost: ExecutorCost = ExecutorCost()
) -> Plan:
    """Place the queue on the offers (see the module's rules). Needs already placed are not repeated."""
    remaining = {o.id: {r: o.scalars.get(r, 0.0) for r in RESOURCES} for o in offers}
    by_agent: dict[str, list[Offer]] = {}
    for offer in offers:
        by_agent.setdefault(offer.agent_id, []).append(offer)
    hosted = {(o.agent_id, e) for o in offers for e in o.executor_ids}
    placed: dict[str, list[str]] = {}
    started: dict[str, list[str]] = {}
    waiting: list[str] = []
    for need in queue:
        homes = {a for a, e in hosted if e == need.executor_id}
        if need.home:
            homes.add(need.home)
        candidates = [o for a in sorted(homes) for o in by_agent.get(a, [])]
        if not homes or need.may_leave_home:
            candidates += [o for o in offers if o.agent_id not in homes]
        chosen = _first_fit(candidates, need, remaining, hosted, executor_cost)
        if chosen is None:
            waiting.append(need.key)
            continue
        placed.setdefault(chosen.id, []).append(need.key)
        if (chosen.agent_id, need.executor_id) not in hosted:
            hosted.add((chosen.agent_id, need.executor_id))
            started.setdefault(chosen.id, []).append(need.executor_id)
    return Plan(
        placed={k: tuple(v) for k, v in placed.items()},
        declined=tuple(o.id for o in offers if o.id not in placed),
        waiting=tuple(waiting),
        new_executors={k: tuple(v) for k, v in started.items()},
    )


def _first_fit(
    candidates: Sequence[Offer],
    need: Need,
    remaining: dict[str, dict[str, float]],
    hosted: set[tuple[str, str]],
    cost: ExecutorCost,
) -> Offer | None:
    for offer in candidates:
        if not fits_constraints(offer, need.constraints):
            continue
        extra = (0.0, 0.0, 0.0)
        if (offer.agent_id, need.executor_id) not in hosted:
            extra = (cost.cpus, cost.mem, cost.disk)
        wanted = dict(
            zip(RESOURCES, (need.cpus + extra[0], need.mem + extra[1], need.disk + extra[2]), strict=True)
        )
        left = remaining[offer.id]
        if all(left[r] + 1e-9 >= wanted[r] for r in RESOURCES):
            for r in RESOURCES:
                left[r] -= wanted[r]
            return offer
    return None
