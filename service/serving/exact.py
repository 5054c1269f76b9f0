"""Exact diagrams and persistence images, computed in worker threads: for compare mode (the
recipe the model was trained to imitate, `get_recipe(card.recipe.name, card.recipe.params)`)
and for the topology routes (any recipe a client names).

The exact pipeline (diagrams, then images) is CPU-bound and can take seconds for large
inputs or expensive recipes, so it never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pinet.tda import Recipe
from pinet.tda.recipes import Diagrams
from service.errors import InputError, QueueFull


@dataclass(frozen=True)
class ExactResult:
    """`(C, 50, 50)` float32 exact PIs, the finite diagrams they were drawn from (one
    `(k, 2)` array per channel), each pair's homology dimension (one `(k,)` array per
    channel) and the time each stage took."""

    pi: np.ndarray
    diagrams: Diagrams
    dimensions: list[np.ndarray]
    diagram_ms: float
    image_ms: float

    @property
    def total_ms(self) -> float:
        return self.diagram_ms + self.image_ms


def exact_pis(recipe: Recipe, x: np.ndarray) -> ExactResult:
    """The recipe's PIs of one raw input `(C, T)` / `(C, H, W)`, timed per stage; the same
    values as `recipe.images(x)`."""
    started = time.perf_counter()
    diagrams, dimensions = recipe.diagrams_with_dimensions(x)
    drawn = time.perf_counter()
    pi = recipe.render(diagrams)
    done = time.perf_counter()
    return ExactResult(
        pi, diagrams, dimensions, (drawn - started) * 1000.0, (done - drawn) * 1000.0
    )


class ExactPool:
    """A bounded pool of threads for exact PIs; refuses work beyond `queue_size` pending.

    A computation counts as pending until its thread is done with it, not until its request
    stops waiting: a request cut off by its time budget cancels a computation that has not
    started, but one already running cannot be stopped, and it keeps its place in the count
    until it ends, so abandoned work cannot pile up beyond the bound.
    """

    def __init__(self, workers: int, queue_size: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="exact-pi")
        self._queue_size = queue_size
        self._pending = 0
        self._lock = threading.Lock()  # done callbacks run on the worker threads

    async def compute(self, recipe: Recipe, x: np.ndarray) -> ExactResult:
        """`recipe`'s diagrams and PIs of one raw input, on a worker thread; QueueFull (503)
        when `queue_size` computations are pending already, InputError (422) when the
        recipe cannot take the input."""
        with self._lock:
            if self._pending >= self._queue_size:
                raise QueueFull(
                    f"{self._pending} exact computations are pending; retry shortly (or, to "
                    "/v1/*/pi, send compare=false)"
                )
            self._pending += 1
        future = self._executor.submit(exact_pis, recipe, x)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wrap_future(future)
        except ValueError as error:
            # A recipe raises ValueError for an input it cannot take, naming why (values that
            # overflow its filtration at its parameters): the client's to change, a 422.
            raise InputError(str(error)) from None

    def _release(self, _: object) -> None:
        with self._lock:
            self._pending -= 1

    def warm_up(self, recipe: Recipe, x: np.ndarray) -> None:
        """Compute the exact PIs of `x` once on a worker (compiling the numba code), and wait."""
        self._executor.submit(exact_pis, recipe, x).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
