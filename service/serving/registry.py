"""The models the service holds: loaded once, warmed up, each with its batcher; and how a
request reaches one of them."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from pinet.card import ModelCard
from pinet.inference import LoadedModel, load_model
from pinet.modality import PLURALS, SPATIAL_DIMS, Modality
from pinet.tda import RELEASED_RECIPES, Recipe, get_recipe
from pinet.tda.recipes.sublevel import SignalSublevel
from service.errors import LOADING_FAILED, InputError
from service.schemas import ModelRef, RecipeInfo
from service.serving.batching import Batcher, BatchLimits, BatchStats
from service.serving.exact import ExactPool, ExactResult
from service.settings import Settings

log = logging.getLogger("service")


@dataclass(frozen=True)
class ServedModel:
    """A loaded model, the exact recipe it imitates, the batcher that prepares inputs for
    it and runs them in batches, and the pool that computes exact PIs for comparison."""

    loaded: LoadedModel
    recipe: Recipe
    batcher: Batcher
    exact_pool: ExactPool
    parameters: int  # of the network: what a forward pass's cost grows with

    @property
    def card(self) -> ModelCard:
        return self.loaded.card

    @cached_property
    def reference(self) -> ModelRef:
        """The model's name and recipe as every PI response names them: built once, since
        the recipe's parameters are gathered anew on each call of `Recipe.params`."""
        recipe = RecipeInfo(name=self.recipe.name, params=self.recipe.params)
        return ModelRef(name=self.card.name, recipe=recipe)

    async def exact(self, x: np.ndarray) -> ExactResult:
        """Exact PIs of one raw input by the model's recipe, off the event loop."""
        return await self.exact_pool.compute(self.recipe, x)

    def notes(
        self, shape: tuple[int, ...], largest_abs_input: np.ndarray, far_value_z: float
    ) -> list[str]:
        """Notes on one input `(C, *S)` of `shape` (or a batch of them, their network
        inputs' largest |value| by channel `(N, C)`) where learned PIs are known to be weak:
        outside what the model was trained on (`range_note`), or, for a sublevel signal
        model, channels with values `far_value_z` or more standard deviations from their
        mean (`far_value_note`)."""
        notes = [self.range_note(shape)]
        # The recipe whose learned PIs were measured weakest on such channels (docs/api.md;
        # `pinet eval`'s `per_largest_z`).
        if self.recipe.name == SignalSublevel.name:
            notes.append(far_value_note(largest_abs_input, far_value_z))
        return [note for note in notes if note is not None]

    def range_note(self, shape: tuple[int, ...]) -> str | None:
        """A note when one input `(C, *S)` lies outside what the model was trained on: its
        PIs are then extrapolation, often much worse than the card's metrics say."""
        ranges = self.card.training_ranges
        reason = None if ranges is None else ranges.outside(shape)
        if reason is None:
            return None
        return (
            f"outside the training range of model {self.card.name!r}: {reason}; its PIs "
            "are extrapolation and may be far less accurate than its metrics"
        )


_LISTED = 8  # inputs named in a batch's far-value note before "..."


def far_value_note(largest_abs_z: np.ndarray, threshold: float) -> str | None:
    """A note when channels of a batch of N signals, whose largest |z| by channel are
    `largest_abs_z` `(N, C)`, reach `threshold` or more standard deviations from their
    mean, or None. A sublevel PI's longest bars are born at a channel's deepest values and
    die at its highest; learned PIs place them too short and too shallow, the more so the
    farther those values lie (measured by band for `signal-broad` on Daphnet's test windows:
    docs/training.md, "Commands used for the bundled models")."""
    far = largest_abs_z >= threshold
    if not far.any():
        return None
    advice = (
        f"learned sublevel PIs are least accurate on channels {threshold:g} or more standard "
        "deviations from their mean, whose longest bars they place too short and too shallow"
    )
    if len(largest_abs_z) == 1:
        reach = ", ".join(f"{c} ({largest_abs_z[0, c]:.1f})" for c in np.flatnonzero(far[0]))
        return (
            f"channels reaching far from their mean, by standard deviations: {reach}; "
            f"{advice}: compare=true or POST /v1/signals/topology gives the exact PIs"
        )
    inputs = np.flatnonzero(far.any(axis=1))
    named = ", ".join(map(str, inputs[:_LISTED])) + (", ..." if len(inputs) > _LISTED else "")
    return (
        f"{len(inputs)} of the {len(far)} inputs have a channel reaching far from its mean "
        f"(inputs {named}); {advice}: POST /v1/signals/topology gives the exact PIs"
    )


