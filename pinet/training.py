"""Fit a PI-Net to a ground-truth store, and evaluate one.

The loop is plain PyTorch: MSE on persistence images, Adam with a cosine schedule by default
(or the released optimiser), validation on whole groups (users, photos) held out of the
training split, a checkpoint every epoch plus the best, and bit-for-bit resumption: the data
order of an epoch is a function of (seed, epoch) only, and the optimiser state travels with
the weights.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from pinet.checkpoint import DataSourceRef, ModelCard, RecipeRef, load_checkpoint, save_checkpoint
from pinet.inference import LoadedModel, autocast, forward_pis, load_model, predict
from pinet.model_inputs import network_inputs
from pinet.models import TRUNK_WIDTHS, build_model, reversed_spatially
from pinet.store import GroundTruthStore

Optimiser = Literal["released", "adam"]
_LAST = "last"  # file naming the newest complete epoch checkpoint
_WINDOW_CHUNKS = 8  # store chunks shuffled together: random enough, each chunk read once
_PRELOAD_BATCH = 4096  # samples decoded and copied at a time by --preload
_PRELOAD_SHARE = 0.8  # of the free memory --preload may take: the model and steps need some
_PROGRESS_EVERY = 50  # batches between progress-bar loss updates (each one waits for the GPU)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in the model card).

    `optimiser='released'` is the authors' Adam (beta1 0.99, eps 0.1) with the learning
    rate staged 1 : 1/10 : 1/100 over 30% / 30% / 40% of the epochs (their 300 / 300 / 400).
    The default is plain Adam with a cosine schedule instead: on the same budget it trains
    where the released one barely moves (HAPT, 9-10 epochs: train MSE 0.0237 released
    against 0.0017 Adam; eps 0.1 shrinks every step of a loss this small), see README.
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    optimiser: Optimiser = "adam"
    seed: int = 0
    val_fraction: float = 0.15
    head: Literal["relu", "sigmoid"] = "relu"
    widths: tuple[int, ...] = TRUNK_WIDTHS
    device: str = "auto"
    name: str = "pinet"
    # Train on a random exact symmetry of each sample (`exact_symmetries`): more data for free.
    augment: bool = False
    # One network for one channel, applied to each channel (see `build_model`).
    per_channel: bool = False
    # Decode the samples once into memory, on the GPU when training on one (`ResidentSamples`),
    # instead of streaming store chunks: same batches, same results, no loader in the way.
    preload: bool = False


# Fields that change how a run executes but not what it computes: a resumed run may differ.
_EXECUTION_ONLY = ("device", "preload")


# -- data ---------------------------------------------------------------------------------


class StoreSamples(Dataset):
    """(network input, PI) pairs for chosen samples of a store, decoded a chunk at a time."""

    def __init__(self, store: GroundTruthStore, indices: np.ndarray, modality: str) -> None:
        self.store = store
        self.indices = np.asarray(indices)
        self.modality = modality
        self._chunks: OrderedDict[int, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = int(self.indices[position])
        chunk_size = self.store.chunk_size
        inputs, pis = self._chunk(index // chunk_size)
        return inputs[index % chunk_size], pis[index % chunk_size]

    def batch(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The samples at `positions`, stacked into one (inputs, PIs) batch."""
        pairs = [self[position] for position in positions]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    __getitems__ = batch  # the DataLoader fetches whole batches through this hook

    def chunk_of(self, position: int) -> int:
        return int(self.indices[position]) // self.store.chunk_size

    def _chunk(self, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        if chunk not in self._chunks:
            start, stop = self.store.chunk_bounds(chunk)
            inputs = network_inputs(self.store["inputs"][start:stop], self.modality)
            pis = torch.from_numpy(self.store["pis"][start:stop])
            self._chunks[chunk] = (inputs, pis)
            if len(self._chunks) > 2 * _WINDOW_CHUNKS:
                self._chunks.popitem(last=False)
        self._chunks.move_to_end(chunk)
        return self._chunks[chunk]


class ResidentSamples(Dataset):
    """The samples of a `StoreSamples`, decoded once and held as two tensors on `device`.

    Batches are gathered by indexing, so on a GPU no loader, copy or decoding stands between
    steps; the memory needed is N x C x (input size + 2500) x 4 bytes, checked up front.
    """

    def __init__(self, samples: StoreSamples, device: torch.device) -> None:
        self.indices = samples.indices
        first_input, first_pi = samples[0]
        needed = len(samples) * (first_input.numel() + first_pi.numel()) * 4
        free = available_memory(device)
        if needed > _PRELOAD_SHARE * free:
            raise ValueError(
                f"--preload needs {needed / 1e9:.1f} GB for {len(samples)} samples but "
                f"{device} has {free / 1e9:.1f} GB free; train without --preload (it streams "
                "the store) or on fewer samples"
            )
        self.inputs = torch.empty((len(samples), *first_input.shape), device=device)
        self.pis = torch.empty((len(samples), *first_pi.shape), device=device)
        for start in range(0, len(samples), _PRELOAD_BATCH):
            stop = min(start + _PRELOAD_BATCH, len(samples))
            inputs, pis = samples.batch(list(range(start, stop)))
            self.inputs[start:stop], self.pis[start:stop] = inputs, pis

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[position], self.pis[position]

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(positions, device=self.inputs.device)
        return self.inputs[rows], self.pis[rows]


Samples = StoreSamples | ResidentSamples


def available_memory(device: torch.device) -> int:
    """Bytes free on `device`: GPU memory on CUDA, else the machine's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _batch_as_is(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The DataLoader's collate step for datasets whose `__getitems__` returns a batch."""
    return batch


def batch_loader(
    samples: Samples, batch_size: int, device: torch.device, sampler: Sampler[int] | None = None
) -> DataLoader:
    """Batches of `samples` in `sampler`'s order (else in order), pinned for a GPU when they
    are still on the CPU."""
    on_cpu = isinstance(samples, StoreSamples) or samples.inputs.device.type == "cpu"
    return DataLoader(
        samples,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=_batch_as_is,
        pin_memory=on_cpu and device.type == "cuda",
    )


class ChunkWindowSampler(Sampler[int]):
    """A shuffle that reads each store chunk once per epoch: chunks are shuffled, then
    samples are shuffled within windows of a few chunks. The order depends only on
    (seed, epoch), which makes resumption exact."""

    def __init__(self, dataset: StoreSamples, seed: int) -> None:
        self.seed = seed
        self.epoch = 0
        self._length = len(dataset)
        self._by_chunk: dict[int, list[int]] = {}
        for position in range(len(dataset)):
            self._by_chunk.setdefault(dataset.chunk_of(position), []).append(position)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks = rng.permutation(sorted(self._by_chunk))
        for start in range(0, len(chunks), _WINDOW_CHUNKS):
            window = [p for c in chunks[start : start + _WINDOW_CHUNKS] for p in self._by_chunk[c]]
            yield from (int(p) for p in rng.permutation(window))


def split_by_group(
    store: GroundTruthStore, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices from the store's train split, holding out whole
    groups (at least one) so that no user or photo is on both sides."""
    train = store.usable_indices("train")
    groups = store["groups"][:][train]
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        raise ValueError(
            f"the train split of {store.path} has {len(names)} group(s); "
            "validation by group needs at least 2"
        )
    rng = np.random.default_rng(seed)
    n_val = min(len(names) - 1, max(1, round(val_fraction * len(names))))
    held_out = set(rng.permutation(names)[:n_val].tolist())
    is_val = np.array([g in held_out for g in groups.tolist()])
    return train[~is_val], train[is_val]


# -- training -----------------------------------------------------------------------------


def resolve_device(device: str) -> torch.device:
    """'auto' is CUDA when available, else CPU; an explicit 'cuda' without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return torch.device(device)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of `epoch` (0-based)."""
    if config.optimiser != "released":
        return config.lr * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    stage = 0 if epoch < 0.3 * config.epochs else 1 if epoch < 0.6 * config.epochs else 2
    return config.lr / 10**stage


def make_optimiser(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimiser == "released":
        return torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.99, 0.999), eps=0.1)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def train(
    store_path: str | Path,
    modality: str,
    out: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on `store_path` into `out`; returns the final history entry and best metrics."""
    out = Path(out)
    store = GroundTruthStore.open(store_path)
    if not store.complete:
        raise ValueError(f"{store_path} is not complete; finish it with data_prep first")
    recipe_modality = store.recipe.modality
    if recipe_modality != modality:
        raise ValueError(f"{store_path} holds {recipe_modality} ground truth, not {modality}")
    device = resolve_device(config.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # fixed input shapes: pick once
    torch.manual_seed(config.seed)
    model = build_model(
        modality, store.channels, config.head, config.widths, config.per_channel
    ).to(device)
    optimiser = make_optimiser(model, config)
    history: list[dict[str, Any]] = []
    if resume:
        history = _restore(out, model, optimiser, config)
    elif (out / _LAST).exists():
        raise ValueError(f"{out} already holds a training run; pass --resume or another --out")
    out.mkdir(parents=True, exist_ok=True)

    _card(store, modality, config, {}, 0)  # a bad name fails now, not after an epoch
    train_idx, val_idx = split_by_group(store, config.val_fraction, config.seed)
    train_stream = StoreSamples(store, train_idx, modality)
    val_stream = StoreSamples(store, val_idx, modality)
    sampler = ChunkWindowSampler(train_stream, config.seed)
    train_set: Samples = train_stream
    val_set: Samples = val_stream
    if config.preload:
        train_set = ResidentSamples(train_stream, device)
        val_set = ResidentSamples(val_stream, device)
    loader = batch_loader(train_set, config.batch_size, device, sampler)
    best = min((h["val_mse"] for h in history), default=math.inf)
    for epoch in range(len(history), config.epochs):
        started = time.perf_counter()
        sampler.epoch = epoch
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, epoch)
        train_mse = _train_epoch(model, loader, optimiser, device, epoch, config, progress)
        val = evaluate(model, val_set, device)
        entry = {
            "epoch": epoch + 1,
            "lr": learning_rate(config, epoch),
            "train_mse": train_mse,
            "val_mse": val["mse"],
            "val_mae": val["mae"],
            "seconds": round(time.perf_counter() - started, 2),
        }
        history.append(entry)
        card = _card(
            store, modality, config, {"val_mse": val["mse"], "val_mae": val["mae"]}, epoch + 1
        )
        if val["mse"] < best:
            best = val["mse"]
            save_checkpoint(model, card, out / "best")
        _save_epoch(out, model, optimiser, card, history, config)
        if progress:
            tqdm.write(json.dumps(entry))
    _plot_run(out, history, model, val_stream, device)
    return {"last": history[-1] if history else None, "best_val_mse": best}


def _train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimiser: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    config: TrainConfig,
    progress: bool,
) -> float:
    model.train()
    total, count = torch.zeros((), device=device), 0  # summed on the device: no sync per step
    # Seeded by (seed, epoch) only, like the data order, so that --resume stays bit-exact.
    symmetries = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    batches = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        leave=False,
        disable=not progress,
        unit="batch",
    )
    for inputs, targets in batches:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if config.augment:
            inputs, targets = exact_symmetries(inputs, targets, symmetries)
        with autocast(device):
            predictions = model(inputs)
        loss = nn.functional.mse_loss(predictions.float(), targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total += loss.detach() * len(inputs)
        count += len(inputs)
        if progress and batches.n % _PROGRESS_EVERY == 0:
            batches.set_postfix(mse=f"{total.item() / count:.5f}")
    return total.item() / max(count, 1)


def exact_symmetries(
    inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each (input `(N, C, *S)`, PIs `(N, C, 50, 50)`) pair mapped by a random symmetry that
    every recipe respects exactly, so the new pair is as true as the stored one:
    - channels permuted: each recipe computes channel c's PI from channel c alone, so the PIs
      permute alike;
    - with probability 1/2, every spatial axis reversed (`reversed_spatially`), PIs
      unchanged.
    """
    count, channels = inputs.shape[:2]
    # Drawn on the CPU generator whatever the device, so that CPU and GPU runs agree.
    order = torch.argsort(torch.rand(count, channels, generator=generator), dim=1)
    order = order.to(inputs.device)
    rows = torch.arange(count, device=inputs.device)[:, None]
    inputs, targets = inputs[rows, order], targets[rows, order]
    reverse = torch.rand(count, generator=generator) < 0.5
    reverse = reverse.to(inputs.device).view(count, *([1] * (inputs.ndim - 1)))
    return torch.where(reverse, reversed_spatially(inputs), inputs), targets


@torch.no_grad()
def predict_batches(
    model: nn.Module, dataset: Samples, device: torch.device, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (clipped to [0, 1], like `pinet.predict`) and true PIs, `(N, C, 50, 50)`
    each, for every sample of `dataset`."""
    model.eval()
    predicted, expected = [], []
    for inputs, targets in batch_loader(dataset, batch_size, device):
        predicted.append(forward_pis(model, inputs, device))
        expected.append(targets.cpu().numpy())
    return np.concatenate(predicted), np.concatenate(expected)


def evaluate(
    model: nn.Module, dataset: Samples, device: torch.device, mean_pi: np.ndarray | None = None
) -> dict[str, Any]:
    """MSE, MAE and per-channel MSE of `model` on `dataset`; with `mean_pi` `(C, 50, 50)`,
    also the MSE of always predicting it (the baseline that says whether the net learned)."""
    predicted, expected = predict_batches(model, dataset, device)
    errors = predicted - expected
    metrics: dict[str, Any] = {
        "samples": len(dataset),
        "mse": float(np.mean(errors**2)),
        "mae": float(np.mean(np.abs(errors))),
        "per_channel_mse": np.mean(errors**2, axis=(0, 2, 3)).tolist(),
    }
    if mean_pi is not None:
        metrics["mean_pi_mse"] = float(np.mean((expected - mean_pi) ** 2))
        metrics["mse_vs_mean_pi"] = metrics["mse"] / metrics["mean_pi_mse"]
    return metrics


def mean_training_pi(store: GroundTruthStore) -> np.ndarray:
    """The mean PI `(C, 50, 50)` over the store's usable training samples."""
    train = store.usable_indices("train")
    if not len(train):
        raise ValueError(f"{store.path} has no usable training samples to average")
    total = np.zeros(store["pis"].shape[1:], dtype=np.float64)
    for start in range(0, len(train), 1024):
        total += store["pis"][train[start : start + 1024]].sum(axis=0)
    return (total / len(train)).astype(np.float32)


# What a bundled model's card records of its test-split evaluation, as test_<metric>.
_EXPORTED_TEST_METRICS = ("mse", "mae", "mean_pi_mse", "mse_vs_mean_pi")


def evaluate_checkpoint(
    checkpoint: str | Path,
    store_path: str | Path,
    split: str = "test",
    device: str = "auto",
    reference: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of a saved model on a store's split, with the mean-training-PI baseline; with
    `reference` (the authors' CIFAR10 samples, .npz with `images` and `pis`), also the MSE
    against the authors' own ground truth, for image models."""
    return _evaluate_loaded(load_model(checkpoint, device), store_path, split, reference)


def _evaluate_loaded(
    loaded: LoadedModel, store_path: str | Path, split: str, reference: str | Path | None
) -> dict[str, Any]:
    store = GroundTruthStore.open(store_path)
    if store.recipe.name != loaded.card.recipe.name:
        raise ValueError(
            f"{store_path} holds {store.recipe.name} ground truth; "
            f"the model was trained on {loaded.card.recipe.name}"
        )
    indices = store.usable_indices(split)
    if not len(indices):
        raise ValueError(f"{store_path} has no usable samples in its {split!r} split")
    dataset = StoreSamples(store, indices, loaded.card.modality)
    mean_pi = mean_training_pi(store)
    metrics = evaluate(loaded.network, dataset, loaded.device, mean_pi)
    if reference is not None:
        with np.load(reference, allow_pickle=False) as samples:
            images, expected = samples["images"], samples["pis"]
        errors = predict(loaded, images) - expected
        metrics["reference"] = {
            "samples": len(images),
            "mse": float(np.mean(errors**2)),
            "mean_pi_mse": float(np.mean((expected - mean_pi) ** 2)),
        }
    return metrics


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    store_path: str | Path,
    reference: str | Path | None = None,
    device: str = "auto",
    average_reversed: bool = False,
) -> dict[str, Any]:
    """Write `checkpoint` to `out` as bundled models ship: float16 weights, and a card whose
    metrics add the test split of `store_path` (and `reference`), measured on those float16
    weights. With `average_reversed`, the exported model averages its predictions for each
    input and for the input reversed (see `build_model`). Returns the full evaluation."""
    loaded = load_model(checkpoint, device)
    if average_reversed:
        loaded.network.average_reversed = True
    with torch.no_grad():  # the weights as float16 stores them, so the metrics are theirs
        for tensor in loaded.network.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half())
    evaluation = _evaluate_loaded(loaded, store_path, "test", reference)
    measured = {f"test_{key}": evaluation[key] for key in _EXPORTED_TEST_METRICS}
    if "reference" in evaluation:
        measured |= {
            f"reference_{key}": evaluation["reference"][key] for key in ("mse", "mean_pi_mse")
        }
    card = loaded.card.model_copy(
        update={
            "average_reversed": loaded.network.average_reversed,
            "metrics": {**loaded.card.metrics, **measured},
            "training": {**loaded.card.training, "test_store": str(store_path)},
        }
    )
    save_checkpoint(loaded.network, card, out, dtype=torch.float16)
    return evaluation


# -- checkpoints of a run -----------------------------------------------------------------


def _card(
    store: GroundTruthStore,
    modality: str,
    config: TrainConfig,
    metrics: dict[str, float],
    epochs_done: int,
) -> ModelCard:
    job = store.job
    return ModelCard(
        name=config.name,
        modality=modality,
        in_channels=store.channels,
        head=config.head,
        widths=config.widths,
        per_channel=config.per_channel,
        input_shape=tuple(store.attrs["input_shape"]),
        recipe=RecipeRef(**job["recipe"]),
        data_source=DataSourceRef(**job["source"]),
        metrics=metrics,
        training=_jsonable(
            {**asdict(config), "epochs_done": epochs_done, "store": str(store.path)}
        ),
    )


def _save_epoch(
    out: Path,
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    card: ModelCard,
    history: list[dict[str, Any]],
    config: TrainConfig,
) -> None:
    """Write epoch N's full state into its own folder, then point `last` at it (atomic)."""
    folder = out / f"epoch-{len(history):04d}"
    save_checkpoint(model, card, folder)
    tensors, layout = _flatten_optimiser(optimiser)
    save_file(tensors, folder / "optimiser.safetensors")
    state = {"history": history, "config": asdict(config), "optimiser_layout": layout}
    (folder / "state.json").write_text(json.dumps(state, indent=1))
    _atomic_write(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    previous = (out / _LAST).read_text().strip() if (out / _LAST).exists() else None
    _atomic_write(out / _LAST, folder.name + "\n")
    if previous and previous != folder.name:
        shutil.rmtree(out / previous, ignore_errors=True)


def _restore(
    out: Path, model: nn.Module, optimiser: torch.optim.Optimizer, config: TrainConfig
) -> list[dict[str, Any]]:
    if not (out / _LAST).exists():
        raise ValueError(f"nothing to resume in {out}: no completed epoch")
    folder = out / (out / _LAST).read_text().strip()
    state = json.loads((folder / "state.json").read_text())
    saved = {k: v for k, v in state["config"].items() if k not in _EXECUTION_ONLY}
    wanted = {k: v for k, v in _jsonable(asdict(config)).items() if k not in _EXECUTION_ONLY}
    if saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise ValueError(
            f"cannot resume {out} with a different configuration ({', '.join(changed)})"
        )
    trained, _ = load_checkpoint(folder)
    model.load_state_dict(trained.state_dict())
    device = next(model.parameters()).device
    tensors = load_file(folder / "optimiser.safetensors", device=str(device))
    optimiser.load_state_dict(_unflatten_optimiser(tensors, state["optimiser_layout"], optimiser))
    return state["history"]


def _flatten_optimiser(optimiser: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimiser state as named tensors (safetensors) plus a JSON layout: no pickles."""
    state_dict = optimiser.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state_dict["state"].items():
        for key, value in values.items():
            name = f"{param_id}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimiser(
    tensors: dict[str, torch.Tensor], layout: dict, optimiser: torch.optim.Optimizer
) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *layout["scalars"].items()]:
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": layout["param_groups"]}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON types only (tuples become lists), as model cards and state files hold."""
    return json.loads(json.dumps(values))


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


# -- plots --------------------------------------------------------------------------------


def _plot_run(
    out: Path,
    history: list[dict[str, Any]],
    model: nn.Module,
    val_set: StoreSamples,
    device: torch.device,
    n_examples: int = 4,
) -> None:
    """loss.png (train / validation MSE per epoch) and predictions.png (fixed validation
    samples: ground truth above, prediction below, one column per channel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.semilogy(epochs, [h["train_mse"] for h in history], label="train")
    axis.semilogy(epochs, [h["val_mse"] for h in history], label="validation")
    axis.set(xlabel="epoch", ylabel="MSE", title="PI-Net training")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "loss.png", dpi=100)
    plt.close(figure)

    examples = StoreSamples(val_set.store, val_set.indices[:n_examples], val_set.modality)
    predicted, expected = predict_batches(model, examples, device)
    channels = expected.shape[1]
    figure, axes = plt.subplots(
        2 * len(expected), channels, squeeze=False, figsize=(2 * channels, 4 * len(expected))
    )
    for i in range(len(expected)):
        for c in range(channels):
            for row, (label, images) in enumerate((("truth", expected), ("PI-Net", predicted))):
                axis = axes[2 * i + row, c]
                axis.imshow(images[i, c], cmap="viridis", vmin=0, vmax=1)
                axis.set_title(f"{examples.indices[i]} ch{c} {label}", fontsize=7)
                axis.axis("off")
    figure.tight_layout()
    figure.savefig(out / "predictions.png", dpi=80)
    plt.close(figure)
