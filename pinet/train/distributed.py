"""Training on several processes launched by `torchrun`: one per GPU (NCCL), or several on
one machine's CPU cores (gloo), each computing the gradient of its shard of every batch.

N processes train as one does, up to float rounding, because
- every process draws the same global batch (the sampler depends on (seed, epoch) only), the
  same exact symmetries and the same objective draws, then keeps a contiguous shard of it
  (`Cluster.shard`);
- each shard's loss is weighted by its share of the batch, so that the gradient DDP averages
  is the one-process gradient of the global batch's mean loss, uneven last batches included;
- BatchNorm normalises by the global batch's statistics (`SyncedBatchNorm`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from pinet.device import resolve_device, use_threads

# How long a process waits for the others at a collective: rank 0 alone validates, writes
# checkpoints and draws the plots while the others wait at their next step. Torch's defaults
# (10 minutes for NCCL) are short for validating a large store.
COLLECTIVE_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class Cluster:
    """The processes that train one model together; a process alone is a cluster of one.

    `rank` numbers the processes of all machines, `local_rank` those of this machine (and
    names its GPU); `backend` is the process group's, None for one process.
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None

    @classmethod
    def launched(cls, environ: Mapping[str, str] = os.environ) -> Cluster:
        """The cluster torchrun started this process in (WORLD_SIZE, RANK, LOCAL_RANK,
        LOCAL_WORLD_SIZE in the environment); a cluster of one without torchrun."""
        if "WORLD_SIZE" not in environ:
            return cls()
        world_size = int(environ["WORLD_SIZE"])
        return cls(
            world_size=world_size,
            rank=int(environ.get("RANK", "0")),
            local_rank=int(environ.get("LOCAL_RANK", "0")),
            local_world_size=int(environ.get("LOCAL_WORLD_SIZE", str(world_size))),
        )

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0: the one that validates and writes the run."""
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        """What a card's training section records of the cluster."""
        return {"world_size": self.world_size, "backend": self.backend}

    def shard(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This process's contiguous rows of a global batch (inputs `(B, ...)`, targets
        `(B, ...)`) and the weight of their mean loss: world_size x rows / B. DDP averages
        the processes' gradients, so the weights make that average the gradient of the mean
        over all B rows. A batch smaller than the world leaves some shards empty: their mean
        loss is NaN but, weighted 0, it passes zero gradients, and their forward and backward
        still join the others' collectives."""
        count = len(inputs)
        start = count * self.rank // self.world_size
        stop = count * (self.rank + 1) // self.world_size
        weight = self.world_size * (stop - start) / count
        return inputs[start:stop], targets[start:stop], weight

    def summed(self, values: torch.Tensor) -> torch.Tensor:
        """`values` summed over every process (as they are for one)."""
        if self.world_size > 1:
            values = values.clone()
            dist.all_reduce(values)
        return values

    def from_main(self, value: Any) -> Any:
        """Rank 0's `value` in every process (the others pass anything, e.g. None): the
        others wait here while rank 0 computes it."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def local_device(name: str) -> torch.device:
    """The device this process trains on: `name` resolved (`resolve_device`), and under
    torchrun on CUDA the GPU of the process's LOCAL_RANK. Raises ValueError for a launch
    this machine's GPUs cannot serve."""
    device = resolve_device(name)
    cluster = Cluster.launched()
    if cluster.world_size == 1 or device.type != "cuda":
        return device
    if device.index is not None:
        raise ValueError(
            f"--device {name}: under torchrun each process trains on the GPU of its "
            "LOCAL_RANK; pass --device cuda"
        )
    visible = torch.cuda.device_count()
    if cluster.local_world_size > visible:
        raise ValueError(
            f"torchrun started {cluster.local_world_size} processes on this machine but torch "
            f"sees {visible} GPU(s) for --device {name}: start at most {visible} "
            "(--nproc_per_node), or train on --device cpu"
        )
    return torch.device("cuda", cluster.local_rank)


