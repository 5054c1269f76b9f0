"""Service throughput with dynamic batching on and off, against real servers, in one run.

Two servers, `python -m service` on 127.0.0.1 (CPU) started by `service.launcher` and
configured by PINET_* variables as in production, run one after the other under the same
conditions: one batching (up to `--max-batch-size` requests per forward pass, waiting at
most `--max-wait-ms` for them), one not (PINET_MAX_BATCH_SIZE=1). Each gets `--warmup`
seconds of load, then `--single-duration` seconds of sequential requests (concurrency 1: the
latency one client sees on an idle server), then a closed-loop load of `--concurrency`
clients for `--duration` seconds: every client POSTs a signal as JSON to /v1/signals/pi,
waits for the whole response (JSON PIs, or .npy with `--format npy`) and sends the next.
Only 2xx responses count; 503s (queue full) and other failures are reported beside them.
Requests/s is the 2xx responses completed within the window over its length; p50 / p99 are
their latencies. The ratio is batched over unbatched; the issue 4 target is >= 3x the
requests/s at no worse p99.

The load generator is one asyncio process with every request encoded up front and a bare
HTTP/1.1 keep-alive connection per client, so that the server has the machine nearly to
itself; the table says how much CPU each side used. The served model is the first signal
model of the models directory (the service's default, or `--models-dir`), or `--model`;
with none there, or with `--widths`, a random-weight checkpoint of that size (float16, as
released) in a temporary folder: a forward's cost does not depend on the weights.

    python benchmarks/service_load.py [--models-dir DIR] [--model NAME] [--widths a,b,c,d]
        [--duration S] [--concurrency N] [--max-batch-size N] [--max-wait-ms MS]
        [--format json|npy] [--warmup S] [--single-duration S] [--server-threads N]
        [--json PATH]

The servers use one torch thread per core, unless `--server-threads` says otherwise. On a
machine whose cores are busy with other work, a forward pass with 2 threads waits for the
busy core: measured on 2 shared cores (widths 32,64,128,256), the forward of one (3, 250)
signal took about 170 ms with 2 threads against 2.4 ms with 1, and a single request to the
unbatched server 125-130 ms against 7-9 ms, which makes batching look far better than it is.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inference import (
    architecture_summary,
    device_name,
    random_network,
    takes_benchmark_inputs,
)
from benchmarks.inputs import CHANNELS, WINDOW, accelerometer_windows
from pinet.card import ModelCard
from pinet.checkpoint import read_card, save_checkpoint
from pinet.cli import parse_widths
from pinet.inference import models_dir
from pinet.nets import TRUNK_WIDTHS, Widths
from pinet.provenance import library_versions, utc_now
from pinet.tda import PI_SIZE
from service.launcher import Server, ServerFailed, launch

TARGET_SPEEDUP = 3.0  # issue 4: >= 3x the requests/s of the unbatched server, p99 no worse
DISTINCT_SIGNALS = 64  # request bodies cycled through, so the server sees varied inputs
SERVING_PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "httpx")
JSON_HEADERS = {"content-type": "application/json"}
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


@dataclass(frozen=True)
class ServerConfig:
    """One server's batching settings, and the label of its row in the table."""

    label: str
    max_batch_size: int
    max_wait_ms: float


@dataclass
class ServerResult:
    """Everything measured against one server."""

    config: ServerConfig
    single: Phase
    load: Phase
    batch_sizes: Counter[int]  # forward passes by batch size during the measured load
    load_average: tuple[float, float, float]  # 1, 5, 15 min, just before the measured load

    @property
    def mean_batch_size(self) -> float:
        passes = sum(self.batch_sizes.values())
        return sum(k * v for k, v in self.batch_sizes.items()) / passes if passes else 0.0

    def markdown(self) -> str:
        load, single = self.load, self.single
        refused = f"{load.rejected} / {sum(load.failed.values())}"
        return (
            f"| {self.config.label} | {load.requests_per_s:,.1f} | {load.percentile_ms(50):,.1f} "
            f"| {load.percentile_ms(99):,.1f} | {single.percentile_ms(50):,.1f} "
            f"| {single.percentile_ms(99):,.1f} | {self.mean_batch_size:.1f} | {refused} "
            f"| {load.server_cpu_s / load.seconds:.2f} / {load.client_cpu_s / load.seconds:.2f} |"
        )


# --- the model ----------------------------------------------------------------------------


def signal_cards(folder: Path) -> dict[str, ModelCard]:
    """The signal models of a models directory, by name."""
    cards = (read_card(p.parent) for p in sorted(folder.glob("*/card.json")))
    return {card.name: card for card in cards if card.modality == "signal"}


