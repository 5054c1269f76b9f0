"""Training data from a ground-truth store: samples, batches, their order, the validation
split, and exact symmetries that make new pairs as true as the stored ones."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pinet.inference import network_inputs
from pinet.modality import Modality
from pinet.nets import reversed_spatially
from pinet.store import GroundTruthStore
from pinet.tda.recipes import SpatialSymmetries

_MEMINFO = "/proc/meminfo"
_WINDOW_CHUNKS = 8  # store chunks shuffled together: random enough, each chunk read once
_PRELOAD_BATCH = 4096  # samples decoded and copied at a time by --preload
_PRELOAD_SHARE = 0.8  # of the free memory --preload may take: the model and steps need some


class StoreSamples(Dataset):
    """(network input, PI) pairs for chosen samples of a store, decoded a chunk at a time.
    `with_pis=False`: the store's PIs are never read, and each sample's PI is an empty
    tensor (a teacher-labelled store's, whose targets the teachers give)."""

    def __init__(
        self,
        store: GroundTruthStore,
        indices: np.ndarray,
        modality: Modality,
        *,
        with_pis: bool = True,
    ) -> None:
        self.store = store
        self.indices = np.asarray(indices)
        self.modality = modality
        self.with_pis = with_pis
        self._chunks: OrderedDict[int, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    device = torch.device("cpu")  # where its batches are

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
            if self.with_pis:
                pis = torch.from_numpy(self.store["pis"][start:stop])
            else:
                pis = torch.empty(stop - start, 0)
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

    @property
    def device(self) -> torch.device:
        """Where its batches are."""
        return self.inputs.device

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[position], self.pis[position]

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(positions, device=self.inputs.device)
        return self.inputs[rows], self.pis[rows]


Samples = Dataset  # StoreSamples, ResidentSamples, or either with extra targets: they have
# a `device` (where their batches are) and a `__getitems__` that returns whole batches


def available_memory(device: torch.device) -> int:
    """Bytes free on `device`: GPU memory on CUDA, else the RAM the kernel could hand out
    now, page cache included (Linux's MemAvailable). Free pages alone miss the cache, which
    reading stores fills: after a few stores were read, they counted 0.4 GB of a 24 GB
    machine with 17 GB available, and refused a preload that fitted."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open(_MEMINFO) as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except OSError:
        pass  # not Linux: only free pages are known
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _batch_as_is(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The DataLoader's collate step for datasets whose `__getitems__` returns a batch."""
    return batch


def batch_loader(
    samples: Samples,
    batch_size: int,
    device: torch.device,
    batches: Sampler[list[int]] | None = None,
) -> DataLoader:
    """Batches of `samples` as `batches` draws them (else `batch_size` at a time, in order),
    pinned for a GPU when they are still on the CPU."""
    on_cpu = samples.device.type == "cpu"
    return DataLoader(
        samples,
        batch_size=1 if batches else batch_size,
        batch_sampler=batches,
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
        return self.order(self.epoch)

    def order(self, *key: int) -> Iterator[int]:
        """The shuffle drawn from (seed, *key): `(epoch,)` is the epoch's; other keys give
        further independent passes (`MixtureBatchSampler`)."""
        rng = np.random.default_rng([self.seed, *key])
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


def exact_symmetries(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    generator: torch.Generator,
    spatial: SpatialSymmetries = "reversal",
    value_reflection: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each (input `(N, C, *S)`, PIs `(N, C, 50, 50)`) pair mapped by a random symmetry that
    the recipe respects exactly, so the new pair is as true as the stored one:
    - channels permuted: each recipe computes channel c's PI from channel c alone, so the PIs
      permute alike;
    - then, with the recipe's `spatial` symmetries, PIs unchanged: "reversal", every spatial
      axis reversed (`reversed_spatially`) with probability 1/2; "grid" (images), each of the
      8 symmetries of the square with probability 1/8 (each axis flipped with probability
      1/2, then transposed with probability 1/2 where the images are square); "none";
    - with `value_reflection` (the recipe's), each network input's values reflected with
      probability 1/2: a z-scored signal negated, an image in [0, 1] mapped to 1 - v.
    """
    count, channels = inputs.shape[:2]
    # Drawn on the CPU generator whatever the device, so that CPU and GPU runs agree.
    order = torch.argsort(torch.rand(count, channels, generator=generator), dim=1)
    order = order.to(inputs.device)
    rows = torch.arange(count, device=inputs.device)[:, None]
    inputs, targets = inputs[rows, order], targets[rows, order]
    if spatial == "grid" and inputs.ndim == 4:
        inputs = _square_symmetries(inputs, generator)
    elif spatial != "none":
        inputs = _where(_coin(count, generator, inputs), reversed_spatially(inputs), inputs)
    if value_reflection:
        reflected = 1 - inputs if inputs.ndim == 4 else -inputs
        inputs = _where(_coin(count, generator, inputs), reflected, inputs)
    return inputs, targets


def _square_symmetries(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`(N, C, H, W)` images, each flipped along each axis and (if square) transposed, each
    with probability 1/2."""
    count = len(images)
    for axis in (2, 3):
        images = _where(_coin(count, generator, images), images.flip(axis), images)
    if images.shape[2] == images.shape[3]:
        images = _where(_coin(count, generator, images), images.transpose(2, 3), images)
    return images


def _coin(count: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """`count` fair coin flips from `generator` (on the CPU), on the device of `like`."""
    return (torch.rand(count, generator=generator) < 0.5).to(like.device)


def _where(chosen: torch.Tensor, changed: torch.Tensor, unchanged: torch.Tensor) -> torch.Tensor:
    """Row i of `changed` where `chosen[i]`, else of `unchanged`."""
    return torch.where(chosen.view(len(chosen), *([1] * (changed.ndim - 1))), changed, unchanged)
