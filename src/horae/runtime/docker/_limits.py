"""A start-up check of host limits that break hosts running many containers."""

from __future__ import annotations

from pathlib import Path

# Each container holds a session keyring and ~12 host pids (shim threads and its processes).
_PIDS_PER_CONTAINER = 12.5
_CHECKS = (
    ("kernel/keys/root_maxkeys", 1_000_000, "keys root may hold: each container takes a session keyring"),
    ("kernel/keys/maxkeys", 1_000, "keys a non-root user may hold (rootless or user-namespaced containers)"),
    ("kernel/pid_max", 65_536, "pids on the host: each warm container costs about 12"),
)


def host_limit_warnings(proc_sys: Path = Path("/proc/sys")) -> list[str]:
    """One line per limit below what a busy container host needs, with the sysctl that raises it."""
    warnings = []
    for name, floor, why in _CHECKS:
        try:
            value = int((proc_sys / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if value < floor:
            sysctl = name.replace("/", ".")
            line = f"{sysctl} = {value} is low ({why}); raise it: sysctl -w {sysctl}={floor}"
            if name == "kernel/pid_max":
                line += f" (room for about {int(value / _PIDS_PER_CONTAINER)} warm containers now)"
            warnings.append(line)
    return warnings
