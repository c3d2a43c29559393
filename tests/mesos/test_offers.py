"""Offer matching: Chronos constraints (per agent and across a job's runs), resources with the executor's
own cost, executor homes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from horae.mesos._events import Attribute, Offer
from horae.mesos._offers import (
    RESOURCES,
    Constraint,
    ExecutorCost,
    Need,
    Plan,
    fits_constraints,
    java_double,
    plan,
    satisfies,
)


def offer(
    offer_id: str = "O1",
    agent: str = "S1",
    *,
    hostname: str = "agent1",
    cpus: float = 4.0,
    mem: float = 4096.0,
    disk: float = 10_000.0,
    attributes: tuple[Attribute, ...] = (),
    executors: tuple[str, ...] = (),
) -> Offer:
    return Offer(
        offer_id,
        agent,
        hostname,
        {"cpus": cpus, "mem": mem, "disk": disk},
        attributes=attributes,
        executor_ids=executors,
    )


def need(key: str = "t1", executor: str = "horae.a.1", **kw: object) -> Need:
    values: dict[str, object] = {"cpus": 1.0, "mem": 128.0, "disk": 0.0, **kw}
    return Need(key, executor, **values)  # type: ignore[arg-type]


RACK = Attribute("rack", "TEXT", text="r1")
CORES = Attribute("cores", "SCALAR", scalar=8.0)
ZONES = Attribute("zones", "SET", items=("eu-1", "eu-2"))
PORTS = Attribute("ports", "RANGES", ranges=((1000, 2000),))
TAGGED = offer(attributes=(RACK, CORES, ZONES, PORTS))


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (("rack", "EQUALS", "r1"), True),
        (("rack", "EQUALS", "r"), False),
        (("cores", "EQUALS", "8.0"), False),  # EQUALS reads only TEXT attributes
        (("rack", "LIKE", "r[0-9]"), True),
        (("rack", "LIKE", "r"), False),  # a full match, not a search
        (("rack", "UNLIKE", "r[0-9]"), False),
        (("rack", "UNLIKE", "x.*"), True),
        (("cores", "LIKE", "8\\.0"), True),  # a scalar as Java prints it
        (("cores", "LIKE", "8"), False),
        (("zones", "LIKE", "eu-2"), True),  # any item of a set
        (("zones", "UNLIKE", "eu-2"), False),
        (("zones", "UNLIKE", "us-.*"), True),
        (("ports", "LIKE", ".*"), False),  # ranges never match
        (("ports", "UNLIKE", ".*"), False),
        (("gpu", "EQUALS", "yes"), False),  # missing: every operator fails
        (("gpu", "LIKE", ".*"), False),
        (("gpu", "UNLIKE", ".*"), False),
        (("hostname", "EQUALS", "agent1"), True),  # synthesized from the offer
        (("hostname", "LIKE", "agent[12]"), True),
        (("hostname", "UNLIKE", "agent1"), False),
        (("rack", "CLUSTER", "r1"), True),  # CLUSTER with a value: TEXT, printed SCALAR or any SET item
        (("rack", "CLUSTER", "r2"), False),
        (("cores", "CLUSTER", "8.0"), True),
        (("zones", "CLUSTER", "eu-2"), True),
        (("ports", "CLUSTER", "[1000-2000]"), False),
        (("gpu", "CLUSTER", "yes"), False),
        (("rack", "UNIQUE", ""), True),  # no other run of the job anywhere
        (("rack", "CLUSTER", ""), True),
        (("rack", "GROUP_BY", ""), True),
        (("gpu", "UNIQUE", ""), False),  # missing: these fail too
        (("gpu", "CLUSTER", ""), False),
        (("gpu", "GROUP_BY", "2"), False),
    ],
)
def test_chronos_constraints(constraint: tuple[str, str, str], expected: bool) -> None:
    assert satisfies(TAGGED, constraint) is expected


def test_an_agent_hostname_attribute_wins_over_the_offer_hostname() -> None:
    named = offer(attributes=(Attribute("hostname", "TEXT", text="alias"),))
    assert satisfies(named, ("hostname", "EQUALS", "alias"))
    assert not satisfies(named, ("hostname", "EQUALS", "agent1"))


def test_all_constraints_must_hold_and_none_always_holds() -> None:
    assert fits_constraints(TAGGED, [])
    assert fits_constraints(TAGGED, [("rack", "EQUALS", "r1"), ("zones", "LIKE", "eu-1")])
    assert not fits_constraints(TAGGED, [("rack", "EQUALS", "r1"), ("zones", "LIKE", "us-1")])


def test_an_unknown_operator_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="NEAR"):
        satisfies(TAGGED, ("rack", "NEAR", "2"))
    with pytest.raises(ValueError, match="NEAR"):
        satisfies(offer(), ("gpu", "NEAR", "2"))  # even where the attribute is missing


def on_rack(offer_id: str, agent: str, rack: str, cpus: float = 4.0) -> Offer:
    return offer(
        offer_id,
        agent,
        hostname=f"host-{agent}",
        attributes=(Attribute("rack", "TEXT", text=rack),),
        cpus=cpus,
    )


R1, R2, R3 = on_rack("P1", "S1", "r1"), on_rack("P2", "S2", "r2"), on_rack("P3", "S3", "r3")


@pytest.mark.parametrize(
    ("constraint", "peers", "offered", "expected"),
    [
        # UNIQUE: no other run of the job in flight on the same value.
        (("rack", "UNIQUE", ""), [R2], [], True),
        (("rack", "UNIQUE", ""), [R1], [], False),
        (("hostname", "UNIQUE", ""), [on_rack("P9", "S9", "r1")], [], True),
        # CLUSTER without a value: the value every run in flight has.
        (("rack", "CLUSTER", ""), [R1, R1], [], True),
        (("rack", "CLUSTER", ""), [R2], [], False),
        (("rack", "CLUSTER", ""), [R1, R2], [], False),  # split already: no value joins both
        (("rack", "CLUSTER", ""), [offer("P9", "S9")], [], True),  # peers without the attribute don't count
        # GROUP_BY: a value with no more runs than the least used known value.
        (("rack", "GROUP_BY", ""), [R2], [R2], True),
        (("rack", "GROUP_BY", ""), [R1], [R2], False),
        (("rack", "GROUP_BY", ""), [R1, R2], [R2], True),
        (("rack", "GROUP_BY", ""), [R1, R1, R2], [R2], False),
        (("rack", "GROUP_BY", "2"), [R2], [], True),
        (("rack", "GROUP_BY", "2"), [R1], [], False),  # a second value is expected and has none
        (("rack", "GROUP_BY", "3"), [R1, R2], [R2], False),
        (("rack", "GROUP_BY", "2"), [R1, R2], [R2], True),
    ],
)
def test_constraints_across_the_runs_of_a_job(
    constraint: Constraint, peers: list[Offer], offered: list[Offer], expected: bool
) -> None:
    assert satisfies(R1, constraint, peers, offered) is expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8.0, "8.0"),
        (0.5, "0.5"),
        (-3.25, "-3.25"),
        (0.0, "0.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (9_999_999.0, "9999999.0"),
        (1e7, "1.0E7"),
        (12_345_678.0, "1.2345678E7"),
        (-2.5e-10, "-2.5E-10"),
        (math.inf, "Infinity"),
    ],
)
def test_scalars_print_as_java_does(value: float, text: str) -> None:
    assert java_double(value) == text


def test_first_fit_in_queue_order_and_the_rest_declined() -> None:
    offers = [offer("O1", "S1", cpus=1.5), offer("O2", "S2", cpus=1.0), offer("O3", "S3")]
    result = plan(offers, [need("a", "e.a"), need("b", "e.b")])
    assert result.placed == {"O1": ("a",), "O2": ("b",)}
    assert result.declined == ("O3",)
    assert result.waiting == ()


def test_one_offer_takes_several_runs_until_full() -> None:
    result = plan([offer(cpus=2.5)], [need("a"), need("b"), need("c")])
    assert result.placed == {"O1": ("a", "b")}
    assert result.waiting == ("c",)


def test_the_executor_costs_once_per_agent() -> None:
    cost = ExecutorCost(cpus=0.5, mem=64.0)
    result = plan([offer(cpus=2.5)], [need("a"), need("b")], cost)
    assert result.placed == {"O1": ("a", "b")}  # 1 + 0.5 + 1 = 2.5
    assert result.new_executors == {"O1": ("horae.a.1",)}
    tight = plan([offer(cpus=1.2)], [need("a")], cost)
    assert tight.waiting == ("a",)  # 1 cpu for the task is there, not 1.5 with the executor


def test_an_executor_already_on_the_agent_costs_nothing() -> None:
    cost = ExecutorCost(cpus=0.5, mem=64.0)
    result = plan([offer(cpus=1.0, executors=("horae.a.1",))], [need("a")], cost)
    assert result.placed == {"O1": ("a",)}
    assert result.new_executors == {}


def test_runs_go_to_the_agent_hosting_their_executor() -> None:
    offers = [offer("O1", "S1"), offer("O2", "S2", executors=("horae.a.1",))]
    assert plan(offers, [need("a")]).placed == {"O2": ("a",)}
    known = plan([offer("O1", "S1"), offer("O2", "S2")], [need("a", home="S2")])
    assert known.placed == {"O2": ("a",)}


def test_a_run_waits_for_its_home_agent_unless_allowed_to_leave() -> None:
    away = [offer("O1", "S1")]
    assert plan(away, [need("a", home="S2")]).waiting == ("a",)
    assert plan(away, [need("a", home="S2", may_leave_home=True)]).placed == {"O1": ("a",)}
    full_home = [offer("O1", "S1"), offer("O2", "S2", cpus=0.5)]
    moved = plan(full_home, [need("a", home="S2", may_leave_home=True)])
    assert moved.placed == {"O1": ("a",)}


def test_constraints_pick_the_agent() -> None:
    offers = [offer("O1", "S1", attributes=(RACK,)), offer("O2", "S2", hostname="agent2")]
    result = plan(offers, [need("a", constraints=(("hostname", "EQUALS", "agent2"),))])
    assert result.placed == {"O2": ("a",)}
    assert plan(offers, [need("a", constraints=(("rack", "EQUALS", "r9"),))]).waiting == ("a",)


def test_unique_places_runs_of_a_job_on_distinct_values_and_leaves_home_for_it() -> None:
    unique = (("hostname", "UNIQUE", ""),)
    offers = [R1, R2]
    both = plan(offers, [need("a", constraints=unique, job="j"), need("b", constraints=unique, job="j")])
    assert both.placed == {"P1": ("a",), "P2": ("b",)}
    busy_home = plan(offers, [need("c", constraints=unique, job="j", home="S1")], running={"j": [R1]})
    assert busy_home.placed == {"P2": ("c",)}
    assert busy_home.new_executors == {"P2": ("horae.a.1",)}
    only_home = plan([R1], [need("c", constraints=unique, job="j")], running={"j": [R1]})
    assert only_home.waiting == ("c",)
    other_job = plan([R1], [need("c", constraints=unique, job="k")], running={"j": [R1]})
    assert other_job.placed == {"P1": ("c",)}


def test_the_job_defaults_to_the_executor_id() -> None:
    unique = (("hostname", "UNIQUE", ""),)
    result = plan([R1], [need("a", constraints=unique)], running={"horae.a.1": [R1]})
    assert result.waiting == ("a",)


def test_bare_cluster_keeps_the_runs_of_a_job_on_one_value() -> None:
    cluster = (("rack", "CLUSTER", ""),)
    small = on_rack("P1", "S1", "r1", cpus=1.0)
    first = plan(
        [small, R2], [need("a", constraints=cluster, job="j"), need("b", constraints=cluster, job="j")]
    )
    assert first.placed == {"P1": ("a",)}  # the first run fixes r1; r2 may not take the second
    assert first.waiting == ("b",)
    running = plan([R1, R2], [need("c", constraints=cluster, job="j")], running={"j": [R2]})
    assert running.placed == {"P2": ("c",)}
    valued = plan([R1, R2], [need("d", constraints=(("rack", "CLUSTER", "r2"),))])
    assert valued.placed == {"P2": ("d",)}


def test_group_by_spreads_the_runs_of_a_job_over_the_values() -> None:
    spread = (("rack", "GROUP_BY", ""),)
    result = plan(
        [R1, R2, R3],
        [need(k, constraints=spread, job="j", home="S1") for k in ("a", "b", "c", "d")],
        running={"j": [R1]},
    )
    assert result.placed == {"P2": ("a", "d"), "P3": ("b",), "P1": ("c",)}  # home first when level
    expected = (("rack", "GROUP_BY", "3"),)
    waits = plan([R1, R2], [need("e", constraints=expected, job="j")], running={"j": [R1, R2]})
    assert waits.waiting == ("e",)  # a third rack is expected to take the next run


# --- properties -------------------------------------------------------------------------------------

AGENTS = ("S1", "S2", "S3")
EXECUTORS = ("e1", "e2", "e3")
JOBS = ("", "j1", "j2")  # "" groups by the executor id
amounts = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.0])
constraints = st.lists(
    st.tuples(
        st.sampled_from(["rack", "hostname", "zone"]),
        st.sampled_from(["EQUALS", "LIKE", "UNLIKE", "CLUSTER"]),
        st.sampled_from(["r1", "r2", "agent1", "agent.*", "z.*"]),
    )
    | st.tuples(
        st.sampled_from(["rack", "hostname", "zone"]),
        st.sampled_from(["UNIQUE", "CLUSTER", "GROUP_BY"]),
        st.just(""),
    )
    | st.tuples(st.sampled_from(["rack", "zone"]), st.just("GROUP_BY"), st.sampled_from(["1", "2", "3"])),
    max_size=2,
).map(tuple)


@st.composite
def agent_offers(draw: st.DrawFn, prefix: str, count: st.SearchStrategy[int]) -> list[Offer]:
    return [
        offer(
            f"{prefix}{i}",
            draw(st.sampled_from(AGENTS)),
            hostname=draw(st.sampled_from(["agent1", "agent2", "agent3"])),
            cpus=draw(amounts) * 2,
            mem=draw(amounts) * 512,
            disk=draw(amounts) * 100,
            attributes=tuple(
                Attribute(n, "TEXT", text=draw(st.sampled_from(["r1", "r2", "z1"])))
                for n in draw(st.lists(st.sampled_from(["rack", "zone"]), unique=True))
            ),
            executors=tuple(draw(st.lists(st.sampled_from(EXECUTORS), unique=True, max_size=2))),
        )
        for i in range(draw(count))
    ]


Case = tuple[list[Offer], list[Need], ExecutorCost, dict[str, list[Offer]]]


@st.composite
def offers_and_needs(draw: st.DrawFn) -> Case:
    offers = draw(agent_offers("O", st.integers(0, 4)))
    needs = [
        Need(
            f"t{i}",
            draw(st.sampled_from(EXECUTORS)),
            cpus=draw(amounts),
            mem=draw(amounts) * 128,
            disk=draw(amounts) * 10,
            constraints=draw(constraints),
            home=draw(st.sampled_from(("", *AGENTS))),
            may_leave_home=draw(st.booleans()),
            job=draw(st.sampled_from(JOBS)),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    cost = ExecutorCost(cpus=draw(amounts) / 2, mem=draw(amounts) * 16)
    groups = [*JOBS[1:], *EXECUTORS]
    running = {
        g: draw(agent_offers(f"R{g}.", st.integers(0, 2))) for g in draw(st.sets(st.sampled_from(groups)))
    }
    return offers, needs, cost, running


SPREADING = ("UNIQUE", "GROUP_BY")
LOCAL = ("EQUALS", "LIKE", "UNLIKE")


def _eligible(o: Offer, n: Need, offers: list[Offer], placed_before: set[tuple[str, str]]) -> bool:
    """Whether `o` may take `n`: its executor's homes are the agents hosting it, the one the framework
    knows, and those where runs earlier in the queue start it; a run that must spread may leave them."""
    homes = {x.agent_id for x in offers if n.executor_id in x.executor_ids} | ({n.home} if n.home else set())
    homes |= {agent for agent, executor in placed_before if executor == n.executor_id}
    spreads = any(op in SPREADING for _, op, _ in n.constraints)
    return not homes or n.may_leave_home or spreads or o.agent_id in homes


def _value(o: Offer, name: str) -> str | None:
    """The generated attributes are TEXT; `hostname` falls back to the offer's."""
    found = [a.text for a in o.attributes if a.name == name]
    return found[0] if found else (o.hostname if name == "hostname" else None)


