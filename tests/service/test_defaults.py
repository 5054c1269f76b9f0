"""Which model answers a request that names none: the one PINET_DEFAULT_MODELS names, else,
among the models of the released recipe, on a CPU an int8 graph, then the smallest network,
then the most accurate, and on CUDA the most accurate; GET /v1/models says which."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from pinet.card import ModelCard, RuntimeRef
from pinet.checkpoint import read_card
from service.app import create_app
from service.launcher import Server
from service.serving.registry import default_models
from service.settings import Settings
from tests.helpers import tiny_checkpoint

SIGNAL = ((3, 250), "signal-sublevel")


@pytest.fixture
def cards(tmp_path: Path) -> dict[str, ModelCard]:
    """A small, less accurate signal model, a large, more accurate one, and an image model."""
    tiny_checkpoint(tmp_path, "small", "signal", *SIGNAL, per_channel=True,
                    metrics={"test_mse_vs_mean_pi": 0.4})  # fmt: skip
    tiny_checkpoint(tmp_path, "large", "signal", *SIGNAL, metrics={"test_mse_vs_mean_pi": 0.2})
    tiny_checkpoint(tmp_path, "image", "image", (3, 32, 32), "image-raster")
    return {name: read_card(tmp_path / name) for name in ("small", "large", "image")}


def sizes(cards: dict[str, ModelCard]) -> dict[str, int]:
    return {name: card.build_network().parameter_count for name, card in cards.items()}


def test_a_cpu_serves_the_smallest_and_cuda_the_most_accurate(cards: dict[str, ModelCard]) -> None:
    counts = sizes(cards)
    assert counts["small"] < counts["large"]
    assert default_models(cards, counts, {}, cuda=False) == {"signal": "small", "image": "image"}
    assert default_models(cards, counts, {}, cuda=True) == {"signal": "large", "image": "image"}


def test_on_a_cpu_an_int8_graph_answers_before_smaller_weights_for_torch(
    cards: dict[str, ModelCard],
) -> None:
    counts = sizes(cards)
    graph = RuntimeRef(backend="onnxruntime", precision="int8", file="model.onnx", sha256="0" * 64)
    with_graph = {**cards, "large": cards["large"].model_copy(update={"runtime": graph})}
    assert counts["large"] > counts["small"]
    assert default_models(with_graph, counts, {}, cuda=False)["signal"] == "large"
    float_graph = graph.model_copy(update={"precision": "float32"})
    with_float_graph = {
        **cards,
        "large": cards["large"].model_copy(update={"runtime": float_graph}),
    }
    assert default_models(with_float_graph, counts, {}, cuda=False)["signal"] == "small"


def test_on_a_cpu_the_more_accurate_of_two_equally_cheap_graphs_answers(
    cards: dict[str, ModelCard], tmp_path: Path
) -> None:
    """Two int8 graphs of one network (as the HAPT-only and the broad signal students are):
    the lower test error answers, whichever name sorts first."""
    tiny_checkpoint(tmp_path, "also-small", "signal", *SIGNAL, per_channel=True,
                    metrics={"test_mse_vs_mean_pi": 0.39})  # fmt: skip
    graph = RuntimeRef(backend="onnxruntime", precision="int8", file="model.onnx", sha256="0" * 64)
    both = {
        name: card.model_copy(update={"runtime": graph})
        for name, card in {**cards, "also-small": read_card(tmp_path / "also-small")}.items()
    }
    counts = sizes(both)
    assert counts["also-small"] == counts["small"] < counts["large"]
    assert default_models(both, counts, {}, cuda=False)["signal"] == "also-small"
    worse = both["also-small"].model_copy(update={"metrics": {"test_mse_vs_mean_pi": 0.41}})
    with_worse = {**both, "also-small": worse}
    assert default_models(with_worse, counts, {}, cuda=False)["signal"] == "small"


def test_a_request_naming_no_model_gets_the_released_recipe_when_a_model_has_it(
    cards: dict[str, ModelCard], tmp_path: Path
) -> None:
    """A smaller and a more accurate model of another recipe (a Rips one) answer only when
    named; a modality with no model of its released recipe still has a default."""
    tiny_checkpoint(tmp_path, "rips", "image", (3, 32, 32), "image-rips", per_channel=True,
                    metrics={"test_mse_vs_mean_pi": 0.01})  # fmt: skip
    tiny_checkpoint(tmp_path, "takens", "signal", *SIGNAL[:1], "signal-takens", per_channel=True)
    everything = {**cards, **{name: read_card(tmp_path / name) for name in ("rips", "takens")}}
    counts = sizes(everything)
    assert counts["rips"] < counts["image"]
    for cuda in (False, True):
        assert default_models(everything, counts, {}, cuda=cuda)["image"] == "image"
    only_other_recipes = {name: everything[name] for name in ("rips", "takens")}
    assert default_models(only_other_recipes, counts, {}, cuda=False) == {
        "signal": "takens",
        "image": "rips",
    }


def test_a_named_default_wins_over_the_rule(cards: dict[str, ModelCard]) -> None:
    assert default_models(cards, sizes(cards), {"signal": "large"}, cuda=False) == {
        "signal": "large",
        "image": "image",
    }


@pytest.mark.parametrize("chosen", [{"signal": "missing"}, {"signal": "image"}])
def test_a_named_default_must_be_a_loaded_model_of_its_modality(
    cards: dict[str, ModelCard], chosen: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="the signal models loaded are: large, small"):
        default_models(cards, sizes(cards), chosen, cuda=False)


def test_a_bad_default_keeps_the_service_not_ready_and_says_why(
    cards: dict[str, ModelCard], tmp_path: Path
) -> None:
    settings = Settings(models_dir=tmp_path, device="cpu", default_models={"image": "large"})
    registry = create_app(settings).state.registry
    asyncio.run(registry.load())
    assert not registry.ready
    assert "default_models names 'large' for images" in registry.problem


def served_defaults(server: Server) -> dict[str, bool]:
    models = httpx.get(f"{server.url}/v1/models", timeout=30).json()["models"]
    return {model["name"]: model["default"] for model in models}


def test_models_say_which_is_the_default(server: Server, patient_server: Server) -> None:
    """The default server names tiny-signal; the patient server leaves it to the CPU's
    rule, which picks the per-channel network (one input channel, one 50 x 50 output)."""
    named = served_defaults(server)
    assert [name for name, default in named.items() if default] == ["tiny-image", "tiny-signal"]
    ruled = served_defaults(patient_server)
    assert [name for name, default in ruled.items() if default] == [
        "tiny-image",
        "tiny-signal-per-channel",
    ]


def test_a_request_naming_no_model_gets_the_default(server: Server) -> None:
    signal = np.random.default_rng(0).normal(size=(3, 250)).tolist()
    response = httpx.post(f"{server.url}/v1/signals/pi", json={"signal": signal}, timeout=30)
    assert response.status_code == 200
    assert response.json()["model"]["name"] == "tiny-signal"
