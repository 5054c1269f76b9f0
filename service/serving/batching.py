"""Dynamic batching: concurrent requests for one model share a forward pass.

Each model has a `Batcher` with a queue of prepared network inputs (`LoadedModel.prepare`)
and one task that drains it: it takes the oldest waiting input, gathers up to
`max_batch_size` inputs of the same shape that arrive within `max_wait_ms`, and runs them
through the model in one call (`LoadedModel.forward`), in a worker thread so the event loop
stays free. Inputs of another shape wait for a later batch (a batch is one stacked tensor).
While a forward pass runs, new requests accumulate, so under load batches fill up without
any waiting. A client's own batch (`submit_batch`) runs in passes on the same thread,
between the coalesced ones. A pass holds at most `max_batch_size` inputs and at most
`max_pass_elements` values, so its time and memory are bounded whatever the inputs' size;
inputs over `large_input_elements` values run one at a time on a second thread, the model's
large lane, so that a big input never holds up the batches of small ones.

`BatchStats` is the one place that counts what happened (batch sizes, refusals, queue
depth), for /v1/stats and the Prometheus exporter (service/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import torch

from pinet.inference import LoadedModel
from service.errors import InputError, QueueFull


@dataclass
class BatchStats:
    """Counters of one model's batcher. `batch_sizes` maps a batch size to how many forward
    passes had it."""

    requests: int = 0
    rejected: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    queue_depth: int = 0
    max_queue_depth: int = 0

    def as_dict(self) -> dict[str, object]:
        batches = sum(self.batch_sizes.values())
        return {
            "requests": self.requests,
            "rejected": self.rejected,
            "batches": batches,
            "mean_batch_size": sum(k * v for k, v in self.batch_sizes.items()) / batches
            if batches
            else 0.0,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "queue_depth": self.queue_depth,
            "max_queue_depth": self.max_queue_depth,
        }


@dataclass(frozen=True)
class BatchResult:
    """One request's PIs `(C, 50, 50)`, how they were computed, and each channel's largest
    |network input| `(C,)` (for a signal, its largest |z|)."""

    pi: np.ndarray
    batch_size: int
    forward_ms: float
    queue_ms: float
    largest_abs_input: np.ndarray


@dataclass(frozen=True)
class BulkResult:
    """A client batch's PIs `(N, C, 50, 50)`, how many forward passes made them and how long
    they took, waits for the inference thread included, and each input channel's largest
    |network input| `(N, C)` (for a signal, its largest |z|)."""

    pis: np.ndarray
    forward_passes: int
    total_ms: float
    largest_abs_input: np.ndarray


@dataclass(frozen=True)
class BatchLimits:
    """How a batcher forms passes and when it refuses work (see the module docstring)."""

    max_batch_size: int
    max_wait_ms: float
    queue_size: int
    max_pass_elements: int
    large_input_elements: int


@dataclass
class _Job:
    inputs: torch.Tensor  # one prepared network input (C, T) or (C, H, W)
    largest_abs_input: np.ndarray  # (C,)
    future: asyncio.Future[BatchResult]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Coalesces one model's concurrent requests into batched forward passes."""

    def __init__(
        self, model: LoadedModel, lane: Executor, large_lane: Executor, limits: BatchLimits
    ) -> None:
        self.model = model
        self.stats = BatchStats()
        self._lane = lane
        self._large_lane = large_lane
        self._limits = limits
        self._max_wait_s = limits.max_wait_ms / 1000.0
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        # Jobs taken off the queue while gathering a batch of another shape.
        self._deferred: deque[_Job] = deque()
        # Client batches (submit_batch) and large inputs not yet through their passes.
        self._direct_pending = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for a forward pass; a client batch counts as one request until
        its last pass is done."""
        return self._queue.qsize() + len(self._deferred) + self._direct_pending

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batcher-{self.model.card.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for job in [*self._deferred, *_drain(self._queue)]:
            job.future.cancel()

    async def submit(self, x: np.ndarray) -> BatchResult:
        """The PIs `(C, 50, 50)` of one raw input `(C, ...)`, once its batch has run.
        InputError (422) when the input does not fit the model; QueueFull when `queue_size`
        requests are waiting already."""
        inputs = self._prepare(x[None])[0]
        self._admit()
        if inputs.numel() > self._limits.large_input_elements:
            return await self._run_alone(inputs)
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(inputs, _largest_abs(inputs[None])[0], future))
        self._note_depth()
        return await future

    async def submit_batch(self, x: np.ndarray) -> BulkResult:
        """The PIs `(N, C, 50, 50)` of a client's own batch of same-shaped raw inputs
        `(N, C, ...)`, in bounded forward passes on the inference thread (or the large lane,
        for large inputs). Each pass is queued there on its own, so coalesced single requests
        run between them instead of waiting for the whole batch. Raises like `submit`."""
        inputs = self._prepare(x)
        self._admit()
        started = time.perf_counter()
        pis = []
        async with self._direct():
            for chunk in torch.split(inputs, self._pass_size(inputs[0])):
                chunk_pis, _, _ = await self._forward(chunk)
                pis.append(chunk_pis)
        total_ms = (time.perf_counter() - started) * 1000.0
        return BulkResult(np.concatenate(pis), len(pis), total_ms, _largest_abs(inputs))

    async def _run_alone(self, inputs: torch.Tensor) -> BatchResult:
        """One large input in a pass of its own, on the large lane."""
        enqueued = time.perf_counter()
        async with self._direct():
            pis, started, forward_ms = await self._forward(inputs[None])
        queue_ms = (started - enqueued) * 1000.0
        return BatchResult(pis[0], 1, forward_ms, queue_ms, _largest_abs(inputs[None])[0])

    @contextlib.asynccontextmanager
    async def _direct(self) -> AsyncIterator[None]:
        """Count work that bypasses the queue in the depth while it runs."""
        self._direct_pending += 1
        self._note_depth()
        try:
            yield
        finally:
            self._direct_pending -= 1
            self._note_depth()

    async def _forward(self, batch: torch.Tensor) -> tuple[np.ndarray, float, float]:
        """PIs of one pass, on the lane its inputs' size calls for; when it started (perf
        counter) and how long it took, in ms, both as seen by the lane's thread."""
        large = batch[0].numel() > self._limits.large_input_elements
        lane = self._large_lane if large else self._lane
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(lane, _timed, self.model.forward, batch)
        self.stats.batch_sizes[len(batch)] += 1
        return result

    def _pass_size(self, one: torch.Tensor) -> int:
        """Inputs like `one` in a forward pass: at most max_batch_size, at most
        max_pass_elements values in all, at least one."""
        by_elements = self._limits.max_pass_elements // max(one.numel(), 1)
        return max(1, min(self._limits.max_batch_size, by_elements))

    def _prepare(self, batch: np.ndarray) -> torch.Tensor:
        """Network inputs of a raw batch, checked against the model's card (422 if not)."""
        try:
            return self.model.prepare(batch)
        except ValueError as error:
            raise InputError(str(error)) from None

    def _admit(self) -> None:
        """Count a request; QueueFull when `queue_size` requests are waiting already."""
        self.stats.requests += 1
        if self.depth >= self._limits.queue_size:
            self.stats.rejected += 1
            raise QueueFull(
                f"model {self.model.card.name!r} has {self.depth} requests waiting "
                f"(queue size {self._limits.queue_size}); retry shortly"
            )

    def _note_depth(self) -> None:
        self.stats.queue_depth = self.depth
        self.stats.max_queue_depth = max(self.stats.max_queue_depth, self.depth)

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            self._note_depth()
            if batch:
                await self._run_batch(batch)

    async def _gather(self) -> list[_Job]:
        """The oldest waiting job and as many more of its shape as a pass may hold."""
        first = self._deferred.popleft() if self._deferred else await self._queue.get()
        shape = first.inputs.shape
        size = self._pass_size(first.inputs)
        batch = [first]
        later: deque[_Job] = deque()
        while self._deferred:
            job = self._deferred.popleft()
            fits = job.inputs.shape == shape and len(batch) < size
            (batch if fits else later).append(job)
        self._deferred = later

        deadline = time.perf_counter() + self._max_wait_s
        while len(batch) < size:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            (batch if job.inputs.shape == shape else self._deferred).append(job)
        # A client that went away has cancelled its future: no need to compute for it.
        return [job for job in batch if not job.future.done()]

    async def _run_batch(self, batch: list[_Job]) -> None:
        try:
            pis, started, forward_ms = await self._forward(
                torch.stack([job.inputs for job in batch])
            )
        except Exception as error:  # the inputs were validated: this is a server fault
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        for job, pi in zip(batch, pis, strict=True):
            if not job.future.done():
                queue_ms = (started - job.enqueued) * 1000.0
                result = BatchResult(pi, len(batch), forward_ms, queue_ms, job.largest_abs_input)
                job.future.set_result(result)


def _timed(
    forward: Callable[[torch.Tensor], np.ndarray], batch: torch.Tensor
) -> tuple[np.ndarray, float, float]:
    """`forward(batch)`, when it started (perf counter) and how long it took (ms)."""
    started = time.perf_counter()
    pis = forward(batch)
    return pis, started, (time.perf_counter() - started) * 1000.0


def _largest_abs(inputs: torch.Tensor) -> np.ndarray:
    """Each channel's largest |value| of prepared inputs `(N, C, ...)`, as `(N, C)`: read off
    the network inputs, so a signal's z-scores are not computed a second time."""
    return inputs.flatten(2).abs().amax(dim=-1).numpy()


def _drain(queue: asyncio.Queue[_Job]) -> list[_Job]:
    jobs = []
    while not queue.empty():
        jobs.append(queue.get_nowait())
    return jobs
