"""Checks of `--executor ray` that need neither ray nor torch, so the CLI refuses a missing ray or an unreachable
address in ~0.1 s, before importing anything heavy (issue 15: every refusal under a second).
`ray_executor.RayExecutor` runs the same checks for Python API callers."""
from __future__ import annotations

import importlib.util
import socket

from .fieldcheck import ConfigError

INSTALL_HINT = "pip install 'toyscale[ray]'"
CONNECT_TIMEOUT_S = 5.0


class RayNotInstalledError(ConfigError, ImportError):
    """`--executor ray` without the `ray` package (a ConfigError, so the CLI prints one line, exit 2)."""


def check_ray_installed() -> None:
    """Refuse (one line naming the extra to install) when the `ray` package cannot be found; no import."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise RayNotInstalledError("executor 'ray' needs the optional dependency ray, which is not installed "
                                   f"here; install it with: {INSTALL_HINT}")


def check_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse (ConfigError, one line) a `host:port` / `ray://host:port` address that does not accept a TCP
    connection within `timeout` s; `ray.init` would otherwise retry for minutes (issue 15.8). None, "auto" and
    "local" are left to Ray."""
    if address is None or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"ray_address must be auto, local, host:port or ray://host:port, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__ if not isinstance(e, socket.timeout) else f"no answer within {timeout:g} s"
        raise ConfigError(f"ray_address {address}: cannot connect to {host}:{port} ({why})") from None
