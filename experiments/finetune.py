"""Transfer of a trained PI-Net to a target data set (SPEC 8): fine-tune it on the target's
exact training PIs with PI-Net's own objective, on all of them (FA) or on a subset (FS).

The pieces are pinet's: the MSE objective (`MeanSquaredError`), the exact symmetries the
bundled models were trained with (`exact_symmetries`), inputs prepared as the model's card
says; the loop is the experiments' seeded `fit` (Adam, cosine learning rate) from the given
weights. `pinet.train.train --init` does not fit this transfer: it trains on a whole store
for whole epochs (FS needs a seeded subset, both a bounded number of steps), and it refuses
the 3-channel `image-photos` for a 1-channel store although per-channel weights are the
same for any channel count.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from experiments.classify import Inputs, Schedule, fit, seeded
from pinet.inference import LoadedModel, TorchBackend, predict
from pinet.train import MeanSquaredError
from pinet.train.data import exact_symmetries

FS_FRACTION = 0.1  # the subset (FS) is this fraction of the target's training images
_PREDICT_BATCH = 256  # images per forward pass when computing PIs: bounded memory


@dataclass(frozen=True)
class FineTuning:
    """How long and how fast a PI-Net is fine-tuned: about `samples` (image, PI) pairs are
    drawn in all (whole passes over a smaller set), `batch_size` at a time, whatever the
    size of the set they are drawn from, so that FA and FS cost about the same."""

    samples: int
    batch_size: int = 64
    lr: float = 3e-4


def fs_subset(count: int, seed: int, fraction: float = FS_FRACTION) -> np.ndarray:
    """Sorted indices of the FS subset: `round(fraction * count)` of `count` training
    images (at least one), drawn without replacement by `seed`."""
    size = max(1, round(fraction * count))
    return np.sort(np.random.default_rng(seed).choice(count, size, replace=False))


def fine_tuned(
    model: LoadedModel,
    images: np.ndarray,
    pis: np.ndarray,
    plan: FineTuning,
    seed: int,
    threads: int,
) -> LoadedModel:
    """A copy of `model` (torch backend) fine-tuned on `images` `(N, C, H, W)` in [0, 1] and
    their exact PIs `(N, C, 50, 50)`: one shuffled pass over a seeded draw of `plan.samples`
    of them when there are at least that many, else as many whole passes as come closest."""
    if not isinstance(model.backend, TorchBackend):
        raise ValueError(f"fine-tuning needs a torch model; {model.card.name!r} runs on ONNX")
    generator = seeded(seed, threads)
    network = copy.deepcopy(model.backend.network)
    rng = np.random.default_rng(seed)
    if len(images) > plan.samples:
        rows = np.sort(rng.choice(len(images), plan.samples, replace=False))
        images, pis = images[rows], pis[rows]
    epochs = max(1, round(plan.samples / len(images)))
    schedule = Schedule(epochs, plan.batch_size, plan.lr, weight_decay=0.0)
    inputs, targets = model.prepare(images), torch.from_numpy(np.asarray(pis, np.float32))
    fit(network, (inputs,), targets, schedule, generator, loss=_symmetric_mse)
    return LoadedModel(model.card, TorchBackend(network, model.backend.device))


def _symmetric_mse(
    network: nn.Module, inputs: Inputs, pis: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """PI-Net's MSE on each pair mapped by a random exact symmetry (`--augment`)."""
    images, pis = exact_symmetries(inputs[0], pis, generator)
    return MeanSquaredError()(network, images, pis)


def learned_pis(model: LoadedModel, images: np.ndarray) -> np.ndarray:
    """`(N, C, 50, 50)` PIs of `images` `(N, C, H, W)` in [0, 1] by `model`, a batch at a
    time."""
    return np.concatenate(
        [
            predict(model, images[start : start + _PREDICT_BATCH])
            for start in range(0, len(images), _PREDICT_BATCH)
        ]
    )
