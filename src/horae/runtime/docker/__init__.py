"""The Docker runtime: a warm container per job with an in-container launcher (also exec and fresh modes)."""

from horae.runtime.docker._engine import Engine, EngineError
from horae.runtime.docker._limits import host_limit_warnings
from horae.runtime.docker._routed import RoutedRuntime
from horae.runtime.docker._runtime import DockerRuntime

__all__ = ["DockerRuntime", "Engine", "EngineError", "RoutedRuntime", "host_limit_warnings"]