def _holds_across_runs(o: Offer, c: Constraint, before: list[Offer], offers: list[Offer]) -> bool:
    """UNIQUE / bare CLUSTER / GROUP_BY restated over the runs of the job in flight or placed earlier."""
    name, operator, operand = c
    value = _value(o, name)
    if value is None:
        return False
    seen = [v for v in (_value(p, name) for p in before) if v is not None]
    if operator == "UNIQUE":
        return value not in seen
    if operator == "CLUSTER":
        return (value == operand) if operand else all(v == value for v in seen)
    known = set(seen) | {v for v in (_value(x, name) for x in offers) if v is not None}
    if operand and int(operand) > len(known):
        return seen.count(value) == 0
    return all(seen.count(value) <= seen.count(v) for v in known)


def _usage(
    result: Plan, offers: list[Offer], needs: list[Need], cost: ExecutorCost
) -> dict[str, list[float]]:
    by_key = {n.key: n for n in needs}
    used = {o.id: [0.0, 0.0, 0.0] for o in offers}
    for offer_id, keys in result.placed.items():
        for key in keys:
            n = by_key[key]
            for i, amount in enumerate((n.cpus, n.mem, n.disk)):
                used[offer_id][i] += amount
        for _ in result.new_executors.get(offer_id, ()):
            for i, amount in enumerate((cost.cpus, cost.mem, cost.disk)):
                used[offer_id][i] += amount
    return used


