"""Training and evaluation on tiny real stores: learning, exact resumption, run outputs,
validation by group, checkpoint metrics."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from data_prep.sources.photos import PhotoCrops
from pinet import training
from pinet.checkpoint import read_card
from pinet.inference import load_model, predict
from pinet.store import GroundTruthStore
from pinet.tda import get_recipe
from pinet.training import (
    TrainConfig,
    evaluate_checkpoint,
    exact_symmetries,
    export_checkpoint,
    learning_rate,
    make_optimiser,
    split_by_group,
    train,
)
from tests.conftest import TINY_WIDTHS, TrainedRun, tiny_store

# The authors' CIFAR10 samples: 10 images (3, 32, 32) in [0, 1] with their PIs.
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE_SAMPLES = REFERENCE / "pinet_cifar10_samples.npz"


def history(run_folder: Path) -> list[dict]:
    return [json.loads(line) for line in (run_folder / "metrics.jsonl").read_text().splitlines()]


def last_checkpoint(run_folder: Path) -> Path:
    return run_folder / (run_folder / "last").read_text().strip()


def without_timing(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in entries]


def assert_same_tensors(first: Path, second: Path) -> None:
    tensors, expected = load_file(first), load_file(second)
    assert sorted(tensors) == sorted(expected)
    for name, tensor in tensors.items():
        assert tensor.dtype == expected[name].dtype, name
        assert tensor.equal(expected[name]), f"{name} differs"


class Interrupted(Exception):
    """Stands for a Ctrl-C between two epochs."""


class InterruptAfterEpochs(io.StringIO):
    """A stdout that interrupts training once `epochs` epochs are saved: `train` with
    progress on prints each epoch's JSON line right after writing that epoch's checkpoint."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.remaining = epochs

    def write(self, text: str) -> int:
        if text.startswith("{"):
            self.remaining -= 1
            if self.remaining == 0:
                raise Interrupted
        return super().write(text)


# -- learning -----------------------------------------------------------------------------


OVERFIT_WIDTHS = (8, 16, 16, 32)


def test_a_tiny_model_fits_a_tiny_store(tmp_path: Path) -> None:
    """A small Image PI-Net memorises a dozen photo crops: one full-batch Adam step per
    epoch, and the training MSE ends at least 10x below the first epoch's (measured 12x
    after 150 steps on 8 crops, where the mean-PI predictor's MSE is 0.011 and the first
    step's 0.015)."""
    store = tiny_store(tmp_path / "photos.zarr", PhotoCrops(), "image-raster", limit=16)
    config = TrainConfig(
        epochs=200,
        batch_size=16,
        lr=1e-2,
        optimiser="adam",
        widths=OVERFIT_WIDTHS,
        val_fraction=0.1,
        device="cpu",
        name="overfit",
    )
    train(store, "image", tmp_path / "run", config, progress=False)
    train_mse = [entry["train_mse"] for entry in history(tmp_path / "run")]
    assert train_mse[-1] <= train_mse[0] / 10, train_mse[::20]


# -- resumption ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory: pytest.TempPathFactory, signal_run: TrainedRun) -> Path:
    """The signal run's config, interrupted after its first epoch, then resumed to the end."""
    out = tmp_path_factory.mktemp("resumed") / "signal"
    interrupt = InterruptAfterEpochs(1)
    with pytest.raises(Interrupted), contextlib.redirect_stdout(interrupt):
        train(signal_run.store, "signal", out, signal_run.config, progress=True)
    assert len(history(out)) == 1
    assert not (out / "loss.png").exists()
    train(signal_run.store, "signal", out, signal_run.config, resume=True, progress=False)
    return out


def test_resume_is_bit_exact(signal_run: TrainedRun, resumed_run: Path) -> None:
    assert (resumed_run / "last").read_text() == (signal_run.out / "last").read_text()
    for name in ("model.safetensors", "optimiser.safetensors"):
        assert_same_tensors(
            last_checkpoint(resumed_run) / name, last_checkpoint(signal_run.out) / name
        )
    assert_same_tensors(
        resumed_run / "best" / "model.safetensors", signal_run.out / "best" / "model.safetensors"
    )
    assert without_timing(history(resumed_run)) == without_timing(history(signal_run.out))


