"""What a job's container looks like: the Engine API create body and the hash that names its config.

The hash (label `horae.config`) covers everything that needs a new container when it changes: the image
digest, volumes, resources, network, docker parameters and the launcher scripts themselves. The run's
environment is not in it: each run gets its variables from the launcher, so an environment change (or a
manual run with overrides) never churns the container.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from horae.model import Container, ContainerMode, Launch
from horae.runtime._abc import LaunchFailed

LABEL_HOME = "horae.home"  # which horae (its run directory) owns the container
LABEL_JOB = "horae.job"
LABEL_CONFIG = "horae.config"
LABEL_TOKEN = "horae.launcher"  # the launcher directory (FIFOs) of this container
LABEL_RUN = "horae.run"  # fresh mode: the run and attempt the container exists for
LABEL_MODE = "horae.mode"

MOUNT_JOB = "/.horae/job"  # the job's run directory, shared with the host
MOUNT_SHELL = "/.horae/bin/sh"  # the host's static busybox, called as sh
MOUNT_BUSYBOX = "/.horae/bin/busybox"


def _script(name: str) -> str:
    text = files("horae.runtime.docker").joinpath(name).read_text()
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


LAUNCHER = _script("_launcher.sh")
RUNNER = _script("_runner.sh")
# The entrypoint runs under the mounted busybox only long enough to pick the image's /bin/sh when it
# has one (the launcher and runners then use it), or busybox's sh for images without a shell.
BOOT = 'if [ -x /bin/sh ]; then s=/bin/sh; else s=/.horae/bin/sh; fi; exec "$s" -c "$3" "$s" "$1" "$2" "$4"'

_NETWORKS = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none"}
# Chronos `parameters` (docker run flags) that horae maps to the Engine API; anything else is refused.
_LIST_PARAMETERS = {"add-host": "ExtraHosts", "cap-add": "CapAdd", "cap-drop": "CapDrop", "dns": "Dns"}


@dataclass(frozen=True)
class ContainerSpec:
    """A job's container, independent of any one run: `key` identifies it before the image is resolved."""

    image: str
    binds: tuple[str, ...]
    network_mode: str
    memory: int
    cpu_shares: int
    nano_cpus: int
    env: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    host_config: tuple[tuple[str, Any], ...]
    hostname: str

    @functools.cached_property
    def key(self) -> str:
        resources = [self.memory, self.cpu_shares, self.nano_cpus]
        container = [self.env, self.labels, repr(self.host_config), self.hostname]
        return _digest(
            [self.image, self.binds, self.network_mode, *resources, *container, BOOT, LAUNCHER, RUNNER]
        )

    def config_hash(self, image_id: str) -> str:
        return _digest([self.key, image_id])


def mode_of(container: Container, default: ContainerMode) -> ContainerMode:
    return container.mode or default


def container_spec(launch: Launch, *, cpu_quota: bool) -> ContainerSpec:
    """The job's container as the launch describes it; `LaunchFailed` for what horae cannot honour."""
    container = launch.container
    if container is None:
        raise LaunchFailed("the docker runtime needs a job with a container")
    # A MESOS container (Mesos's own containerizer, running a Docker image) runs its image in the
    # Docker engine here: the same image, the same semantics, one engine horae already drives.
    if container.type.upper() not in ("DOCKER", "MESOS"):
        raise LaunchFailed(f"container type {container.type!r} is not supported (DOCKER or MESOS)")
    if not container.image:
        raise LaunchFailed("the container has no image")
    binds = []
    for volume in container.volumes:
        mode = ":ro" if volume.mode.upper() == "RO" else ""
        if volume.external is not None:
            binds.append(f"{volume.external.name}:{volume.container_path}{mode}")
        elif volume.host_path:
            binds.append(f"{volume.host_path}:{volume.container_path}{mode}")
        else:
            raise LaunchFailed(f"volume {volume.container_path!r} has neither a host path nor a name")
    network = container.network.upper()
    if network == "USER":
        if not container.network_name:
            raise LaunchFailed("network USER needs a network name")
        network_mode = container.network_name
    elif network in _NETWORKS:
        network_mode = _NETWORKS[network]
    else:
        raise LaunchFailed(f"network {container.network!r} is not supported")
    env: list[str] = []
    labels: list[tuple[str, str]] = []
    lists: dict[str, list[str]] = {}
    host_config: dict[str, Any] = {}
    hostname = ""
    for parameter in container.parameters:
        key, value = parameter.key, parameter.value
        if key in ("env", "e"):
            env.append(value)
        elif key in ("label", "l"):
            name, _, label_value = value.partition("=")
            if name.startswith("horae."):
                raise LaunchFailed(f"label {name!r} is reserved for horae")
            labels.append((name, label_value))
        elif key in _LIST_PARAMETERS:
            lists.setdefault(_LIST_PARAMETERS[key], []).append(value)
        elif key == "privileged":
            host_config["Privileged"] = value.lower() in ("", "true", "1")
        elif key == "pid":
            host_config["PidMode"] = value
        elif key == "hostname":
            hostname = value
        elif key == "shm-size":
            host_config["ShmSize"] = _bytes(value)
        else:
            raise LaunchFailed(f"docker parameter {key!r} is not supported")
    host_config.update(lists)
    memory = max(6 << 20, int(launch.mem * (1 << 20)))  # the engine's floor is 6 MiB
    return ContainerSpec(
        image=container.image,
        binds=tuple(binds),
        network_mode=network_mode,
        memory=memory,
        cpu_shares=max(2, int(launch.cpus * 1024)),
        nano_cpus=int(launch.cpus * 1e9) if cpu_quota else 0,
        env=tuple(env),
        labels=tuple(labels),
        host_config=tuple(sorted(host_config.items())),
        hostname=hostname,
    )


def create_body(
    spec: ContainerSpec,
    *,
    image_id: str,
    job_dir: str,
    busybox: str,
    launcher_dir: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    """The Engine API body for POST /containers/create: the launcher as main process under an init."""
    host_config: dict[str, Any] = {
        "Init": True,
        "Binds": [
            f"{job_dir}:{MOUNT_JOB}",
            f"{busybox}:{MOUNT_SHELL}:ro",
            f"{busybox}:{MOUNT_BUSYBOX}:ro",
            *spec.binds,
        ],
        "SecurityOpt": ["no-new-privileges"],
        "NetworkMode": spec.network_mode,
        "Memory": spec.memory,
        "MemorySwap": spec.memory,  # no swap: the limit is the limit
        "CpuShares": spec.cpu_shares,
        "RestartPolicy": {"Name": "no"},
        **dict(spec.host_config),
    }
    if spec.nano_cpus:
        host_config["NanoCpus"] = spec.nano_cpus
    body: dict[str, Any] = {
        "Image": image_id,
        "Entrypoint": [MOUNT_SHELL, "-c", BOOT, "horae-boot", launcher_dir, MOUNT_BUSYBOX, LAUNCHER, RUNNER],
        "Cmd": None,
        "Env": list(spec.env),
        "WorkingDir": "/",
        "Labels": {**dict(spec.labels), **labels},
        "HostConfig": host_config,
    }
    if spec.hostname:
        body["Hostname"] = spec.hostname
    return body


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _bytes(text: str) -> int:
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise LaunchFailed(f"shm-size {text!r} is not a size") from None
