"""The reading room under load: plain pages while heavy searches run (make bench-archive).

Serves the app with uvicorn on 127.0.0.1 (a free port), as `archive serve` does; `heavy`
client threads send, back to back for `seconds`, searches of the most costly kind a request
may ask (the maximum number of words, all of them common); meanwhile one client asks a plain
page (a capture's page, and the home page) every 50 ms and records how long each took. The
same plain pages are first timed with no load. Requests are bounded in count and time and go
to loopback only.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import uvicorn

from researcher.catalog import MAX_QUERY_WORDS
from researcher.reader import Archive
from researcher.web import create_app


@contextmanager
def serving(archive: Archive, timeout: float = 60, **options: Any) -> Iterator[str]:
    """`archive serve`'s app (create_app's options) under uvicorn on a free loopback port, in a
    thread: its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(archive, **options), host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reading room did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - t0
    finally:
        conn.close()


def _summary(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "max_ms": round(ms[-1], 1),
    }


def measure(
    archive: Archive, capture_id: str, words: list[str], heavy: int = 10, seconds: float = 15.0
) -> dict[str, Any]:
    """Plain-page latency idle and under `heavy` concurrent maximal searches."""
    plain = {"capture": f"/capture/{capture_id}", "home": "/"}
    heavy_path = "/?" + urlencode({"q": " ".join(words[:MAX_QUERY_WORDS])})
    with serving(archive) as base:
        port = int(base.rsplit(":", 1)[1])
        for path in plain.values():  # warm: the first request of a path builds what later ones reuse
            _get(port, path)
        idle = {name: [_get(port, path)[1] for _ in range(20)] for name, path in plain.items()}
        stop = threading.Event()
        heavy_times: list[float] = []
        statuses: list[int] = []

        def hammer() -> None:
            while not stop.is_set():
                status, took = _get(port, heavy_path)
                statuses.append(status)
                heavy_times.append(took)

        loaders = [threading.Thread(target=hammer) for _ in range(heavy)]
        for t in loaders:
            t.start()
        time.sleep(1.0)  # every heavy query under way
        loaded: dict[str, list[float]] = {name: [] for name in plain}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for name, path in plain.items():
                status, took = _get(port, path)
                assert status == 200, (path, status)
                loaded[name].append(took)
            time.sleep(0.05)
        stop.set()
        for t in loaders:
            t.join()
    return {
        "heavy_clients": heavy,
        "heavy_query_words": len(words[:MAX_QUERY_WORDS]),
        "heavy": {**_summary(heavy_times), "statuses": sorted(set(statuses))},
        **{f"{name}_idle": _summary(t) for name, t in idle.items()},
        **{f"{name}_under_load": _summary(t) for name, t in loaded.items()},
    }