class ModelRegistry:
    """Every model of the models directory, by name; `ready` once all are loaded and warm."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models: dict[str, ServedModel] = {}
        self.defaults: dict[Modality, str] = {}  # the model of a request naming none
        self.ready = False
        self.problem: str | None = "models are still loading"
        # Each model has two threads for its forward passes, its lane for batches and its
        # large lane (see service.serving.batching): a network already uses all cores (CPU)
        # or the whole GPU, one stream of batches keeps batches large, and one model's work
        # never waits for another's.
        self._lanes: list[ThreadPoolExecutor] = []
        self.exact = ExactPool(settings.exact_workers, settings.queue_size)

    async def load(self) -> None:
        """Load and warm every model; on failure, stay not-ready and say why."""
        try:
            folder = self.settings.models_dir
            names = sorted(p.parent.name for p in folder.glob("*/card.json"))
            if not names:
                raise RuntimeError(f"no models (folders with a card.json) in {folder}")
            loop = asyncio.get_running_loop()
            for name in names:
                lane, large_lane = self._lane(f"{name}-forward"), self._lane(f"{name}-large")
                served = await loop.run_in_executor(
                    lane, self._load_one, folder / name, lane, large_lane
                )
                self.models[served.card.name] = served
                served.batcher.start()
                log.info("model %s loaded on %s and warmed up", name, served.loaded.device)
            cards = {name: served.card for name, served in self.models.items()}
            sizes = {name: served.parameters for name, served in self.models.items()}
            cuda = any(m.loaded.device.type == "cuda" for m in self.models.values())
            self.defaults = default_models(cards, sizes, self.settings.default_models, cuda=cuda)
            log.info("default models: %s", self.defaults)
        except Exception as error:
            self.problem = f"{LOADING_FAILED}: {error}"
            log.exception("loading models failed")
            return
        self.problem = None
        self.ready = True

    def _lane(self, name: str) -> ThreadPoolExecutor:
        """A thread for one model's forward passes, with the configured torch threads."""
        lane = ThreadPoolExecutor(
            1,
            thread_name_prefix=name,
            initializer=_set_torch_threads,
            initargs=(self.settings.torch_threads,),
        )
        self._lanes.append(lane)
        return lane

    def _load_one(
        self, path: Path, lane: ThreadPoolExecutor, large_lane: ThreadPoolExecutor
    ) -> ServedModel:
        loaded = load_model(
            path,
            self.settings.device,
            spinning=self.settings.onnxruntime_spinning,
            seven_bit=self.settings.seven_bit_graphs,
        )
        card = loaded.card
        recipe = get_recipe(card.recipe.name, card.recipe.params)
        # Warm-up: the first forward pass (cuDNN autotuning, allocator) and the first exact
        # PI (numba compilation) are much slower than the rest.
        # A varied input: a constant one would skip the diagram code that needs compiling.
        example = np.random.default_rng(0).random(card.input_shape)
        loaded.forward(loaded.prepare(example[None]))
        # In an exact worker, never here: numba's OpenMP run would reset this thread's
        # OpenMP thread count, which torch shares (measured: 1 -> 2 threads, each forward
        # 2.4 -> 170 ms on a busy 2-core machine). On the smallest input the model takes:
        # compiling does not depend on the size, and a Rips recipe's cost grows steeply with it
        # (seconds for a 32x32 image).
        spatial = (slice(0, card.min_input_size),) * SPATIAL_DIMS[card.modality]
        self.exact.warm_up(recipe, example[(slice(None), *spatial)])
        limits = BatchLimits(
            max_batch_size=self.settings.max_batch_size,
            max_wait_ms=self.settings.max_wait_ms,
            queue_size=self.settings.queue_size,
            max_pass_elements=self.settings.max_pass_elements,
            large_input_elements=self.settings.large_input_elements,
        )
        batcher = Batcher(loaded, lane, large_lane, limits)
        parameters = card.build_network().parameter_count  # built, not loaded
        return ServedModel(loaded, recipe, batcher, self.exact, parameters)

    def pick(self, name: str | None, modality: Modality) -> ServedModel:
        """The model called `name`, or the default of `modality` (`default_models`) when no
        name is given; InputError 404 for an unknown name, 422 for a model of the other
        modality."""
        if name is None:
            if modality not in self.defaults:
                raise InputError(
                    f"no {modality} model is loaded; GET /v1/models lists them", status_code=404
                )
            return self.models[self.defaults[modality]]
        served = self.models.get(name)
        if served is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise InputError(f"unknown model {name!r}; loaded models: {known}", status_code=404)
        if served.card.modality != modality:
            other = PLURALS[served.card.modality]
            raise InputError(f"model {name!r} takes {other}; POST to /v1/{other}/pi instead")
        return served

    def stats(self) -> dict[str, BatchStats]:
        return {name: served.batcher.stats for name, served in self.models.items()}

    async def close(self) -> None:
        for served in self.models.values():
            await served.batcher.stop()
        self.exact.shutdown()
        for lane in self._lanes:
            lane.shutdown(wait=False, cancel_futures=True)