def test_resume_with_another_config_is_refused(signal_run: TrainedRun, resumed_run: Path) -> None:
    before = {p.name: p.read_bytes() for p in resumed_run.iterdir() if p.is_file()}
    changed = replace(signal_run.config, lr=5e-3, batch_size=8)
    with pytest.raises(ValueError, match=r"different configuration \(batch_size, lr\)"):
        train(signal_run.store, "signal", resumed_run, changed, resume=True, progress=False)
    longer = replace(signal_run.config, epochs=4)
    with pytest.raises(ValueError, match=r"\(epochs\)"):
        train(signal_run.store, "signal", resumed_run, longer, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in resumed_run.iterdir() if p.is_file()} == before


def test_training_into_an_existing_run_is_refused(signal_run: TrainedRun) -> None:
    last = (signal_run.out / "last").read_text()
    with pytest.raises(ValueError, match="already holds a training run; pass --resume"):
        train(signal_run.store, "signal", signal_run.out, signal_run.config, progress=False)
    assert (signal_run.out / "last").read_text() == last


def test_resume_without_a_run_is_refused(signal_run: TrainedRun, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to resume"):
        train(signal_run.store, "signal", tmp_path, signal_run.config, resume=True, progress=False)
    assert list(tmp_path.iterdir()) == []


# -- outputs of a run ---------------------------------------------------------------------


def test_a_run_keeps_the_last_epoch_and_the_best(image_run: TrainedRun) -> None:
    epochs = image_run.config.epochs
    assert (image_run.out / "last").read_text() == f"epoch-{epochs:04d}\n"
    assert sorted(p.name for p in image_run.out.glob("epoch-*")) == [f"epoch-{epochs:04d}"]
    for folder in (last_checkpoint(image_run.out), image_run.out / "best"):
        assert (folder / "model.safetensors").is_file()
        assert (folder / "card.json").is_file()
    for name in ("optimiser.safetensors", "state.json"):
        assert (last_checkpoint(image_run.out) / name).is_file()
    assert not (image_run.out / "best" / "optimiser.safetensors").exists()


def test_metrics_has_one_line_per_epoch(image_run: TrainedRun) -> None:
    entries = history(image_run.out)
    assert [e["epoch"] for e in entries] == list(range(1, image_run.config.epochs + 1))
    for entry in entries:
        assert {"train_mse", "val_mse", "val_mae", "lr"} <= set(entry)
        assert np.isfinite([entry["train_mse"], entry["val_mse"]]).all()
        assert entry["train_mse"] > 0 and entry["val_mse"] > 0
    assert image_run.result["last"] == entries[-1]
    assert image_run.result["best_val_mse"] == min(e["val_mse"] for e in entries)


@pytest.mark.parametrize(
    ("name", "smallest"),
    [
        ("loss.png", (600, 400)),  # figsize (6, 4) at 100 dpi
        ("predictions.png", (400, 600)),  # >= 3 channels x 2 in, >= 2 samples x 4 in, 80 dpi
    ],
)
def test_plots_are_real_pngs(image_run: TrainedRun, name: str, smallest: tuple) -> None:
    with Image.open(image_run.out / name) as image:
        assert image.format == "PNG"
        assert image.width >= smallest[0] and image.height >= smallest[1]
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 16, "the plot is blank"


def test_the_card_says_what_the_model_was_trained_on(image_run: TrainedRun) -> None:
    card = read_card(image_run.out / "best")
    recipe = get_recipe("image-raster")
    assert card.name == "tiny-image"
    assert card.modality == "image"
    assert (card.recipe.name, card.recipe.params) == (recipe.name, recipe.params)
    assert card.data_source.name == "photos"
    assert card.data_source.params == PhotoCrops().params
    assert card.widths == TINY_WIDTHS
    assert card.head == "relu"
    assert card.input_shape == (3, 32, 32)
    assert card.in_channels == 3

    entries = history(image_run.out)
    best = min(entries, key=lambda e: e["val_mse"])
    assert card.metrics == {"val_mse": best["val_mse"], "val_mae": best["val_mae"]}
    assert card.training["epochs_done"] == best["epoch"]
    config = image_run.config
    for field in ("epochs", "batch_size", "lr", "optimiser", "seed", "val_fraction"):
        assert card.training[field] == getattr(config, field), field
    assert tuple(card.training["widths"]) == TINY_WIDTHS
    assert card.training["store"] == str(image_run.store)

    last = read_card(last_checkpoint(image_run.out))
    assert last.training["epochs_done"] == config.epochs
    assert last.metrics["val_mse"] == entries[-1]["val_mse"]


# -- validation by group ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["signal", "image"])
def store(request: pytest.FixtureRequest) -> GroundTruthStore:
    return GroundTruthStore.open(request.getfixturevalue(f"{request.param}_store"))


@pytest.mark.parametrize("val_fraction", [0.0, 0.15, 0.5, 1.0])
def test_validation_holds_out_whole_groups(store: GroundTruthStore, val_fraction: float) -> None:
    train_idx, val_idx = split_by_group(store, val_fraction, seed=3)
    groups = store["groups"][:]
    train_groups, val_groups = set(groups[train_idx]), set(groups[val_idx])
    assert train_groups and val_groups, "each side needs at least one group"
    assert not train_groups & val_groups
    usable_train = store.usable_indices("train")
    assert sorted([*train_idx, *val_idx]) == usable_train.tolist()
    assert set(store["split"][:][val_idx]) == {"train"}


def test_validation_split_depends_only_on_the_seed(store: GroundTruthStore) -> None:
    first = split_by_group(store, 0.3, seed=7)
    again = split_by_group(store, 0.3, seed=7)
    for indices, expected in zip(first, again, strict=True):
        assert np.array_equal(indices, expected)
    held_out = {frozenset(store["groups"][:][split_by_group(store, 0.3, s)[1]]) for s in range(5)}
    assert len(held_out) > 1, "the seed does not change which groups are held out"


# -- evaluating a checkpoint --------------------------------------------------------------


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


def test_evaluate_checkpoint_against_the_authors_samples(image_run: TrainedRun) -> None:
    if not REFERENCE_SAMPLES.is_file():
        pytest.skip(f"{REFERENCE_SAMPLES} is not in this checkout")
    checkpoint = image_run.out / "best"
    metrics = evaluate_checkpoint(
        checkpoint, image_run.store, device="cpu", reference=REFERENCE_SAMPLES
    )
    with np.load(REFERENCE_SAMPLES) as samples:
        images, expected = samples["images"], samples["pis"]
    predicted = predict(load_model(checkpoint, device="cpu"), images)
    mean_pi = mean_training_pi(GroundTruthStore.open(image_run.store))
    reference = metrics["reference"]
    assert reference["samples"] == len(images) == 10
    assert reference["mse"] == pytest.approx(np.mean((predicted - expected) ** 2), rel=1e-5)
    assert reference["mean_pi_mse"] == pytest.approx(np.mean((expected - mean_pi) ** 2), rel=1e-5)
    assert reference["mse"] > 0 and reference["mean_pi_mse"] > 0


def test_a_signal_model_is_not_evaluated_on_images(signal_run: TrainedRun, image_store: Path):
    with pytest.raises(
        ValueError, match="holds image-raster ground truth; the model was trained on signal"
    ):
        evaluate_checkpoint(signal_run.out / "best", image_store, device="cpu")


def test_training_refuses_a_store_of_the_other_modality(image_store: Path, tmp_path: Path):
    config = TrainConfig(epochs=1, widths=TINY_WIDTHS, device="cpu")
    with pytest.raises(ValueError, match="holds image ground truth, not signal"):
        train(image_store, "signal", tmp_path / "run", config, progress=False)
    assert not (tmp_path / "run").exists()


def test_released_optimiser_stages_the_rate_as_the_authors_and_adam_follows_a_cosine() -> None:
    released = TrainConfig(epochs=10, lr=1e-3, optimiser="released")
    assert [learning_rate(released, e) for e in (0, 2, 3, 5, 6, 9)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5]
    )
    (group,) = make_optimiser(torch.nn.Linear(2, 2), released).param_groups
    assert group["betas"] == (0.99, 0.999) and group["eps"] == 0.1
    default = TrainConfig(epochs=10, lr=1e-3)
    assert default.optimiser == "adam"
    rates = [learning_rate(default, e) for e in range(10)]
    assert rates[0] == pytest.approx(1e-3) and rates[5] == pytest.approx(5e-4)
    assert all(later < earlier for earlier, later in itertools.pairwise(rates))