@settings(max_examples=500, deadline=None)
@given(offers_and_needs())
def test_plans_respect_resources_constraints_and_homes(case: Case) -> None:
    offers, needs, cost, running = case
    result = plan(offers, needs, cost, running=running)
    by_key = {n.key: n for n in needs}
    by_offer = {o.id: o for o in offers}
    placed_keys = [k for keys in result.placed.values() for k in keys]
    # Every need is placed once or waits; every offer is used or declined.
    assert sorted(placed_keys + list(result.waiting)) == sorted(by_key)
    assert sorted([*result.placed, *result.declined]) == sorted(by_offer)
    assert all(result.placed.values())
    used = _usage(result, offers, needs, cost)
    agent_of = {k: by_offer[o].agent_id for o, keys in result.placed.items() for k in keys}
    offer_of = {k: by_offer[o] for o, keys in result.placed.items() for k in keys}

    def placed_before(index: int) -> set[tuple[str, str]]:
        return {(agent_of[m.key], m.executor_id) for m in needs[:index] if m.key in agent_of}

    def peers_before(index: int) -> list[Offer]:
        group = needs[index].job or needs[index].executor_id
        earlier = [
            offer_of[m.key] for m in needs[:index] if m.key in offer_of and (m.job or m.executor_id) == group
        ]
        return [*running.get(group, []), *earlier]

    position = {n.key: i for i, n in enumerate(needs)}
    for offer_id, keys in result.placed.items():
        o = by_offer[offer_id]
        for i, name in enumerate(RESOURCES):
            assert used[offer_id][i] <= o.scalars[name] + 1e-6
        for key in keys:
            n, index = by_key[key], position[key]
            for c in n.constraints:
                if c[1] in LOCAL:
                    assert satisfies(o, c), c
                else:
                    assert _holds_across_runs(o, c, peers_before(index), offers), c
            assert _eligible(o, n, offers, placed_before(index))
    # An executor is started at most once per agent, never where one runs already, and only for its runs.
    started = [(by_offer[o].agent_id, e) for o, executors in result.new_executors.items() for e in executors]
    assert len(started) == len(set(started))
    for agent, executor in started:
        assert not any(x.agent_id == agent and executor in x.executor_ids for x in offers)
    for offer_id, executors in result.new_executors.items():
        assert set(executors) <= {by_key[k].executor_id for k in result.placed[offer_id]}
    # Nothing waits that would still fit an eligible offer (first fit is greedy, offers only shrink), given
    # the executors and the runs of its job placed before it in queue order.
    for index, n in enumerate(needs):
        if n.key not in result.waiting:
            continue
        earlier = placed_before(index)
        for o in offers:
            if not _eligible(o, n, offers, earlier):
                continue
            if not fits_constraints(o, n.constraints, peers_before(index), offers):
                continue
            hosted = n.executor_id in o.executor_ids or (o.agent_id, n.executor_id) in earlier
            extra = (0.0, 0.0, 0.0) if hosted else (cost.cpus, cost.mem, cost.disk)
            wanted = (n.cpus + extra[0], n.mem + extra[1], n.disk + extra[2])
            left = [o.scalars[r] - used[o.id][i] for i, r in enumerate(RESOURCES)]
            assert any(left[i] + 1e-9 < wanted[i] for i in range(3)), f"{n.key} fits {o.id}"
