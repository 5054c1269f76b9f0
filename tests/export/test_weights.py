"""Weights export: float16 or int8 weights as bundled models ship, with the metrics of those
weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pinet.checkpoint import read_card
from pinet.export import export_weights
from pinet.inference import load_model
from pinet.train import evaluate_checkpoint
from tests.helpers import TrainedRun, tiny_checkpoint


def test_export_writes_float16_with_the_metrics_of_those_weights(
    image_run: TrainedRun, tmp_path: Path
) -> None:
    out = tmp_path / "models" / "tiny-image"
    evaluation = export_weights(image_run.out / "best", out, image_run.store)
    card = read_card(out)
    assert card.dtype == "float16"
    assert {key: value for key, value in card.metrics.items() if key.startswith("val_")} == (
        read_card(image_run.out / "best").metrics
    )
    measured_again = evaluate_checkpoint(out, image_run.store, "test", "cpu")
    assert card.metrics["test_mse"] == measured_again["mse"] == evaluation["mse"]
    assert card.metrics["test_mean_pi_mse"] == measured_again["mean_pi_mse"]
    assert card.metrics["reference_mse"] == measured_again["reference"]["mse"]
    assert card.training["test_store"] == str(image_run.store)
    weights = load_file(out / "model.safetensors")
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}


def test_an_int8_weights_export_is_smaller_and_its_card_holds_what_it_scores(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """The card's test metrics are those of the int8 weights as loaded, which differ from
    the float16 weights' (the matrices really were quantized), in half the file or less."""
    half = export_weights(signal_run.out / "best", tmp_path / "half", signal_run.store)
    int8 = export_weights(
        signal_run.out / "best", tmp_path / "int8", signal_run.store, dtype=torch.int8
    )
    card = read_card(tmp_path / "int8")
    assert card.dtype == "int8"
    measured_again = evaluate_checkpoint(tmp_path / "int8", signal_run.store, "test", "cpu")
    assert card.metrics["test_mse"] == measured_again["mse"] == int8["mse"] != half["mse"]
    size = {
        kind: (tmp_path / kind / "model.safetensors").stat().st_size for kind in ("half", "int8")
    }
    assert size["int8"] < size["half"]


@pytest.mark.parametrize("average", ["average_reversed", "average_resampled"])
def test_export_can_make_a_model_that_averages_over_a_symmetry(
    average: str, signal_run: TrainedRun, tmp_path: Path
) -> None:
    """Each window with its reversal, or with itself at twice its rate: the flag reaches the
    card and the loaded network, and the card's metrics are the averaging model's."""
    plain = export_weights(signal_run.out / "best", tmp_path / "plain", signal_run.store)
    averaging = export_weights(
        signal_run.out / "best", tmp_path / "averaging", signal_run.store, **{average: True}
    )
    card = read_card(tmp_path / "averaging")
    assert card.architecture[average]
    assert not read_card(tmp_path / "plain").architecture.get(average, False)
    assert getattr(load_model(tmp_path / "averaging", "cpu").backend.network, average)
    assert card.metrics["test_mse"] == averaging["mse"] != plain["mse"]


def test_averaging_resampled_signals_is_refused_where_the_pis_need_every_sample(
    tmp_path: Path,
) -> None:
    """A delay embedding of a window at twice its rate is another point cloud."""
    checkpoint = tiny_checkpoint(tmp_path, "takens", "signal", (3, 250), "signal-takens")
    with pytest.raises(ValueError, match="--average-resampled: signal-takens's PIs depend on more"):
        export_weights(checkpoint, tmp_path / "out", tmp_path / "no-store", average_resampled=True)
    assert not (tmp_path / "out").exists()


def test_averaging_reversed_inputs_is_refused_for_signal_takens_at_stride_2(
    tmp_path: Path,
) -> None:
    """At stride 2 a reversed window has other signal-takens PIs: an average would blur
    them."""
    checkpoint = tiny_checkpoint(
        tmp_path, "takens", "signal", (3, 250), "signal-takens", recipe_params={"stride": 2}
    )
    with pytest.raises(ValueError, match="--average-reversed: signal-takens's PIs change"):
        export_weights(checkpoint, tmp_path / "out", tmp_path / "no-store", average_reversed=True)
    assert not (tmp_path / "out").exists()