def test_export_writes_float16_with_the_metrics_of_those_weights(
    image_run: TrainedRun, tmp_path: Path
) -> None:
    out = tmp_path / "models" / "tiny-image"
    evaluation = export_checkpoint(image_run.out / "best", out, image_run.store, REFERENCE_SAMPLES)
    card = read_card(out)
    assert card.dtype == "float16"
    assert {key: value for key, value in card.metrics.items() if key.startswith("val_")} == (
        read_card(image_run.out / "best").metrics
    )
    measured_again = evaluate_checkpoint(out, image_run.store, "test", "cpu", REFERENCE_SAMPLES)
    assert card.metrics["test_mse"] == measured_again["mse"] == evaluation["mse"]
    assert card.metrics["test_mean_pi_mse"] == measured_again["mean_pi_mse"]
    assert card.metrics["reference_mse"] == measured_again["reference"]["mse"]
    assert card.training["test_store"] == str(image_run.store)
    weights = load_file(out / "model.safetensors")
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}


def test_export_can_make_a_model_that_averages_reversed_inputs(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    plain = export_checkpoint(signal_run.out / "best", tmp_path / "plain", signal_run.store)
    averaging = export_checkpoint(
        signal_run.out / "best", tmp_path / "averaging", signal_run.store, average_reversed=True
    )
    card = read_card(tmp_path / "averaging")
    assert card.average_reversed and not read_card(tmp_path / "plain").average_reversed
    assert load_model(tmp_path / "averaging", "cpu").network.average_reversed
    assert card.metrics["test_mse"] == averaging["mse"] != plain["mse"]


@pytest.mark.parametrize(
    ("recipe_name", "shape"),
    [("image-raster", (3, 12, 10)), ("image-cubical", (3, 9, 11)), ("signal-sublevel", (3, 40))],
)
def test_exact_symmetries_map_true_pairs_to_true_pairs(
    recipe_name: str, shape: tuple[int, ...]
) -> None:
    recipe = get_recipe(recipe_name)
    rng = np.random.default_rng(3)
    if recipe_name.startswith("image"):
        raw = rng.integers(0, 256, (16, *shape), dtype=np.uint8)
    else:
        raw = rng.normal(size=(16, *shape)).cumsum(axis=-1)
    pis = torch.from_numpy(recipe.images_batch(raw))
    moved, moved_pis = exact_symmetries(
        torch.from_numpy(raw), pis, torch.Generator().manual_seed(0)
    )
    assert not torch.equal(moved, torch.from_numpy(raw))  # something did move
    np.testing.assert_allclose(recipe.images_batch(moved.numpy()), moved_pis.numpy(), atol=1e-6)


def test_training_on_symmetries_changes_the_run_and_still_resumes_bit_for_bit(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    config = replace(signal_run.config, augment=True)
    whole = train(signal_run.store, "signal", tmp_path / "whole", config, progress=False)
    assert whole["last"]["train_mse"] != signal_run.result["last"]["train_mse"]
    with pytest.raises(Interrupted), contextlib.redirect_stdout(InterruptAfterEpochs(1)):
        train(signal_run.store, "signal", tmp_path / "cut", config, progress=True)
    train(signal_run.store, "signal", tmp_path / "cut", config, resume=True, progress=False)
    assert without_timing(history(tmp_path / "cut")) == without_timing(history(tmp_path / "whole"))
    assert_same_tensors(
        last_checkpoint(tmp_path / "cut") / "model.safetensors",
        last_checkpoint(tmp_path / "whole") / "model.safetensors",
    )


def test_preloaded_samples_train_exactly_as_streamed_ones(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    config = replace(signal_run.config, preload=True)
    train(signal_run.store, "signal", tmp_path / "preloaded", config, progress=False)
    assert without_timing(history(tmp_path / "preloaded")) == without_timing(
        history(signal_run.out)
    )
    assert_same_tensors(
        last_checkpoint(tmp_path / "preloaded") / "model.safetensors",
        last_checkpoint(signal_run.out) / "model.safetensors",
    )


def test_a_per_channel_run_records_it_and_loads_as_trained(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    config = replace(signal_run.config, per_channel=True, epochs=1)
    train(signal_run.store, "signal", tmp_path / "shared", config, progress=False)
    card = read_card(tmp_path / "shared" / "best")
    assert card.per_channel and card.training["per_channel"] is True
    model = load_model(tmp_path / "shared" / "best")
    assert model.network.per_channel


def test_preloading_more_than_fits_is_refused_before_training(
    signal_run: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "available_memory", lambda device: 1_000_000)
    config = replace(signal_run.config, preload=True)
    with pytest.raises(ValueError, match=r"--preload needs 0\.\d GB .* 0\.0 GB free"):
        train(signal_run.store, "signal", tmp_path / "too-big", config, progress=False)
    assert not (tmp_path / "too-big" / "last").exists()
