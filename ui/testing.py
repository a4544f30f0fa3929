"""Helpers to run the UI on a free loopback port for tests and measurements.

Example:
    >>> with serving(demo) as url:          # doctest: +SKIP
    ...     httpx.get(url)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["free_port", "serving"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(demo: Any, **launch_kwargs: Any) -> Iterator[str]:
    """Launch `demo` with `ui.app.launch_app` in a background thread; yield its URL; close it after."""
    from ui.app import launch_app

    launch_kwargs.setdefault("host", "127.0.0.1")
    launch_kwargs.setdefault("port", free_port(launch_kwargs["host"]))
    _, url = launch_app(demo, prevent_thread_lock=True, **launch_kwargs)
    try:
        yield url.rstrip("/")
    finally:
        demo.close()
