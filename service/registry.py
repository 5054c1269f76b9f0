"""The models the service holds: loaded once, warmed up, each with its batcher."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from pinet.checkpoint import ModelCard
from pinet.inference import LoadedModel, load_model
from pinet.model_inputs import network_inputs
from pinet.tda import Recipe, get_recipe
from service.batching import Batcher, BatchStats, forward
from service.exact import ExactPool
from service.settings import Settings

log = logging.getLogger("service")


@dataclass(frozen=True)
class ServedModel:
    """A loaded model, the exact recipe it imitates and the batcher feeding it."""

    loaded: LoadedModel
    recipe: Recipe
    batcher: Batcher

    @property
    def card(self) -> ModelCard:
        return self.loaded.card


class NotReady(Exception):
    """Models are still loading (or failed to load)."""


class ModelRegistry:
    """Every model of the models directory, by name; `ready` once all are loaded and warm."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models: dict[str, ServedModel] = {}
        self.ready = False
        self.problem: str | None = "models are still loading"
        # One thread runs every forward pass: the network already uses all cores (CPU) or
        # the whole GPU, and one stream of batches keeps batches large.
        self._inference = ThreadPoolExecutor(
            1,
            thread_name_prefix="pinet-forward",
            initializer=_set_torch_threads,
            initargs=(settings.torch_threads,),
        )
        self.exact = ExactPool(settings.exact_workers, settings.queue_size)

    def device(self) -> str:
        if self.settings.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.settings.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("PINET_DEVICE=cuda but no CUDA device is available")
        return self.settings.device

    async def load(self) -> None:
        """Load and warm every model; on failure, stay not-ready and say why."""
        try:
            folder = self.settings.models_dir
            names = sorted(p.parent.name for p in folder.glob("*/card.json"))
            if not names:
                raise RuntimeError(f"no models (folders with a card.json) in {folder}")
            device = self.device()
            loop = asyncio.get_running_loop()
            for name in names:
                served = await loop.run_in_executor(
                    self._inference, self._load_one, folder / name, device
                )
                self.models[served.card.name] = served
                served.batcher.start()
                log.info("model %s loaded on %s and warmed up", served.card.name, device)
        except Exception as error:
            self.problem = f"loading models failed: {error}"
            log.exception("loading models failed")
            return
        self.problem = None
        self.ready = True

    def _load_one(self, path: object, device: str) -> ServedModel:
        loaded = load_model(str(path), device)
        card = loaded.card
        recipe = get_recipe(card.recipe.name, card.recipe.params)
        # Warm-up: the first forward pass (cuDNN autotuning, allocator) and the first exact
        # PI (numba compilation) are much slower than the rest.
        # A varied input: a constant one would skip the diagram code that needs compiling.
        example = np.random.default_rng(0).random(card.input_shape)
        forward(loaded, network_inputs(example[None], card.modality))
        # In an exact worker, never here: numba's OpenMP run would reset this thread's
        # OpenMP thread count, which torch shares (measured: 1 -> 2 threads, each forward
        # 2.4 -> 170 ms on a busy 2-core machine).
        self.exact.warm_up(recipe, example)
        batcher = Batcher(
            loaded,
            self._inference,
            max_batch_size=self.settings.max_batch_size,
            max_wait_ms=self.settings.max_wait_ms,
            queue_size=self.settings.queue_size,
        )
        return ServedModel(loaded, recipe, batcher)

    def stats(self) -> dict[str, BatchStats]:
        return {name: served.batcher.stats for name, served in self.models.items()}

    async def close(self) -> None:
        for served in self.models.values():
            await served.batcher.stop()
        self.exact.shutdown()
        self._inference.shutdown(wait=False, cancel_futures=True)


def _set_torch_threads(threads: int | None) -> None:
    """Initialise the forward thread: torch's intra-op threads, when set."""
    if threads is not None:
        torch.set_num_threads(threads)
