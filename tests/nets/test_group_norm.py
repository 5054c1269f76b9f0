"""`norm="group"`: every block normalised by each sample's own statistics (GroupNorm). What
it computes, that a card records and rebuilds it and the ONNX graph computes it, and what
refuses it: frozen BatchNorm statistics, resizing, statistics taken from a store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from pinet.checkpoint import load_checkpoint
from pinet.cli import EXIT_USAGE, main
from pinet.export.onnx import onnx_graph
from pinet.nets import build_network
from pinet.nets.layers import group_count, normalisation
from pinet.train import train
from tests.helpers import TINY_WIDTHS, TrainedRun

INPUT_SHAPES = {"signal": (4, 3, 64), "image": (4, 3, 16, 16)}
# Every network with an ONNX graph (the release's image head, an FFT, has none).
EXPORTABLE = [("signal", "pinet"), ("signal", "lowrank"), ("image", "lowrank"), ("image", "raster")]


@pytest.mark.parametrize(
    "channels, groups", [(16, 2), (512, 64), (8, 1), (4, 1), (12, 1), (100, 10)]
)
def test_groups_hold_eight_filters_where_they_divide_evenly(channels: int, groups: int) -> None:
    assert group_count(channels) == groups
    assert channels % groups == 0  # GroupNorm needs equal groups


def test_an_unknown_normalisation_is_named() -> None:
    with pytest.raises(ValueError, match="unknown normalisation 'layer'"):
        normalisation("layer", 8, 1)  # type: ignore[arg-type]


def _inputs(modality: str) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.randn(INPUT_SHAPES[modality])
    return x.sigmoid() if modality == "image" else x


@pytest.mark.parametrize("modality, family", EXPORTABLE)
def test_each_sample_is_normalised_alone_the_card_rebuilds_it_and_onnx_computes_it(
    modality: str, family: str
) -> None:
    torch.manual_seed(0)
    network = build_network(
        modality, 3, family=family, per_channel=True, widths=TINY_WIDTHS, norm="group"
    )
    assert network.architecture["norm"] == "group"
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.trunk.modules())
    x = _inputs(modality)
    with torch.no_grad():
        # Training mode, where BatchNorm would mix the batch: a sample's PIs are its own.
        torch.testing.assert_close(network.train()(x)[:1], network(x[:1]))
        batch_normed = build_network(
            modality, 3, family=family, per_channel=True, widths=TINY_WIDTHS
        )
        assert not torch.allclose(batch_normed.train()(x)[:1], batch_normed(x[:1]))
        expected = network.eval()(x)
    rebuilt = build_network(modality, 3, family=family, per_channel=True, **network.architecture)
    rebuilt.load_state_dict(network.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), expected)
    session = onnxruntime.InferenceSession(
        onnx_graph(network, x[:2]), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-5)


def test_a_release_network_records_no_normalisation() -> None:
    network = build_network("signal", 3, widths=TINY_WIDTHS)
    assert "norm" not in network.architecture  # cards written before the option still match


def test_training_records_it_and_what_needs_batch_statistics_refuses_it(
    signal_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = dataclasses.replace(signal_run.config, epochs=1, norm="group")
    train(signal_run.store, "signal", tmp_path / "run", config, progress=False)
    best = tmp_path / "run" / "best"
    network, card = load_checkpoint(best)
    assert card.architecture["norm"] == "group" and card.training["norm"] == "group"
    assert isinstance(network.trunk.blocks[0].bn, nn.GroupNorm)

    argv = ["train", "--data", str(signal_run.store), "--model", "signal", "--epochs", "1"]
    argv += ["--widths", ",".join(map(str, TINY_WIDTHS)), "--device", "cpu", "--no-progress"]
    argv += ["--norm", "group", "--frozen-batch-norm", "--out", str(tmp_path / "frozen")]
    assert main(argv) == EXIT_USAGE
    assert "--frozen-batch-norm freezes BatchNorm statistics" in capsys.readouterr().err

    pruned = ["prune", "--checkpoint", str(best), "--keep", "0.5", "--out", str(tmp_path / "p")]
    assert main(pruned) == EXIT_USAGE
    assert "only BatchNorm trunks" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()

    evaluated = ["eval", "--checkpoint", str(best), "--data", str(signal_run.store)]
    assert main([*evaluated, "--batch-norm-from", str(signal_run.store)]) == EXIT_USAGE
    assert "has no BatchNorm" in capsys.readouterr().err