def pick_card(folder: Path, name: str | None) -> ModelCard | None:
    """Model `name` of `folder`, or its first signal model (as the service picks); None when
    it has no signal model and no name was asked for."""
    cards = signal_cards(folder) if folder.is_dir() else {}
    if name is None:
        return next(iter(cards.values()), None)
    if name not in cards:
        known = ", ".join(cards) or "none"
        raise SystemExit(f"no signal model {name!r} in {folder} (signal models: {known})")
    return cards[name]


def throwaway_checkpoint(folder: Path, widths: Widths) -> ModelCard:
    """A random-weight Signal PI-Net of `widths`, saved in float16 like the released ones."""
    torch.manual_seed(0)
    network, card = random_network("signal", widths)
    return save_checkpoint(network, card, folder / card.name, dtype=torch.float16)


def request_bodies(model_name: str, rng: np.random.Generator) -> tuple[list[bytes], str]:
    """JSON request bodies for /v1/signals/pi, each a different `(3, 250)` signal, and where
    the signals come from."""
    windows, source = accelerometer_windows(DISTINCT_SIGNALS, rng)
    bodies = [
        json.dumps({"signal": window.tolist(), "model": model_name}).encode() for window in windows
    ]
    return bodies, source


# --- the servers --------------------------------------------------------------------------


@contextmanager
def running_server(
    folder: Path, config: ServerConfig, log: Path, torch_threads: int | None
) -> Iterator[Server]:
    """A ready `python -m service` with `config`; stopped on the way out, whatever happens.
    SystemExit with the server's log when it does not come up."""
    threads = {} if torch_threads is None else {"torch_threads": torch_threads}
    server = launch(
        folder,
        log,
        via_main=True,
        max_batch_size=config.max_batch_size,
        max_wait_ms=config.max_wait_ms,
        **threads,
    )
    try:
        server.wait_until_ready()
        yield server
    except ServerFailed as error:
        raise SystemExit(f"{config.label}: {error}") from error
    finally:
        server.stop()


def learned_pis(response: httpx.Response, format: str) -> np.ndarray:
    """The PIs of a /v1/signals/pi response in `format` ('json' or 'npy')."""
    if format == "npy":
        return np.load(io.BytesIO(response.content), allow_pickle=False)
    return np.asarray(response.json()["pi"])


def batch_sizes(client: httpx.Client, model_name: str) -> Counter[int]:
    """The server's count of forward passes by batch size for the model, so far."""
    stats = client.get("/v1/stats").raise_for_status().json()["models"][model_name]
    return Counter({int(size): n for size, n in stats["batch_sizes"].items()})


# --- the load -----------------------------------------------------------------------------


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


def measure(
    server: Server,
    config: ServerConfig,
    model_name: str,
    bodies: list[bytes],
    args: argparse.Namespace,
) -> ServerResult:
    """Warm-up load, sequential requests, then the measured load against one server."""
    url = f"{server.url}/v1/signals/pi?format={args.format}"
    requests = post_requests(url, bodies)
    pid = server.process.pid
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
        answer = client.post(url, content=bodies[0], headers=JSON_HEADERS).raise_for_status()
        if learned_pis(answer, args.format).shape != (CHANNELS, PI_SIZE, PI_SIZE):
            raise SystemExit(f"{config.label}: unexpected answer {answer.text[:200]}")
        asyncio.run(closed_loop(url, requests, args.concurrency, args.warmup, pid))
        single = asyncio.run(closed_loop(url, requests, 1, args.single_duration, pid))
        before = batch_sizes(client, model_name)
        load_average = os.getloadavg()
        load = asyncio.run(closed_loop(url, requests, args.concurrency, args.duration, pid))
        during = batch_sizes(client, model_name) - before
    return ServerResult(config, single, load, during, load_average)


# --- report -------------------------------------------------------------------------------


def serving_versions() -> dict[str, str]:
    """pinet's libraries and the web stack's, for the --json record."""
    return library_versions() | {package: version(package) for package in SERVING_PACKAGES}


def describe(card: ModelCard, throwaway: bool) -> str:
    """One line on the served model: name, size, stored dtype, weights and training data."""
    origin = "random weights, " if throwaway else ""
    return (
        f"'{card.name}', {architecture_summary(card)}, {card.dtype}, {origin}recipe "
        f"{card.recipe.name}, data {card.data_source.name}"
    )


