"""Evaluating a checkpoint on a store's split, with the mean-PI baseline and the authors'
CIFAR10 samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep.sources.aeon_archives import UeaUcrSeries
from data_prep.sources.synthetic import SyntheticSignals
from pinet.cli import main
from pinet.inference import load_model, network_inputs, predict
from pinet.store import GroundTruthStore
from pinet.tda.reference import reference_samples
from pinet.train import evaluate_checkpoint
from pinet.train.batch_norm import recompute_batch_norm
from pinet.train.evaluate import evaluate_by_source, evaluate_on_store
from tests.helpers import TrainedRun, tiny_store


def mean_training_pi(store: GroundTruthStore) -> np.ndarray:
    return store["pis"][store.usable_indices("train")].mean(axis=0, dtype=np.float64)


def test_evaluate_checkpoint_reports_the_baseline(image_run: TrainedRun) -> None:
    checkpoint = image_run.out / "best"
    metrics = evaluate_checkpoint(checkpoint, image_run.store, device="cpu")
    store = GroundTruthStore.open(image_run.store)
    test = store.usable_indices("test")
    expected = store["pis"][test]
    predicted = predict(load_model(checkpoint, device="cpu"), store["inputs"][test])
    assert metrics["samples"] == len(test) > 0
    assert metrics["mse"] == pytest.approx(np.mean((predicted - expected) ** 2), rel=1e-5)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - expected)), rel=1e-5)
    assert len(metrics["per_channel_mse"]) == 3
    assert metrics["mse"] == pytest.approx(np.mean(metrics["per_channel_mse"]))
    baseline = np.mean((expected - mean_training_pi(store)) ** 2)
    assert metrics["mean_pi_mse"] == pytest.approx(baseline, rel=1e-5)
    assert metrics["mse_vs_mean_pi"] == pytest.approx(metrics["mse"] / metrics["mean_pi_mse"])
    labels = store["labels"][:][test]
    per_label = metrics["per_label"]
    assert sorted(per_label) == sorted(str(label) for label in np.unique(labels))
    for label, scores in per_label.items():
        rows = labels == int(label)
        assert scores["samples"] == rows.sum()
        mse = np.mean((predicted[rows] - expected[rows]) ** 2)
        assert scores["mse"] == pytest.approx(mse, rel=1e-5)
        baseline = np.mean((expected[rows] - mean_training_pi(store)) ** 2)
        assert scores["mse_vs_mean_pi"] == pytest.approx(mse / baseline, rel=1e-5)
    weighted = sum(s["mse"] * s["samples"] for s in per_label.values()) / len(test)
    assert weighted == pytest.approx(metrics["mse"], rel=1e-5)


def test_evaluate_checkpoint_against_the_authors_samples(image_run: TrainedRun) -> None:
    """An image-raster model is scored on the samples shipped with pinet by default."""
    checkpoint = image_run.out / "best"
    metrics = evaluate_checkpoint(checkpoint, image_run.store, device="cpu")
    samples = reference_samples()
    images, expected = samples.images, samples.pis
    predicted = predict(load_model(checkpoint, device="cpu"), images)
    mean_pi = mean_training_pi(GroundTruthStore.open(image_run.store))
    reference = metrics["reference"]
    assert reference["samples"] == len(images) == 10
    assert reference["mse"] == pytest.approx(np.mean((predicted - expected) ** 2), rel=1e-5)
    assert reference["mean_pi_mse"] == pytest.approx(np.mean((expected - mean_pi) ** 2), rel=1e-5)
    assert reference["mse"] > 0 and reference["mean_pi_mse"] > 0


def test_reference_samples_are_refused_for_another_recipe(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="hold image-raster PIs; model 'tiny-signal' was trained"):
        evaluate_checkpoint(
            signal_run.out / "best", signal_run.store, device="cpu", reference=tmp_path / "x.npz"
        )
    assert "reference" not in evaluate_checkpoint(signal_run.out / "best", signal_run.store)


def test_a_signal_model_is_not_evaluated_on_images(signal_run: TrainedRun, image_store: Path):
    with pytest.raises(
        ValueError, match="holds image-raster ground truth; the model was trained on signal"
    ):
        evaluate_checkpoint(signal_run.out / "best", image_store, device="cpu")


def test_signal_channels_are_scored_by_their_largest_z(signal_run: TrainedRun) -> None:
    """Each channel window falls in one band of its largest |z|, and each band's scores are
    those of its channel windows, computed directly."""
    checkpoint = signal_run.out / "best"
    metrics = evaluate_checkpoint(checkpoint, signal_run.store, device="cpu")
    store = GroundTruthStore.open(signal_run.store)
    test = store.usable_indices("test")
    inputs, expected = store["inputs"][test], store["pis"][test]
    predicted = predict(load_model(checkpoint, device="cpu"), inputs)
    centred = inputs - inputs.mean(axis=-1, keepdims=True)
    largest_z = np.abs(centred / centred.std(axis=-1, keepdims=True)).max(axis=-1)
    bands = {"<3": largest_z < 3, "3-4": (largest_z >= 3) & (largest_z < 4)}
    bands |= {"4-6": (largest_z >= 4) & (largest_z < 6), ">=6": largest_z >= 6}
    present = {name: rows for name, rows in bands.items() if rows.any()}
    per_band = metrics["per_largest_z"]
    assert list(per_band) == list(present) and len(present) >= 2  # HAPT's windows differ
    baseline = mean_training_pi(store)[None]
    for name, rows in present.items():
        mse = np.mean((predicted - expected)[rows] ** 2)
        assert per_band[name]["samples"] == rows.sum()
        assert per_band[name]["mse"] == pytest.approx(mse, rel=1e-5)
        baseline_mse = np.mean((expected - baseline)[rows] ** 2)
        assert per_band[name]["mse_vs_mean_pi"] == pytest.approx(mse / baseline_mse, rel=1e-5)
    assert sum(s["samples"] for s in per_band.values()) == expected.shape[0] * expected.shape[1]
    weighted = sum(s["mse"] * s["samples"] for s in per_band.values()) / largest_z.size
    assert weighted == pytest.approx(metrics["mse"], rel=1e-5)


def test_images_are_not_scored_by_largest_z(image_run: TrainedRun) -> None:
    """An image's intensities are not z-scored by its recipe: no bands."""
    metrics = evaluate_checkpoint(image_run.out / "best", image_run.store, device="cpu")
    assert "per_largest_z" not in metrics and "per_label" in metrics


