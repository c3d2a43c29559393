"""Hypothesis strategies for valid jobs, as the Chronos JSON can carry them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from horae.model import (
    BackoffKind,
    CatchUp,
    CatchUpMode,
    ConcurrencyPolicy,
    Container,
    ContainerMode,
    EnvironmentVariable,
    ExternalVolume,
    Fetch,
    Job,
    KeyValue,
    NetworkInfo,
    PortMapping,
    RetryBackoff,
    Volume,
)

names = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
# An explicit alphabet (with JSON's awkward characters) spares hypothesis building its Unicode tables.
ALPHABET = 'aZ09 _-./:="\\\n\té☃😀'
texts = st.text(alphabet=ALPHABET, max_size=12)
key_values = st.builds(KeyValue, key=texts, value=texts)
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
millis = st.integers(min_value=1, max_value=40 * 86_400_000).map(lambda ms: timedelta(milliseconds=ms))
whole_seconds = st.integers(min_value=1, max_value=10**7).map(lambda s: timedelta(seconds=s))
resources = st.floats(min_value=0.001, max_value=1e4, allow_nan=False, allow_infinity=False)
variable_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)

containers = st.builds(
    Container,
    image=st.text(alphabet=ALPHABET, min_size=1, max_size=12),
    type=st.sampled_from(["DOCKER", "MESOS"]),
    network=st.sampled_from(["BRIDGE", "HOST", "USER"]),
    network_name=texts,
    network_infos=st.lists(
        st.builds(
            NetworkInfo,
            name=texts,
            protocol=st.sampled_from(["", "IPv4", "IPv6"]),
            labels=st.lists(key_values, max_size=2).map(tuple),
            port_mappings=st.lists(
                st.builds(
                    PortMapping,
                    host_port=st.integers(0, 65535),
                    container_port=st.integers(0, 65535),
                    protocol=st.sampled_from(["", "tcp", "udp"]),
                ),
                max_size=2,
            ).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
    volumes=st.lists(
        st.builds(
            Volume,
            container_path=texts,
            host_path=texts,
            mode=st.sampled_from(["", "RW", "RO"]),
            external=st.none()
            | st.builds(
                ExternalVolume,
                name=texts,
                provider=texts,
                options=st.lists(key_values, max_size=2).map(tuple),
            ),
        ),
        max_size=2,
    ).map(tuple),
    force_pull_image=st.booleans(),
    parameters=st.lists(key_values, max_size=2).map(tuple),
    mode=st.none() | st.sampled_from(ContainerMode),
)

constraints = (
    st.tuples(
        texts, st.sampled_from(["EQUALS", "LIKE", "UNLIKE"]), st.sampled_from(["", "a", "rack-[0-9]+", ".*x"])
    )
    | st.tuples(texts, st.sampled_from(["UNIQUE", "CLUSTER", "GROUP_BY"]), st.just(""))
    | st.tuples(texts, st.just("CLUSTER"), st.sampled_from(["a", "r 1"]))
    | st.tuples(texts, st.just("GROUP_BY"), st.sampled_from(["1", "3"]))
)


@st.composite
def jobs(draw: st.DrawFn, *, name: st.SearchStrategy[str] = names) -> Job:
    """A valid job: exactly one of schedule and parents, every value in its range, durations in ms.
    A dependent job may keep a scheduleTimeZone (it takes over its parent's schedule if that is deleted)."""
    dependent = draw(st.booleans())
    fetch_or_uris = draw(st.sampled_from(["none", "fetch", "uris"]))
    return Job(
        name=draw(name),
        command=draw(texts),
        schedule=None if dependent else draw(st.sampled_from(["R/2030-01-01T00:00:00Z/PT1H", "R5//P1D"])),
        schedule_time_zone=draw(st.sampled_from(["", "Europe/Paris"])),
        parents=tuple(dict.fromkeys(draw(st.lists(names, min_size=1, max_size=3)))) if dependent else None,
        shell=draw(st.booleans()),
        arguments=tuple(draw(st.lists(texts, max_size=3))),
        environment_variables=tuple(
            draw(st.lists(st.builds(EnvironmentVariable, name=variable_names, value=texts), max_size=3))
        ),
        executor=draw(texts),
        executor_flags=draw(texts),
        task_info_data=draw(texts),
        retries=draw(st.integers(0, 100)),
        owner=draw(texts),
        owner_name=draw(texts),
        description=draw(texts),
        cpus=draw(resources),
        disk=draw(resources),
        mem=draw(resources),
        disabled=draw(st.booleans()),
        soft_error=draw(st.booleans()),
        data_processing_job_type=draw(st.booleans()),
        high_priority=draw(st.booleans()),
        run_as_user=draw(texts),
        fetch=tuple(
            draw(
                st.lists(
                    st.builds(
                        Fetch,
                        uri=texts,
                        executable=st.booleans(),
                        cache=st.booleans(),
                        extract=st.booleans(),
                        output_file=texts,
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
        )
        if fetch_or_uris == "fetch"
        else (),
        uris=tuple(draw(st.lists(texts, min_size=1, max_size=3))) if fetch_or_uris == "uris" else (),
        constraints=tuple(draw(st.lists(constraints, max_size=3))),
        container=draw(st.none() | containers),
        success_count=draw(st.integers(0, 10**12)),
        error_count=draw(st.integers(0, 10**12)),
        last_success=draw(st.none() | instants),
        last_error=draw(st.none() | instants),
        errors_since_last_success=draw(st.integers(0, 10**6)),
        concurrency_policy=draw(st.sampled_from(ConcurrencyPolicy)),
        starting_deadline=draw(st.none() | millis),
        catch_up=draw(st.builds(CatchUp, mode=st.sampled_from(CatchUpMode), limit=st.integers(1, 100))),
        retry_backoff=draw(
            st.builds(
                RetryBackoff,
                kind=st.sampled_from(BackoffKind),
                first=millis,
                cap=millis,
                jitter=st.floats(0, 1),
            ).filter(lambda b: b.cap >= b.first)
        ),
        timeout=draw(st.none() | whole_seconds),
        disable_after_failures=draw(st.integers(0, 1000)),
        jitter=draw(st.just(timedelta(0)) | millis),
    )
