"""Run the service as a child process on 127.0.0.1, configured by PINET_* variables exactly
as in production, and wait until it is ready: for the tests, the benchmarks and scripts that
need a real server rather than an app object."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.errors import LOADING_FAILED

REPOSITORY = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class ServerFailed(RuntimeError):
    """The server exited or did not become ready; the message holds its log."""


@dataclass(frozen=True)
class Server:
    """A running server: its base URL, the models it serves, its log file, its process."""

    url: str
    models_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def wait_until_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Return once /readyz answers 200; ServerFailed if the process exits, its models
        fail to load, or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise ServerFailed(f"server exited with {code}:\n{self.log.read_text()}")
            try:
                answer = httpx.get(f"{self.url}/readyz", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if answer.status_code == 200:
                return
            if LOADING_FAILED in answer.text:  # it would stay up, never ready: say so now
                raise ServerFailed(f"{answer.text}\n{self.log.read_text()}")
            time.sleep(0.1)
        raise ServerFailed(f"server not ready after {timeout_s} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it has not exited in time."""
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    models_dir: Path,
    log: Path,
    *,
    via_main: bool = True,
    port: int | None = None,
    **settings: object,
) -> Server:
    """Start a server on 127.0.0.1 serving `models_dir` on the CPU, writing its output to
    `log`: `python -m service` (via_main) or uvicorn's factory command line. `settings` are
    PINET_* variables by their lower-case names (max_batch_size=1); the caller's other
    PINET_* variables are dropped. Call `wait_until_ready` before using it."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINET_")}
    env |= {"PINET_MODELS_DIR": str(models_dir), "PINET_DEVICE": "cpu"}
    env |= {f"PINET_{key.upper()}": str(value) for key, value in settings.items()}
    if via_main:
        command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPOSITORY, env=env, stdout=out, stderr=out)
    return Server(f"http://127.0.0.1:{port}", models_dir, log, process)
