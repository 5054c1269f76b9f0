"""Service throughput of several models' batched servers side by side, and of dynamic
batching on and off, against real servers, in one run.

For each model named by `--model` (a model of the models directory, or a checkpoint folder:
card.json + weights), `python -m service` on 127.0.0.1 (on the CPU; `--device cuda`: the
GPU), started by `service.launcher` and configured by PINET_* variables as in production,
serves that model alone: batching (up
to `--max-batch-size` requests per forward pass, waiting at most `--max-wait-ms` for them)
and, with `--unbatched` (the default for a single model), also not (PINET_MAX_BATCH_SIZE=1).
The servers run one after the other under the same conditions. Each gets `--warmup` seconds
of load, then `--single-duration` seconds of sequential requests (concurrency 1: the latency
one client sees on an idle server), then a closed-loop load of `--concurrency` clients for
`--duration` seconds (`benchmarks/load_client.py`): every client POSTs a signal as JSON to
/v1/signals/pi, waits for the whole response (JSON PIs, or .npy with `--format npy`) and
sends the next. The table says what each server runs (backend and precision, from GET
/v1/models), its requests/s, p50 / p99 and CPU, and its ratios to the first model's server
of the same batching. The targets: a batched server >= 3x its unbatched one's requests/s at
no worse p99 (issue 4); a later model's batched server, a student's, >= 2x the first one's
(the teacher's) at no worse p99.

Without `--model`, the served model is the signal model the service answers with on a CPU
(its smallest) of the models directory (the service's, or `--models-dir`); with none there,
or with `--widths`, a random-weight checkpoint of that size (float16, as released) in a
temporary folder: a forward's cost does not depend on the weights.

    python benchmarks/service_load.py [--model NAME_OR_FOLDER ...] [--models-dir DIR]
        [--widths a,b,c,d] [--unbatched | --no-unbatched] [--duration S] [--concurrency N]
        [--max-batch-size N] [--max-wait-ms MS] [--format json|npy] [--warmup S]
        [--single-duration S] [--server-threads N] [--device cpu|cuda]
        [--onnxruntime-spinning] [--json PATH]

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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inference import device_name
from benchmarks.inputs import CHANNELS, WINDOW, accelerometer_windows
from benchmarks.load_client import CLIENT_TIMEOUT_S, closed_loop, post_requests
from benchmarks.load_results import ServerConfig, ServerResult, baseline, verdicts
from benchmarks.served_models import ServedCheckpoint, request_bodies, served_checkpoints
from pinet.inference import models_dir
from pinet.nets import TRUNK_WIDTHS
from pinet.provenance import library_versions, utc_now
from pinet.tda import PI_SIZE
from pinet.train.options import parse_widths
from service.launcher import Server, ServerFailed, launch

DISTINCT_SIGNALS = 64  # request bodies cycled through, so the server sees varied inputs
SERVING_PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "httpx", "orjson")
JSON_HEADERS = {"content-type": "application/json"}


@contextmanager
def running_server(
    served: ServedCheckpoint, config: ServerConfig, log: Path, args: argparse.Namespace
) -> Iterator[Server]:
    """A ready `python -m service` with `config` and the threads `args` ask for; stopped on
    the way out, whatever happens. SystemExit with the server's log when it does not come up."""
    threads = {} if args.server_threads is None else {"torch_threads": args.server_threads}
    server = launch(
        served.folder,
        log,
        via_main=True,
        max_batch_size=config.max_batch_size,
        max_wait_ms=config.max_wait_ms,
        onnxruntime_spinning=args.onnxruntime_spinning,
        device=args.device,
        **threads,
    )
    try:
        server.wait_until_ready()
        yield server
    except ServerFailed as error:
        raise SystemExit(f"{served.card.name}, {config.label}: {error}") from error
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


def runs_on(client: httpx.Client, model_name: str) -> str:
    """'backend / precision' of the model, as the server's GET /v1/models says."""
    models = client.get("/v1/models").raise_for_status().json()["models"]
    info = next(m for m in models if m["name"] == model_name)
    return f"{info['backend']} / {info['precision']}"


def measure(
    server: Server,
    served: ServedCheckpoint,
    config: ServerConfig,
    bodies: list[bytes],
    args: argparse.Namespace,
) -> ServerResult:
    """Warm-up load, sequential requests, then the measured load against one server."""
    name = served.card.name
    url = f"{server.url}/v1/signals/pi?format={args.format}"
    requests = post_requests(url, bodies)
    pid = server.process.pid
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
        answer = client.post(url, content=bodies[0], headers=JSON_HEADERS).raise_for_status()
        if learned_pis(answer, args.format).shape != (CHANNELS, PI_SIZE, PI_SIZE):
            raise SystemExit(f"{name}, {config.label}: unexpected answer {answer.text[:200]}")
        asyncio.run(closed_loop(url, requests, args.concurrency, args.warmup, pid))
        single = asyncio.run(closed_loop(url, requests, 1, args.single_duration, pid))
        before = batch_sizes(client, name)
        load_average = os.getloadavg()
        load = asyncio.run(closed_loop(url, requests, args.concurrency, args.duration, pid))
        during = batch_sizes(client, name) - before
        backend = runs_on(client, name)
    return ServerResult(name, backend, config, single, load, during, load_average)