ELEVEN_FAMILIES = (
    "random-walk,ar,sines,chirp,piecewise-constant,piecewise-linear,spikes,bursts,smooth,noise,"
    "periodic"
)


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second signal source beside HAPT: synthetic signals of the same shape, of the
    families named (as a store records them), so that a family added later leaves them be."""
    out = tmp_path_factory.mktemp("sources") / "synthetic.zarr"
    return tiny_store(out, SyntheticSignals(count=60, families=ELEVEN_FAMILIES), "signal-sublevel")


def test_each_source_is_scored_against_its_own_mean_pi(
    signal_run: TrainedRun, synthetic_store: Path
) -> None:
    model = load_model(signal_run.out / "best", device="cpu")
    by_source = evaluate_by_source(model, [signal_run.store, synthetic_store])
    assert list(by_source) == ["hapt", "synthetic"]
    for label, path in zip(by_source, [signal_run.store, synthetic_store], strict=True):
        store = GroundTruthStore.open(path)
        test = store.usable_indices("test")
        expected = store["pis"][test]
        mse = np.mean((predict(model, store["inputs"][test]) - expected) ** 2)
        baseline = np.mean((expected - mean_training_pi(store)) ** 2)
        metrics = by_source[label]
        assert metrics["samples"] == len(test) > 0
        assert metrics["mse"] == pytest.approx(mse, rel=1e-5)
        assert metrics["mean_pi_mse"] == pytest.approx(baseline, rel=1e-5)
        assert metrics["mse_vs_mean_pi"] == pytest.approx(mse / baseline, rel=1e-5)
    assert by_source["hapt"]["mean_pi_mse"] != by_source["synthetic"]["mean_pi_mse"]


def test_the_command_scores_each_source_and_export_records_them(
    signal_run: TrainedRun,
    synthetic_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = str(signal_run.out / "best")
    stores = ["--data", str(signal_run.store), "--data", str(synthetic_store)]
    assert main(["eval", "--checkpoint", checkpoint, *stores, "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"hapt", "synthetic", "runs_file"}
    assert printed["runs_file"] == "model.safetensors"  # a training checkpoint: torch
    out = tmp_path / "exported"
    argv = ["export", "--checkpoint", checkpoint, "--out", str(out), "--device", "cpu"]
    sources = ["--source", str(signal_run.store), "--source", str(synthetic_store)]
    assert main([*argv, "--data", str(signal_run.store), *sources]) == 0
    capsys.readouterr()
    exported = load_model(out, device="cpu")
    assert exported.card.source_metrics == evaluate_by_source(
        exported, [signal_run.store, synthetic_store]
    )


def test_batch_norm_statistics_of_another_source_score_the_torch_weights(
    signal_run: TrainedRun, synthetic_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--batch-norm-from`: statistics of the store's training inputs (all of them in a tiny
    store, one batch), the checkpoint left as it was."""
    checkpoint = str(signal_run.out / "best")
    argv = ["eval", "--checkpoint", checkpoint, "--data", str(synthetic_store), "--device", "cpu"]
    assert main([*argv, "--batch-norm-from", str(synthetic_store)]) == 0
    adapted = json.loads(capsys.readouterr().out)
    store = GroundTruthStore.open(synthetic_store)
    train_ids, test = store.usable_indices("train"), store.usable_indices("test")
    assert adapted["batch_norm_from"] == {"store": str(synthetic_store), "samples": len(train_ids)}
    model = load_model(checkpoint, device="cpu", backend="torch")
    plain = np.mean((predict(model, store["inputs"][test]) - store["pis"][test]) ** 2)
    inputs = network_inputs(store["inputs"][train_ids], "signal")
    recompute_batch_norm(model.backend.network, [inputs])
    mse = np.mean((predict(model, store["inputs"][test]) - store["pis"][test]) ** 2)
    assert adapted["mse"] == pytest.approx(mse, rel=1e-4)
    assert abs(adapted["mse"] - plain) > 1e-3 * plain
    assert main([*argv]) == 0
    assert json.loads(capsys.readouterr().out)["mse"] == pytest.approx(plain, rel=1e-5)


def test_batch_norm_statistics_of_another_modality_are_refused(
    signal_run: TrainedRun, image_store: Path
) -> None:
    with pytest.raises(ValueError, match="holds image inputs; the model takes signal"):
        evaluate_checkpoint(
            signal_run.out / "best", signal_run.store, device="cpu", batch_norm_store=image_store
        )


def test_a_graph_is_not_scored_on_inputs_its_card_refuses(tmp_path: Path) -> None:
    """The bundled int8 student's graph would run on 24-sample series (ItalyPowerDemand);
    its card takes 64 samples and more, so evaluation refuses the store as a request would."""
    store = tiny_store(tmp_path / "short.zarr", UeaUcrSeries("ItalyPowerDemand"), "signal-sublevel")
    model = load_model("signal-hapt-student", device="cpu")
    assert model.card.runtime is not None and model.card.min_input_size == 64
    with pytest.raises(ValueError, match=r"signal length is 24; .* needs at least 64"):
        evaluate_on_store(model, store)
