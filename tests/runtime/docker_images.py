"""Test images, built locally with `docker import` (no registry is reachable): a BusyBox image from the
host's static busybox, and an image without any shell (only the static `tini`)."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import tarfile
import time
from datetime import timedelta
from pathlib import Path

from horae.model import Container, KeyValue, Volume
from horae.runtime.docker import DockerRuntime
from tests.conftest import service_missing

BUSYBOX = "/bin/busybox"
TINI = "/usr/bin/tini-static"
BUSYBOX_IMAGE = "horae-test/busybox:1"
NOSHELL_IMAGE = "horae-test/noshell:1"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def docker_cli() -> str | None:
    return shutil.which("docker")


def _add(
    tar: tarfile.TarFile,
    name: str,
    *,
    data: bytes = b"",
    mode: int = 0o644,
    kind: bytes = b"0",
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = int(time.time())
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    return [name for name in out.split() if "/" not in name and name not in ("busybox", "[", "[[")]


def busybox_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "usr", "usr/bin", "etc", "root", "proc", "sys", "dev"):
            _add(tar, directory, kind=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        with open(BUSYBOX, "rb") as f:
            _add(tar, "bin/busybox", data=f.read(), mode=0o755)
        for applet in _applets():
            _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox")
        _add(tar, "usr/bin/env", kind=tarfile.SYMTYPE, link="/bin/busybox")
        _add(tar, "etc/passwd", data=_PASSWD.encode())
        _add(tar, "etc/group", data=_GROUP.encode())
    return buffer.getvalue()


def noshell_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        with open(TINI, "rb") as f:
            _add(tar, "tini", data=f.read(), mode=0o755)
        _add(tar, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
    return buffer.getvalue()


def _exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def ensure_images() -> None:
    """Build both images unless they are already there (tags are versioned by content recipe)."""
    for tag, build in ((BUSYBOX_IMAGE, busybox_rootfs), (NOSHELL_IMAGE, noshell_rootfs)):
        if not _exists(tag):
            subprocess.run(["docker", "import", "-", tag], input=build(), capture_output=True, check=True)


def can_build() -> str | None:
    """Why the images cannot be built here, or None."""
    if docker_cli() is None:
        return "the docker CLI is not installed"
    for path in (BUSYBOX, TINI):
        if not os.path.exists(path):
            return f"{path} is missing (install busybox-static and docker.io)"
    return None


ENGINE_SOCKET = "/var/run/docker.sock"


def engine_missing() -> str | None:
    """Why Docker tests cannot run here, or None."""
    if not os.path.exists(ENGINE_SOCKET):
        return f"no Docker engine socket at {ENGINE_SOCKET}"
    if subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        return "the Docker engine does not answer"
    return can_build()


def remove_containers(home: str) -> None:
    """Remove every container a DockerRuntime with this run directory made (test clean-up)."""
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=horae.home={home}"], capture_output=True, text=True
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "rm", "-f", *listed], capture_output=True)


class DisposableDockerRuntime(DockerRuntime):
    """A DockerRuntime whose close() also removes its containers, so tests leave nothing behind."""

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(remove_containers, str(self.run_dir))


def contract_runtime(run_dir: Path, grace: timedelta) -> DockerRuntime:
    """The runtime contract's Docker entry: launches without a container run in the BusyBox image, in
    the host's pid namespace with the test's directory mounted at its own path, so the contract's
    checks of pids and files on the host mean the same thing as for the process runtime."""
    reason = engine_missing()
    if reason is not None:
        service_missing(reason)
    ensure_images()
    shared = str(run_dir.parent)
    container = Container(
        image=BUSYBOX_IMAGE,
        network="NONE",
        volumes=(Volume(container_path=shared, host_path=shared),),
        parameters=(KeyValue("pid", "host"),),
    )
    return DisposableDockerRuntime(run_dir, timeout_grace=grace, default_container=container)