# --- report -------------------------------------------------------------------------------


def report(
    results: list[ServerResult],
    served: list[ServedCheckpoint],
    args: argparse.Namespace,
    inputs: str,
) -> dict[str, object]:
    """Print the table and the targets; return everything for --json."""
    threads = args.server_threads or "the default (one per core)"
    spinning = "on" if args.onnxruntime_spinning else "off"
    print(
        f"machine: {device_name(torch.device(args.device))}; server torch threads: {threads}; "
        f"onnxruntime spinning: {spinning}"
    )
    for model in served:
        print(f"model: {model.describe()}")
    print(
        f"requests: {DISTINCT_SIGNALS} JSON signals {CHANNELS}x{WINDOW} ({inputs}), cycled; "
        f"responses: {args.format}"
    )
    print(
        f"load: {args.concurrency} closed-loop clients for {args.duration:g} s per server, "
        f"after {args.warmup:g} s of warm-up and {args.single_duration:g} s of sequential "
        "requests (single); servers run one at a time"
    )
    loads = ", ".join(
        f"{r.model} {r.config.label} {' / '.join(f'{x:.2f}' for x in r.load_average)}"
        for r in results
    )
    print(f"load average (1 / 5 / 15 min) before each measured load: {loads}\n")
    print(
        "| model | runs on | server | requests/s | p50 (ms) | p99 (ms) | single p50 (ms) "
        "| single p99 (ms) | mean batch | 503 / failed | CPU cores server / client "
        "| requests/s / p99 vs first |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        print(result.markdown(baseline(result, results)))
    print()
    checks = verdicts(results)
    for verdict in checks:
        print(verdict.line())
    return {
        "benchmark": "benchmarks/service_load.py",
        "created": utc_now(),
        "versions": library_versions() | {p: version(p) for p in SERVING_PACKAGES},
        "machine": device_name(torch.device(args.device)),
        "settings": {key: value for key, value in vars(args).items() if key != "json"},
        "models": [model.describe() for model in served],
        "inputs": inputs,
        "servers": [r.summary(baseline(r, results)) for r in results],
        "targets": [asdict(verdict) | {"met": verdict.met} for verdict in checks],
    }


def parse_arguments() -> argparse.Namespace:
    """The command line, checked (a bad value exits with the parser's message), with the
    defaults that depend on other options filled in (`unbatched`, `model`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models-dir", type=Path, default=models_dir(), help="default: %(default)s"
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="a signal model of the models dir or a checkpoint folder, served alone; repeat "
        "to compare (ratios to the first; default: the models dir's default signal model on a CPU)",
    )
    parser.add_argument(
        "--widths",
        type=parse_widths,
        help="serve a random-weight model of these trunk filters instead (default without a "
        f"signal model in the models dir: {','.join(map(str, TRUNK_WIDTHS))})",
    )
    parser.add_argument(
        "--unbatched",
        action=argparse.BooleanOptionalAction,
        help="also serve each model unbatched (default: with a single model)",
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
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the servers run their models (PINET_DEVICE; default: %(default)s)",
    )
    parser.add_argument(
        "--onnxruntime-spinning",
        action="store_true",
        help="let onnxruntime's idle threads busy-wait (PINET_ONNXRUNTIME_SPINNING; default: off)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    if min(args.duration, args.warmup, args.single_duration) <= 0:
        parser.error("--duration, --warmup and --single-duration must be > 0")
    if min(args.concurrency, args.max_batch_size) < 1 or args.max_wait_ms < 0:
        parser.error("--concurrency and --max-batch-size must be >= 1, --max-wait-ms >= 0")
    if args.max_batch_size == 1:
        parser.error("--max-batch-size 1 is the unbatched server; ask for it with --unbatched")
    if args.widths is not None and args.model:
        parser.error("--widths serves a random-weight model; it does not go with --model")
    if args.server_threads is not None and args.server_threads < 1:
        parser.error("--server-threads must be >= 1")
    if args.unbatched is None:
        args.unbatched = len(args.model) <= 1
    args.model = args.model or [None]
    return args


def main() -> None:
    args = parse_arguments()
    configs = [ServerConfig(args.max_batch_size, args.max_wait_ms)]
    if args.unbatched:
        configs.insert(0, ServerConfig(1, 0.0))
    windows, inputs = accelerometer_windows(DISTINCT_SIGNALS, np.random.default_rng(0))
    # SIGTERM unwinds like Ctrl-C, through the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="pinet-service-load-") as temp:
        served = served_checkpoints(args, Path(temp))
        results = []
        for index, model in enumerate(served):
            bodies = request_bodies(model.card.name, windows)
            for config in configs:
                log = Path(temp) / f"server-{index}-{config.max_batch_size}.log"
                with running_server(model, config, log, args) as server:
                    results.append(measure(server, model, config, bodies, args))
    summary = report(results, served, args, inputs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
