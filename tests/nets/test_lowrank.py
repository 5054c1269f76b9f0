"""The "lowrank" family: a separable head of at most `rank` terms for signals and images, its
options, and a checkpoint, an ONNX graph and training that all carry it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.card import DataSourceRef, ModelCard, RecipeRef
from pinet.checkpoint import load_checkpoint, save_checkpoint
from pinet.export.onnx import onnx_graph
from pinet.inference import LoadedModel, OnnxRuntimeBackend
from pinet.modality import Modality
from pinet.nets import LowRankImagePINet, LowRankSignalPINet, RasterImagePINet, build_network
from pinet.train import TrainConfig, train

# A batch of 3 two-channel inputs of each modality.
INPUT_SHAPES: dict[Modality, tuple[int, ...]] = {"signal": (3, 2, 40), "image": (3, 2, 20, 20)}


@pytest.mark.parametrize(
    ("modality", "rank", "per_channel"),
    [("image", 1, True), ("image", 3, False), ("signal", 2, True), ("signal", 4, False)],
)
def test_each_pi_is_a_sum_of_rank_outer_products(
    modality: Modality, rank: int, per_channel: bool
) -> None:
    torch.manual_seed(0)
    network = (
        build_network(
            modality, 2, family="lowrank", per_channel=per_channel, widths=(4, 8), rank=rank
        )
        .double()
        .eval()
    )  # float64, so that the logit undoes the sigmoid to 1e-12
    with torch.no_grad():
        pis = network(torch.rand(*INPUT_SHAPES[modality], dtype=torch.float64))
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
    assert isinstance(build_network("signal", 3, family="lowrank"), LowRankSignalPINet)


@pytest.mark.parametrize(
    ("modality", "input_shape", "recipe"),
    [("image", (3, 32, 32), "image-raster"), ("signal", (3, 250), "signal-takens")],
)
def test_a_lowrank_checkpoint_and_its_onnx_graph_give_its_pis(
    modality: Modality, input_shape: tuple[int, ...], recipe: str, tmp_path: Path
) -> None:
    torch.manual_seed(1)
    network = build_network(modality, 3, family="lowrank", per_channel=True, widths=(4, 8))
    card = ModelCard.describing(
        network.eval(),
        name="lowrank",
        input_shape=input_shape,
        recipe=RecipeRef(name=recipe),
        data_source=DataSourceRef(name="synthetic"),
    )
    save_checkpoint(network, card, tmp_path / "lowrank")
    loaded, loaded_card = load_checkpoint(tmp_path / "lowrank")
    assert (loaded_card.family, loaded_card.architecture["rank"]) == ("lowrank", 4)
    inputs = torch.rand(4, *input_shape)
    with torch.no_grad():
        expected = network(inputs).numpy()
        np.testing.assert_array_equal(loaded.eval()(inputs).numpy(), expected)
    graph = LoadedModel(card, OnnxRuntimeBackend(onnx_graph(network, inputs), "float32"))
    np.testing.assert_allclose(graph.forward(inputs), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("family", "network_type"), [("lowrank", LowRankImagePINet), ("raster", RasterImagePINet)]
)
def test_training_builds_the_family_it_is_given(
    family: str, network_type: type[LowRankImagePINet], image_store: Path, tmp_path: Path
) -> None:
    """Both families with a separable head: the 2-D one and the one reading raster paths."""
    config = TrainConfig(
        epochs=1, widths=(4, 8), family=family, rank=2, head="sigmoid", device="cpu"
    )
    train(image_store, "image", tmp_path / "run", config, progress=False)
    network, card = load_checkpoint(tmp_path / "run" / "best")
    assert type(network) is network_type and network.rank == 2
    assert (card.family, card.training["family"]) == (family, family)