def report(
    results: list[ServerResult], args: argparse.Namespace, model: str, inputs: str
) -> dict[str, object]:
    """Print the table and the ratios; return everything for --json."""
    unbatched, batched = results
    rps_ratio = batched.load.requests_per_s / unbatched.load.requests_per_s
    p99_ratio = batched.load.percentile_ms(99) / unbatched.load.percentile_ms(99)
    met = rps_ratio >= TARGET_SPEEDUP and p99_ratio <= 1.0
    loads = ", ".join(
        f"{r.config.label} {' / '.join(f'{x:.2f}' for x in r.load_average)}" for r in results
    )

    threads = args.server_threads or "the default (one per core)"
    print(f"machine: {device_name(torch.device('cpu'))}; server torch threads: {threads}")
    print(f"model: {model}")
    print(
        f"requests: {DISTINCT_SIGNALS} JSON signals {CHANNELS}x{WINDOW} ({inputs}), cycled; "
        f"responses: {args.format}"
    )
    print(
        f"load: {args.concurrency} closed-loop clients for {args.duration:g} s per server, "
        f"after {args.warmup:g} s of warm-up and {args.single_duration:g} s of sequential "
        "requests (single); servers run one at a time"
    )
    print(f"load average (1 / 5 / 15 min) before each measured load: {loads}")
    print()
    print(
        "| server | requests/s | p50 (ms) | p99 (ms) | single p50 (ms) | single p99 (ms) "
        "| mean batch | 503 / failed | CPU cores server / client |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        print(result.markdown())
    verdict = "met" if met else "NOT met"
    print(
        f"\nbatched / unbatched: requests/s x{rps_ratio:.2f}, p99 x{p99_ratio:.2f}. "
        f"Target (requests/s >= {TARGET_SPEEDUP:g}x at p99 <= 1x): {verdict}."
    )
    return {
        "benchmark": "benchmarks/service_load.py",
        "created": utc_now(),
        "versions": serving_versions(),
        "machine": device_name(torch.device("cpu")),
        "settings": {key: value for key, value in vars(args).items() if key != "json"},
        "model": model,
        "inputs": inputs,
        "servers": [
            {
                **asdict(result.config),
                "single": result.single.summary(),
                "load": result.load.summary(),
                "batch_sizes": {str(k): v for k, v in sorted(result.batch_sizes.items())},
                "mean_batch_size": result.mean_batch_size,
                "load_average": result.load_average,
            }
            for result in results
        ],
        "requests_per_s_ratio": rps_ratio,
        "p99_ratio": p99_ratio,
        "target_met": met,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models-dir", type=Path, default=models_dir(), help="default: %(default)s"
    )
    parser.add_argument("--model", help="signal model to serve (default: the first one)")
    parser.add_argument(
        "--widths",
        type=parse_widths,
        help="serve a random-weight model of these trunk filters instead (default without a "
        f"signal model in the models dir: {','.join(map(str, TRUNK_WIDTHS))})",
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of measured load")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--max-batch-size", type=int, default=32, help="of the batched server")
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="of the batched server (the unbatched one never waits)",
    )
    parser.add_argument(
        "--format",
        choices=("json", "npy"),
        default="json",
        help="response format asked for (the service's ?format=)",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load")
    parser.add_argument(
        "--single-duration", type=float, default=5.0, help="seconds of sequential requests"
    )
    parser.add_argument(
        "--server-threads",
        type=int,
        help="torch threads of each server's forward passes (PINET_TORCH_THREADS; default: "
        "one per core)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    if min(args.duration, args.warmup, args.single_duration) <= 0:
        parser.error("--duration, --warmup and --single-duration must be > 0")
    if min(args.concurrency, args.max_batch_size) < 1 or args.max_wait_ms < 0:
        parser.error("--concurrency and --max-batch-size must be >= 1, --max-wait-ms >= 0")
    if args.widths is not None and args.model is not None:
        parser.error("--widths serves a random-weight model; it does not go with --model")
    if args.server_threads is not None and args.server_threads < 1:
        parser.error("--server-threads must be >= 1")

    # SIGTERM unwinds like Ctrl-C, through the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="pinet-service-load-") as temp:
        temp = Path(temp)
        card = None if args.widths else pick_card(args.models_dir, args.model)
        folder, throwaway = args.models_dir, card is None
        if card is None:
            folder = temp / "models"
            card = throwaway_checkpoint(folder, args.widths or TRUNK_WIDTHS)
        if not takes_benchmark_inputs(card):
            raise SystemExit(
                f"model {card.name!r} expects {card.in_channels} channels; this benchmark "
                f"sends {CHANNELS}x{WINDOW} signals"
            )
        bodies, inputs = request_bodies(card.name, np.random.default_rng(0))
        configs = [
            ServerConfig("unbatched (max batch 1)", 1, 0.0),
            ServerConfig(
                f"batched (max batch {args.max_batch_size}, wait {args.max_wait_ms:g} ms)",
                args.max_batch_size,
                args.max_wait_ms,
            ),
        ]
        results = []
        for index, config in enumerate(configs):
            with running_server(
                folder, config, temp / f"server-{index}.log", args.server_threads
            ) as server:
                results.append(measure(server, config, card.name, bodies, args))
    summary = report(results, args, describe(card, throwaway), inputs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