def default_models(
    cards: Mapping[str, ModelCard],
    sizes: Mapping[str, int],
    chosen: Mapping[Modality, str],
    *,
    cuda: bool,
) -> dict[Modality, str]:
    """The model that answers requests naming none, for each modality that has one: the one
    `chosen` names (PINET_DEFAULT_MODELS), else the device's rule among the models of the
    modality's released recipe (`RELEASED_RECIPES`: a request naming no model asks for
    PI-Net's PIs; other recipes' models answer when named), or among all of its models if
    none is. On CUDA a forward pass is cheap whatever the model, so the most accurate
    answers (lowest test MSE over the mean PI's). On a CPU a large PI-Net is slower than the
    exact recipe it imitates (the bundled 64..512 signal model by 14x), so the cheapest
    forward pass answers: an int8 graph (5-7x torch float32 of the same network) before
    weights for torch, then the fewest parameters (a GroupNorm network has as many as its
    BatchNorm twin and runs 9x slower in int8: it loses on the first count). A request names
    the more accurate one when it wants it. ValueError for a chosen name that is not loaded
    or of another modality. `sizes` are the networks' parameter counts."""
    defaults: dict[Modality, str] = {}
    for modality, name in chosen.items():
        if name not in cards or cards[name].modality != modality:
            loaded = ", ".join(n for n in sorted(cards) if cards[n].modality == modality)
            raise ValueError(
                f"default_models names {name!r} for {modality}s; the {modality} models loaded "
                f"are: {loaded or 'none'}"
            )
        defaults[modality] = name

    def preference(name: str) -> tuple[float, ...]:  # lower is preferred
        card = cards[name]
        other_recipe = card.recipe.name != RELEASED_RECIPES[card.modality]
        error = card.metrics.get("test_mse_vs_mean_pi", math.inf)
        if cuda:
            return (other_recipe, error, sizes[name])
        int8 = card.runtime is not None and card.runtime.precision == "int8"
        return (other_recipe, not int8, sizes[name], error)

    for name in sorted(cards):
        modality = cards[name].modality
        if modality in chosen:
            continue
        best = defaults.get(modality)
        if best is None or preference(name) < preference(best):
            defaults[modality] = name
    return defaults


def _set_torch_threads(threads: int | None) -> None:
    """Initialise the forward thread: torch's intra-op threads, when set."""
    if threads is not None:
        torch.set_num_threads(threads)
