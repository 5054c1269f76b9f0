"""The load generator of `benchmarks/service_load.py`: closed-loop clients over bare
HTTP/1.1 keep-alive connections, with every request encoded up front, so that the server
has the machine nearly to itself; and what one load produced (`Phase`).

Only 2xx responses count as answered; 503s (queue full) and other failures are counted
beside them. Requests/s is the 2xx responses completed within the window over its length.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import psutil

CLIENT_TIMEOUT_S = 120.0  # generous: a request queued behind many forward passes is slow


@dataclass
class Phase:
    """What one load (or the sequential requests) produced: latencies of 2xx responses in ms,
    counts of the others, and the CPU seconds the server and this process used meanwhile."""

    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    rejected: int = 0  # 503: the model's queue was full
    failed: Counter[str] = field(default_factory=Counter)  # other statuses, transport errors
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, object]:
        return {
            "seconds": self.seconds,
            "ok": len(self.latencies_ms),
            "rejected_503": self.rejected,
            "failed": dict(self.failed),
            "requests_per_s": self.requests_per_s,
            "p50_ms": self.percentile_ms(50),
            "p99_ms": self.percentile_ms(99),
            "server_cpu_cores": self.server_cpu_s / self.seconds,
            "client_cpu_cores": self.client_cpu_s / self.seconds,
        }


class KeepAliveConnection:
    """One HTTP/1.1 keep-alive connection that sends prepared requests and reads each whole
    response. Far lighter than a general client: measured on 2 shared cores, httpx's
    AsyncClient spent 2-3.5 ms of CPU per request (up to half of what the server spent on
    it), this 0.1-0.4 ms."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> int:
        """Send one request; the response's status once its whole body has arrived."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(*self._address)
        reader, writer = self._streams
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])  # b"HTTP/1.1 200 OK"
        await reader.readexactly(content_length(head))
        return status

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def content_length(head: bytes) -> int:
    """The Content-Length of a response head (the server always sends one)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"response without Content-Length: {head[:200]!r}")


def post_requests(url: str, bodies: list[bytes]) -> list[bytes]:
    """Whole HTTP/1.1 requests POSTing each JSON body to `url`, built once."""
    parts = urlsplit(url)
    return [
        (
            f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


async def closed_loop(
    url: str, requests: list[bytes], concurrency: int, seconds: float, server_pid: int
) -> Phase:
    """`concurrency` clients, each sending its next request as soon as the last one was
    answered, for `seconds`; responses that complete after the window are not counted."""
    server = psutil.Process(server_pid)
    phase = Phase(seconds)
    parts = urlsplit(url)
    connections = [
        KeepAliveConnection(parts.hostname or "", parts.port or 80) for _ in range(concurrency)
    ]
    server_cpu, client_cpu = sum(server.cpu_times()[:2]), time.process_time()
    deadline = time.perf_counter() + seconds

    async def one_client(worker: int) -> None:
        connection, i = connections[worker], worker
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += concurrency
            start = time.perf_counter()
            try:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    status = str(await connection.exchange(request))
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
                connection.close()
                status = type(error).__name__
            end = time.perf_counter()
            if end > deadline:
                return
            if status.startswith("2"):
                phase.latencies_ms.append((end - start) * 1000.0)
            elif status == "503":
                phase.rejected += 1
            else:
                phase.failed[status] += 1

    try:
        await asyncio.gather(*(one_client(worker) for worker in range(concurrency)))
    finally:
        for connection in connections:
            connection.close()
    phase.server_cpu_s = sum(server.cpu_times()[:2]) - server_cpu
    phase.client_cpu_s = time.process_time() - client_cpu
    return phase
