"""Exact persistence images for compare mode, computed in worker threads.

The exact pipeline (diagrams, then images) is CPU-bound and can take seconds for large
inputs or expensive recipes, so it never runs on the event loop. The recipe is the one the
model was trained to imitate: `get_recipe(card.recipe.name, card.recipe.params)`.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pinet.tda import Recipe
from service.errors import QueueFull


@dataclass(frozen=True)
class ExactResult:
    """`(C, 50, 50)` float32 exact PIs and the time each stage took."""

    pi: np.ndarray
    diagram_ms: float
    image_ms: float

    @property
    def total_ms(self) -> float:
        return self.diagram_ms + self.image_ms


def exact_pis(recipe: Recipe, x: np.ndarray) -> ExactResult:
    """The recipe's PIs of one raw input `(C, T)` / `(C, H, W)`, timed per stage; the same
    values as `recipe.images(x)`."""
    started = time.perf_counter()
    diagrams = recipe.diagrams(x)
    drawn = time.perf_counter()
    pi = recipe.render(diagrams)
    done = time.perf_counter()
    return ExactResult(pi, (drawn - started) * 1000.0, (done - drawn) * 1000.0)


class ExactPool:
    """A bounded pool of threads for exact PIs; refuses work beyond `queue_size` waiting."""

    def __init__(self, workers: int, queue_size: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="exact-pi")
        self._queue_size = queue_size
        self._pending = 0

    async def compute(self, recipe: Recipe, x: np.ndarray) -> ExactResult:
        if self._pending >= self._queue_size:
            raise QueueFull(
                f"{self._pending} exact computations are pending; retry shortly or "
                "send compare=false"
            )
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, exact_pis, recipe, x)
        finally:
            self._pending -= 1

    def warm_up(self, recipe: Recipe, x: np.ndarray) -> None:
        """Compute the exact PIs of `x` once on a worker (compiling the numba code), and wait."""
        self._executor.submit(exact_pis, recipe, x).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
