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

Constraints hold on an agent's attributes; a missing attribute fails every operator, and `hostname` is
the offer's hostname unless the agent has an attribute of that name. Three look at the agent alone, as
in Chronos: `EQUALS` compares a TEXT attribute; `LIKE`/`UNLIKE` fully match a Java regular expression
against a TEXT value, a SCALAR's Java `toString`, or any SET item (RANGES never match). `CLUSTER value`
also looks at the agent alone: its TEXT value, printed SCALAR or a SET item equals the value.

The others look at the job's runs in flight (`running`, from the framework) and those placed earlier in
the same plan, its peers, on the attribute's value (a SET or RANGES as a whole):
- `UNIQUE`: no peer has the agent's value;
- bare `CLUSTER`: every peer that has the attribute has the agent's value (the first run fixes it);
- `GROUP_BY [n]`: the agent's value has no more peers than the least used known value (values of
  peers and of this round's offers); with `n` above the number of known values, a value still unseen
  is expected, so only a value without peers will do.
A run with `UNIQUE` or `GROUP_BY` may leave its executor's home (starting the job's executor on
another agent): spreading is what they ask for. The home is still tried first.
An operator other than these six is refused by the model when the job is read; here it raises.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from horae.mesos._events import Attribute, Offer
from horae.model import CONSTRAINT_OPERATORS

RESOURCES = ("cpus", "mem", "disk")
Constraint = tuple[str, str, str]
SPREADING = ("UNIQUE", "GROUP_BY")


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
    job: str = ""  # whose runs UNIQUE/CLUSTER/GROUP_BY look at; "" stands for the executor id

    @property
    def group(self) -> str:
        return self.job or self.executor_id


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


def _value(attribute: Attribute) -> str:
    """The attribute's value as one string, for comparing agents with each other."""
    if attribute.kind == "SET":
        return "{" + ",".join(sorted(attribute.items)) + "}"
    if attribute.kind == "RANGES":
        return "[" + ",".join(f"{begin}-{end}" for begin, end in attribute.ranges) + "]"
    texts = _texts(attribute)
    return texts[0] if texts else ""


def _values(offers: Sequence[Offer], name: str) -> list[str]:
    return [_value(a) for a in (_attribute(o, name) for o in offers) if a is not None]


def satisfies(
    offer: Offer, constraint: Constraint, peers: Sequence[Offer] = (), offered: Sequence[Offer] = ()
) -> bool:
    """Whether `constraint` holds for a run of a job on `offer`'s agent; `peers` are the offers (agents)
    of the job's other runs in flight or already placed, `offered` every offer of this round."""
    name, operator, operand = constraint
    if operator not in CONSTRAINT_OPERATORS:
        raise ValueError(f"unknown constraint operator {operator!r}")
    attribute = _attribute(offer, name)
    if attribute is None:
        return False
    if operator == "EQUALS":
        return attribute.kind == "TEXT" and attribute.text == operand
    if operator == "CLUSTER" and operand:
        return operand in _texts(attribute)
    if operator in ("LIKE", "UNLIKE"):
        if attribute.kind == "RANGES":
            return False
        matched = any(_regex(operand).fullmatch(text) for text in _texts(attribute))
        return matched if operator == "LIKE" else not matched
    value = _value(attribute)
    seen = _values(peers, name)
    if operator == "UNIQUE":
        return value not in seen
    if operator == "CLUSTER":
        return all(v == value for v in seen)
    counts = Counter(seen)
    known = set(counts) | set(_values(offered, name)) | {value}
    floor = 0 if operand and int(operand) > len(known) else min(counts[v] for v in known)
    return counts[value] <= floor


def fits_constraints(
    offer: Offer,
    constraints: Sequence[Constraint],
    peers: Sequence[Offer] = (),
    offered: Sequence[Offer] = (),
) -> bool:
    return all(satisfies(offer, c, peers, offered) for c in constraints)


def plan(
    offers: Sequence[Offer],
    queue: Sequence[Need],
    executor_cost: ExecutorCost = ExecutorCost(),
    running: Mapping[str, Sequence[Offer]] = MappingProxyType({}),
) -> Plan:
    """Place the queue on the offers (see the module's rules). Needs already placed are not repeated.
    `running` maps a job (`Need.group`) to an offer from the agent of each of its runs in flight."""
    remaining = {o.id: {r: o.scalars.get(r, 0.0) for r in RESOURCES} for o in offers}
    by_agent: dict[str, list[Offer]] = {}
    for offer in offers:
        by_agent.setdefault(offer.agent_id, []).append(offer)
    hosted = {(o.agent_id, e) for o in offers for e in o.executor_ids}
    placed: dict[str, list[str]] = {}
    started: dict[str, list[str]] = {}
    waiting: list[str] = []
    peers = {group: list(on) for group, on in running.items()}
    for need in queue:
        homes = {a for a, e in hosted if e == need.executor_id}
        if need.home:
            homes.add(need.home)
        candidates = [o for a in sorted(homes) for o in by_agent.get(a, [])]
        spreads = any(operator in SPREADING for _, operator, _ in need.constraints)
        if not homes or need.may_leave_home or spreads:
            candidates += [o for o in offers if o.agent_id not in homes]
        group = peers.setdefault(need.group, [])
        # Lazily: placement stops at the first fit, and constraints on peers are costly to check.
        fitting = (o for o in candidates if fits_constraints(o, need.constraints, group, offers))
        chosen = _first_fit(fitting, need, remaining, hosted, executor_cost)
        if chosen is None:
            waiting.append(need.key)
            continue
        group.append(chosen)
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
    candidates: Iterable[Offer],
    need: Need,
    remaining: dict[str, dict[str, float]],
    hosted: set[tuple[str, str]],
    cost: ExecutorCost,
) -> Offer | None:
    for offer in candidates:
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
