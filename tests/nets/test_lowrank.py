"""The "lowrank" family: a separable head of at most `rank` terms, its options, and a
checkpoint, an ONNX graph and training that all carry it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.card import DataSourceRef, ModelCard, RecipeRef
from pinet.checkpoint import load_checkpoint, save_checkpoint
from pinet.export.onnx import onnx_graph
from pinet.inference import LoadedModel, OnnxRuntimeBackend
from pinet.nets import LowRankImagePINet, build_network
from pinet.train import TrainConfig, train


@pytest.mark.parametrize(("rank", "per_channel"), [(1, True), (3, False)])
def test_each_pi_is_a_sum_of_rank_outer_products(rank: int, per_channel: bool) -> None:
    torch.manual_seed(0)
    network = (
        build_network(
            "image", 2, family="lowrank", per_channel=per_channel, widths=(4, 8), rank=rank
        )
        .double()
        .eval()
    )  # float64, so that the logit undoes the sigmoid to 1e-12
    with torch.no_grad():
        pis = network(torch.rand(3, 2, 20, 20, dtype=torch.float64))
        maps = torch.logit(pis) - network.offset  # undo the sigmoid and the offset
    assert pis.shape == (3, 2, 50, 50)
    ranks = torch.linalg.matrix_rank(maps, rtol=1e-6)
    assert ranks.max().item() == rank  # at most rank terms, and the terms are independent


def test_the_rank_is_an_option_the_architecture_records() -> None:
    network = build_network("image", 3, family="lowrank", widths=(4, 8), rank=2)
    assert isinstance(network, LowRankImagePINet)
    assert network.architecture == {
        "head": "sigmoid",
        "widths": [4, 8],
        "average_reversed": False,
        "rank": 2,
    }
    for bad in (0, 51, 2.5, True):
        with pytest.raises(ValueError, match="rank must be an integer from 1 to 50"):
            build_network("image", 3, family="lowrank", rank=bad)
    with pytest.raises(ValueError, match="model family 'lowrank' has no signal network"):
        build_network("signal", 3, family="lowrank")


def test_a_lowrank_checkpoint_and_its_onnx_graph_give_its_pis(tmp_path: Path) -> None:
    torch.manual_seed(1)
    network = build_network("image", 3, family="lowrank", per_channel=True, widths=(4, 8))
    card = ModelCard.describing(
        network.eval(),
        name="lowrank",
        input_shape=(3, 32, 32),
        recipe=RecipeRef(name="image-raster"),
        data_source=DataSourceRef(name="synthetic"),
    )
    save_checkpoint(network, card, tmp_path / "lowrank")
    loaded, loaded_card = load_checkpoint(tmp_path / "lowrank")
    assert (loaded_card.family, loaded_card.architecture["rank"]) == ("lowrank", 4)
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        expected = network(images).numpy()
        np.testing.assert_array_equal(loaded.eval()(images).numpy(), expected)
    graph = LoadedModel(card, OnnxRuntimeBackend(onnx_graph(network, images), "float32"))
    np.testing.assert_allclose(graph.forward(images), expected, atol=1e-5)


def test_training_builds_the_family_it_is_given(image_store: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        epochs=1, widths=(4, 8), family="lowrank", rank=2, head="sigmoid", device="cpu"
    )
    train(image_store, "image", tmp_path / "run", config, progress=False)
    network, card = load_checkpoint(tmp_path / "run" / "best")
    assert isinstance(network, LowRankImagePINet) and network.rank == 2
    assert card.training["family"] == "lowrank"