def threads_per_process(cluster: Cluster) -> int:
    """This machine's cores shared among its processes (at least one each): torchrun sets
    OMP_NUM_THREADS=1, which leaves most cores idle when there are fewer processes than
    cores, and more threads than cores would make the processes fight over them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // cluster.local_world_size)


@contextmanager
def process_group(device: torch.device) -> Iterator[Cluster]:
    """The cluster torchrun started this process in, with its process group open while the
    block runs: NCCL when training on CUDA, gloo on the CPU; torch's and numba's threads set
    to `threads_per_process`. Without torchrun (or with one process), a cluster of one and
    nothing changed."""
    cluster = Cluster.launched()
    if cluster.world_size == 1:
        yield cluster
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)  # object collectives use the current device
    use_threads(threads_per_process(cluster))
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield replace(cluster, backend=backend)
    finally:
        dist.destroy_process_group()


class _SumOverProcesses(torch.autograd.Function):
    """y = the sum of every process's x; every process's dL/dx is the sum of every process's
    dL/dy, since each y feeds its own process's loss."""

    @staticmethod
    def forward(ctx: Any, values: torch.Tensor) -> torch.Tensor:
        total = values.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        total = gradient.clone()
        dist.all_reduce(total)
        return total


def summed_over_processes(values: torch.Tensor) -> torch.Tensor:
    """`values` summed over every process of the default group, differentiably (what
    `torch.distributed.nn.functional.all_reduce` did before torch deprecated it)."""
    return _SumOverProcesses.apply(values)


class SyncedBatchNorm(_BatchNorm):
    """BatchNorm over any number of spatial dims whose training statistics are the global
    batch's: per-channel sums are added up over every process (`summed_over_processes`),
    whose backward carries the gradient to every process's rows, as one process's BatchNorm
    would. `torch.nn.SyncBatchNorm` does
    the same on CUDA only; this one runs on gloo and the CPU too.

    The variance is computed in two passes (mean, then squared deviations), in float32 with
    float64 sums across processes, as accurate as BatchNorm's own; the running variance is
    the unbiased one, as torch keeps it. In eval mode it is BatchNorm of its running
    statistics, with no collective.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected a batch (N, C, ...), got shape {tuple(input.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *S) -> (N, C, *S), normalised per channel."""
        self._check_input_dim(x)
        if not self.training:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        dims = [0, *range(2, x.ndim)]
        shape = (1, -1, *[1] * (x.ndim - 2))
        values = x.float()
        local_count = values.new_full((1,), values.numel() // values.shape[1], dtype=torch.float64)
        totals = summed_over_processes(torch.cat([values.sum(dims).double(), local_count]))
        count = totals[-1]
        mean = (totals[:-1] / count).float()
        centred = values - mean.view(shape)
        variance = (summed_over_processes(centred.square().sum(dims).double()) / count).float()
        normalised = centred * torch.rsqrt(variance + self.eps).view(shape)
        self._update_running_statistics(mean, variance, count)
        return (normalised * self.weight.view(shape) + self.bias.view(shape)).to(x.dtype)

    @torch.no_grad()
    def _update_running_statistics(
        self, mean: torch.Tensor, variance: torch.Tensor, count: torch.Tensor
    ) -> None:
        """BatchNorm's update: an exponential average (`momentum`), or the cumulative one
        when momentum is None, of the mean and the unbiased variance of `count` values.
        `count` stays a tensor: reading it would wait for the GPU at every layer."""
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = variance * (count / (count - 1).clamp(min=1)).float()
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)


def synchronise_batch_norms(module: nn.Module) -> None:
    """Replace, in place, every BatchNorm inside `module` by a `SyncedBatchNorm` holding the
    very same parameters and buffers (as `torch.nn.SyncBatchNorm.convert_sync_batchnorm`
    does): the state_dict keeps its keys and tensors, so checkpoints load into the plain
    network, and an optimiser made before keeps its parameters."""
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, SyncedBatchNorm):
            module.add_module(name, _synced(child))
        else:
            synchronise_batch_norms(child)


def _synced(batch_norm: _BatchNorm) -> SyncedBatchNorm:
    if not (batch_norm.affine and batch_norm.track_running_stats):
        raise ValueError("only BatchNorms with affine parameters and running statistics sync")
    synced = SyncedBatchNorm(batch_norm.num_features, batch_norm.eps, batch_norm.momentum)
    synced.weight, synced.bias = batch_norm.weight, batch_norm.bias
    synced.running_mean = batch_norm.running_mean
    synced.running_var = batch_norm.running_var
    synced.num_batches_tracked = batch_norm.num_batches_tracked
    return synced.train(batch_norm.training)
