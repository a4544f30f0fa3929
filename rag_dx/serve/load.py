"""A bounded load driver for the HTTP API: N clients posting cases for a fixed time.

Used by the loopback load test (tests/test_serve_load.py, which asserts correctness only: no
errors, one index version per answer) and by ``python -m eval.bench.serve_bench`` (which writes
the throughput and latency numbers). No timing is asserted anywhere.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadResult", "run_load"]


@dataclass
class LoadResult:
    seconds: float
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: one entry per answer: (index version named in `versions.index`, the answer's JSON)
    answers: list[tuple[str | None, dict]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(round(q / 100 * (len(lat) - 1))))], 1) if lat else None

        versions: dict[str, int] = {}
        for v, _ in self.answers:
            versions[str(v)] = versions.get(str(v), 0) + 1
        return {"clients": self.clients, "seconds": round(self.seconds, 2), "requests": len(lat) + len(self.errors),
                "answers": len(self.answers), "errors": len(self.errors),
                "throughput_rps": round(len(self.answers) / self.seconds, 2) if self.seconds else None,
                "p50_ms": pct(50), "p95_ms": pct(95),
                "mean_ms": round(statistics.fmean(lat), 1) if lat else None, "answers_by_version": versions,
                "error_kinds": sorted(set(self.errors))[:10]}


def run_load(base_url: str, texts: Sequence[str], *, clients: int = 4, seconds: float = 5.0,
             headers: dict[str, str] | None = None, during: Callable[[], None] | None = None,
             timeout: float = 120.0, after: float = 1.0) -> LoadResult:
    """Post `texts` round-robin to ``{base_url}/v1/diagnose`` from `clients` threads for `seconds`.

    Args:
        during: run in its own thread while the clients run (e.g. switch an index version);
            the clients keep going until the time is up and `during` has returned `after` seconds ago.
        timeout: per-request timeout (seconds); a timeout counts as an error.
    """
    import httpx

    stop = threading.Event()
    result = LoadResult(seconds=0.0, clients=clients)
    lock = threading.Lock()

    def client(offset: int) -> None:
        with httpx.Client(base_url=base_url, headers=headers or {}, timeout=timeout) as http:
            i = offset
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    r = http.post("/v1/diagnose", json={"text": texts[i % len(texts)]})
                    ms = (time.perf_counter() - t0) * 1000
                    if r.status_code == 200:
                        body = r.json()
                        with lock:
                            result.latencies_ms.append(ms)
                            result.answers.append(((body.get("versions") or {}).get("index"), body))
                    else:
                        with lock:
                            result.errors.append(f"HTTP {r.status_code}")
                except httpx.HTTPError as exc:
                    with lock:
                        result.errors.append(type(exc).__name__)
                i += 1

    side_error: list[BaseException] = []

    def side() -> None:
        try:
            if during is not None:
                during()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            side_error.append(exc)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    side_thread = threading.Thread(target=side, daemon=True)
    side_thread.start()
    time.sleep(seconds)
    side_thread.join()
    if during is not None:
        time.sleep(after)
    stop.set()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    if side_error:
        raise side_error[0]
    return result


def serving(app: Any, host: str = "127.0.0.1", *, startup_timeout: float = 120.0):
    """Context manager: run `app` with uvicorn in a background thread on a free port; yield its URL.

    The app's lifespan (model loading) runs before this yields; the server stops on exit.
    """
    import contextlib
    import socket

    import uvicorn

    @contextlib.contextmanager
    def _run():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                               lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the API server did not start (see its log)")
            time.sleep(0.05)
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)

    return _run()
