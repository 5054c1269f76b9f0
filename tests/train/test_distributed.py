"""Training on two processes (torchrun, gloo on the CPU) against one: the same global batch
and seed give the same loss curve and weights, up to float rounding; and the pieces that
make it so, checked in one process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch import nn

from pinet.checkpoint import WEIGHTS_FILE, read_card
from pinet.nets import build_network
from pinet.nets.layers import BN_EPS, BN_MOMENTUM
from pinet.train import TrainConfig, train
from pinet.train.distributed import (
    Cluster,
    SyncedBatchNorm,
    local_device,
    synchronise_batch_norms,
)
from tests.helpers import TINY_WIDTHS
from tests.train.helpers import InterruptAfterEpochs, Interrupted, history, last_checkpoint

# The signal store's 37 training samples in batches of 12: the last batch holds one sample,
# so one of the two processes has an empty shard of it.
CONFIG = TrainConfig(epochs=2, batch_size=12, widths=TINY_WIDTHS, device="cpu")
CLI_OPTIONS = ("--model", "signal", "--epochs", "2", "--widths", "4,8,8,16", "--device", "cpu")
# Agreement of one and two processes, whose reductions add up in other orders: the MSEs
# differ by float32 rounding (measured: 7e-8 relative at most), the weights by 6e-8 at
# most, but for the conv biases before a BatchNorm and the running means that follow them:
# their gradient is zero up to rounding, which Adam scales up to steps (measured: 3.4e-6).
RELATIVE = 1e-5
WEIGHTS_RELATIVE, WEIGHTS_ABSOLUTE = 1e-4, 1e-5
TORCHRUN_TIMEOUT = 120  # seconds; a deadlock fails the test instead of hanging it


def torchrun_train(store: Path, out: Path, *options: str) -> None:
    """`python -m pinet train` of `store` into `out`, with `CLI_OPTIONS` and `options`, on
    two processes of this machine as torchrun starts them."""
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
        *("-m", "pinet", "train", "--data", str(store), "--out", str(out), *CLI_OPTIONS),
        *(*options, "--no-progress"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT)
    assert done.returncode == 0, done.stderr[-4000:]


def assert_same_run(two: Path, one: Path) -> None:
    """Two runs agree: per-epoch training and validation MSE, and the last weights."""
    for ours, theirs in zip(history(two), history(one), strict=True):
        for key in ("train_mse", "val_mse", "val_mae"):
            assert ours[key] == pytest.approx(theirs[key], rel=RELATIVE), (key, ours, theirs)
    tensors = load_file(last_checkpoint(two) / WEIGHTS_FILE)
    expected = load_file(last_checkpoint(one) / WEIGHTS_FILE)
    assert sorted(tensors) == sorted(expected)  # saved as the plain network: same keys
    for name, tensor in tensors.items():
        torch.testing.assert_close(
            tensor, expected[name], rtol=WEIGHTS_RELATIVE, atol=WEIGHTS_ABSOLUTE, msg=name
        )


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory, signal_store: Path) -> Path:
    out = tmp_path_factory.mktemp("one-process") / "run"
    train(signal_store, "signal", out, CONFIG, progress=False)
    return out


def test_two_processes_train_as_one(one_process: Path, signal_store: Path, tmp_path: Path) -> None:
    """The loss curve and the weights of two processes are one process's, an empty shard in
    every epoch's last batch included; the card says who trained it."""
    torchrun_train(signal_store, tmp_path, "--batch-size", "12")
    assert_same_run(tmp_path, one_process)
    card = read_card(tmp_path / "best")
    assert card.training["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert read_card(one_process / "best").training["distributed"]["world_size"] == 1


def test_two_processes_train_as_one_on_exact_symmetries(signal_store: Path, tmp_path: Path) -> None:
    """With --augment every process draws the same symmetries of the whole batch; batches
    of 8 leave a last one of 5, shared 2 and 3."""
    config = replace(CONFIG, batch_size=8, augment=True)
    train(signal_store, "signal", tmp_path / "one", config, progress=False)
    torchrun_train(signal_store, tmp_path / "two", "--batch-size", "8", "--augment")
    assert_same_run(tmp_path / "two", tmp_path / "one")


def test_two_processes_average_the_weights_as_one(signal_store: Path, tmp_path: Path) -> None:
    """With --weight-average each process keeps the average of the same weights, its
    BatchNorm statistics synced like the network's: validation and best/ agree with one
    process's."""
    train(signal_store, "signal", tmp_path / "one", replace(CONFIG, weight_average=0.5))
    torchrun_train(signal_store, tmp_path / "two", "--batch-size", "12", "--weight-average", "0.5")
    assert_same_run(tmp_path / "two", tmp_path / "one")
    averaged = load_file(tmp_path / "two" / "best" / WEIGHTS_FILE)
    for name, tensor in load_file(tmp_path / "one" / "best" / WEIGHTS_FILE).items():
        torch.testing.assert_close(
            averaged[name], tensor, rtol=WEIGHTS_RELATIVE, atol=WEIGHTS_ABSOLUTE, msg=name
        )


def test_a_run_of_one_process_resumes_on_two(
    one_process: Path, signal_store: Path, tmp_path: Path
) -> None:
    """Interrupted after its first epoch, a one-process run resumed by two processes ends
    where the uninterrupted run does."""
    with contextlib.redirect_stdout(InterruptAfterEpochs(1)), pytest.raises(Interrupted):
        train(signal_store, "signal", tmp_path, CONFIG, progress=True)
    torchrun_train(signal_store, tmp_path, "--batch-size", "12", "--resume")
    assert_same_run(tmp_path, one_process)


# -- the pieces, in one process ----------------------------------------------------


@pytest.fixture
def group_of_one(tmp_path: Path) -> Iterator[None]:
    """A gloo process group of this process alone: collectives run, and add nothing."""
    rendezvous = f"file://{tmp_path / 'rendezvous'}"
    dist.init_process_group("gloo", init_method=rendezvous, rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("shape", [(6, 4, 9), (5, 4, 3, 7)])
def test_synced_batch_norm_is_batch_norm_in_one_process(
    group_of_one: None, shape: tuple[int, ...]
) -> None:
    """Outputs, gradients of input and parameters, running statistics after three steps,
    and the eval-mode output match torch's BatchNorm of the repo's eps and momentum."""
    torch.manual_seed(0)
    plain = (nn.BatchNorm1d if len(shape) == 3 else nn.BatchNorm2d)(
        shape[1], eps=BN_EPS, momentum=BN_MOMENTUM
    )
    with torch.no_grad():
        plain.weight.uniform_(0.5, 1.5)
        plain.bias.uniform_(-0.5, 0.5)
    synced = SyncedBatchNorm(shape[1], eps=BN_EPS, momentum=BN_MOMENTUM)
    synced.load_state_dict(plain.state_dict())
    for step in range(3):
        x = (torch.randn(shape) * (step + 1) + step).requires_grad_()
        x_synced = x.detach().clone().requires_grad_()
        upstream = torch.randn(shape)
        expected, ours = plain(x), synced(x_synced)
        torch.testing.assert_close(ours, expected)
        (expected * upstream).sum().backward()
        (ours * upstream).sum().backward()
        torch.testing.assert_close(x_synced.grad, x.grad)
    torch.testing.assert_close(synced.weight.grad, plain.weight.grad)
    torch.testing.assert_close(synced.bias.grad, plain.bias.grad)
    for name, buffer in plain.named_buffers():
        torch.testing.assert_close(getattr(synced, name), buffer, msg=name)
    plain.eval(), synced.eval()
    x = torch.randn(shape)
    torch.testing.assert_close(synced(x), plain(x))


def test_synchronised_networks_keep_their_state_dict() -> None:
    """Every BatchNorm becomes synced, holding the same tensors under the same names: an
    optimiser made before still steps them, and checkpoints load into the plain network."""
    network = build_network("signal", 3, widths=TINY_WIDTHS)
    before = network.state_dict(keep_vars=True)
    synchronise_batch_norms(network)
    after = network.state_dict(keep_vars=True)
    assert list(after) == list(before)
    assert all(after[name] is tensor for name, tensor in before.items())
    batch_norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert batch_norms and all(isinstance(m, SyncedBatchNorm) for m in batch_norms)


@pytest.mark.parametrize("count", [1, 5, 12])
def test_shards_weigh_the_global_mean(count: int) -> None:
    """Two processes' shards cover the batch in order, and their weighted mean losses,
    averaged as DDP averages gradients, are the mean over the whole batch."""
    losses = torch.rand(count, dtype=torch.float64)
    clusters = [Cluster(world_size=2, rank=rank) for rank in range(2)]
    shards = [cluster.shard(losses, losses) for cluster in clusters]
    assert torch.equal(torch.cat([rows for rows, _, _ in shards]), losses)
    averaged = sum(weight * rows.mean() for rows, _, weight in shards if len(rows)) / 2
    assert float(averaged) == pytest.approx(float(losses.mean()))


def test_more_processes_than_gpus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torchrun launch of more processes than this machine has GPUs fails before it
    starts, saying what to change; so does naming a GPU each process cannot share."""
    launch = {"WORLD_SIZE": "4", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "4"}
    for name, value in launch.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"started 4 processes .* sees 2 GPU"):
        local_device("cuda")
    with pytest.raises(ValueError, match="pass --device cuda"):
        local_device("cuda:1")
    assert local_device("cpu") == torch.device("cpu")
