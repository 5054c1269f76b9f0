"""The training loop on tiny real stores: learning, pluggable objectives, exact
resumption, what a run writes, and the optimiser schedules."""

from __future__ import annotations

import contextlib
import itertools
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data_prep.sources.photos import PhotoCrops
from pinet.card import TrainingRanges
from pinet.checkpoint import load_checkpoint, read_card, save_checkpoint
from pinet.inference import load_model
from pinet.nets import build_network
from pinet.store import GroundTruthStore
from pinet.tda import get_recipe
from pinet.train import TrainConfig, train
from pinet.train import data as training_data
from pinet.train.loop import autotunes_convolutions, learning_rate, make_optimiser
from pinet.train.losses import Objective
from tests.helpers import TINY_WIDTHS, TrainedRun, tiny_store
from tests.train.helpers import (
    InterruptAfterEpochs,
    Interrupted,
    assert_same_tensors,
    history,
    last_checkpoint,
    without_timing,
)

# -- learning ----------------------------------------------------------------------


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


class ScaledError(Objective):
    """A pluggable objective: `scale` times the mean squared error."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def loss(self, predictions, targets):
        return self.scale * torch.nn.functional.mse_loss(predictions, targets)

    def describe(self) -> dict:
        return {"name": "scaled-mse", "scale": self.scale}


def test_the_loop_minimises_the_objective_it_is_given(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """An objective with no gradient leaves the weights where they started; the card says
    which objective made them, and the default is MSE."""
    config = replace(signal_run.config, epochs=1)
    train(
        signal_run.store,
        "signal",
        tmp_path / "still",
        config,
        objective=ScaledError(0.0),
        progress=False,
    )
    train(
        signal_run.store,
        "signal",
        tmp_path / "moved",
        config,
        objective=ScaledError(1.0),
        progress=False,
    )
    initial = load_model(tmp_path / "still" / "best", "cpu").backend.network.state_dict()
    torch.manual_seed(config.seed)  # as `train` seeds before building its network
    untrained = build_network("signal", 3, widths=config.widths, head=config.head).state_dict()
    weights = [key for key in untrained if key.endswith("weight")]
    assert all(torch.equal(initial[key], untrained[key]) for key in weights)
    moved = load_model(tmp_path / "moved" / "best", "cpu").backend.network.state_dict()
    assert not all(torch.equal(moved[key], untrained[key]) for key in weights)
    card = read_card(tmp_path / "still" / "best")
    assert card.training["objective"] == {"name": "scaled-mse", "scale": 0.0}
    assert read_card(signal_run.out / "best").training["objective"] == {"name": "mse"}


# -- resumption----------------------------------------------------------------------


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


# -- outputs of a run------------------------------------------------------------


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
    assert card.architecture["widths"] == list(TINY_WIDTHS)
    assert card.architecture["head"] == "relu"
    assert card.family == "pinet"
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
    assert card.training["stores"] == [str(image_run.store)]
    train_idx, _ = training_data.split_by_group(
        GroundTruthStore.open(image_run.store), config.val_fraction, config.seed
    )
    assert card.training["train_samples"] == len(train_idx) > 0
    assert card.training_ranges == TrainingRanges(channels=(3, 3), sizes=(32, 32))

    last = read_card(last_checkpoint(image_run.out))
    assert last.training["epochs_done"] == config.epochs
    assert last.metrics["val_mse"] == entries[-1]["val_mse"]


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


def test_cudnn_autotunes_only_when_each_store_keeps_one_shape() -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert autotunes_convolutions(cuda, TrainConfig())
    # crops draw a new length for nearly every batch: one tuning each would cost more
    # than the steps (0.35 s a step on an H200)
    assert not autotunes_convolutions(cuda, TrainConfig(crop_min_size=64))
    assert not autotunes_convolutions(cpu, TrainConfig())


@pytest.mark.parametrize("changes", [{"augment": True}, {"crop_min_size": 100}])
def test_training_on_symmetries_or_crops_changes_the_run_and_still_resumes_bit_for_bit(
    signal_run: TrainedRun, tmp_path: Path, changes: dict[str, object]
) -> None:
    config = replace(signal_run.config, **changes)
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


def test_weight_average_is_what_is_validated_and_kept_and_resumes_bit_for_bit(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    config = replace(signal_run.config, weight_average=0.9)
    train(signal_run.store, "signal", tmp_path / "whole", config, progress=False)
    whole, plain = history(tmp_path / "whole"), history(signal_run.out)
    # the optimiser steps the same weights; validation sees their average
    assert [h["train_mse"] for h in whole] == [h["train_mse"] for h in plain]
    assert [h["val_mse"] for h in whole] != [h["val_mse"] for h in plain]
    best, _ = load_checkpoint(tmp_path / "whole" / "best")
    stepped, _ = load_checkpoint(last_checkpoint(signal_run.out))
    assert any(
        not torch.equal(a, b) for a, b in zip(best.parameters(), stepped.parameters(), strict=True)
    )
    assert read_card(tmp_path / "whole" / "best").training["weight_average"] == 0.9
    with pytest.raises(Interrupted), contextlib.redirect_stdout(InterruptAfterEpochs(1)):
        train(signal_run.store, "signal", tmp_path / "cut", config, progress=True)
    train(signal_run.store, "signal", tmp_path / "cut", config, resume=True, progress=False)
    assert without_timing(history(tmp_path / "cut")) == without_timing(whole)
    for folder in ("best", last_checkpoint(tmp_path / "cut").name):
        assert_same_tensors(
            tmp_path / "cut" / folder / "model.safetensors",
            tmp_path / "whole" / folder / "model.safetensors",
        )


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"weight_average": 1.0}, r"decay per step in \[0, 1\), not 1\.0"),
        ({"weight_average": -0.1}, r"decay per step in \[0, 1\), not -0\.1"),
        ({"weight_average": 0.99, "frozen_batch_norm": True}, "use one of them"),
    ],
)
def test_a_weight_average_that_cannot_be_is_refused(
    signal_run: TrainedRun, tmp_path: Path, changes: dict[str, object], refusal: str
) -> None:
    config = replace(signal_run.config, **changes)
    with pytest.raises(ValueError, match=refusal):
        train(signal_run.store, "signal", tmp_path / "run", config, progress=False)
    assert not (tmp_path / "run").exists()


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
    train(signal_run.store, "signal", tmp_path / "per-channel", config, progress=False)
    card = read_card(tmp_path / "per-channel" / "best")
    assert card.per_channel and card.training["per_channel"] is True
    model = load_model(tmp_path / "per-channel" / "best")
    assert model.backend.network.per_channel


def test_preloading_more_than_fits_is_refused_before_training(
    signal_run: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training_data, "available_memory", lambda device: 1_000_000)
    config = replace(signal_run.config, preload=True)
    with pytest.raises(ValueError, match=r"--preload needs 0\.\d GB .* 0\.0 GB free"):
        train(signal_run.store, "signal", tmp_path / "too-big", config, progress=False)
    assert not (tmp_path / "too-big" / "last").exists()


def test_init_starts_from_a_checkpoints_weights(signal_run: TrainedRun, tmp_path: Path) -> None:
    """With a learning rate of 0 only BatchNorm's running statistics move: every weight is
    the starting checkpoint's, and the card records where it started."""
    start = signal_run.out / "best"
    config = replace(signal_run.config, epochs=1, lr=0.0, init=str(start), name="tuned")
    train(signal_run.store, "signal", tmp_path / "tuned", config, progress=False)
    tuned, card = load_checkpoint(tmp_path / "tuned" / "best")
    initial, _ = load_checkpoint(start)
    weights = dict(initial.named_parameters())
    for name, tensor in tuned.named_parameters():
        assert torch.equal(tensor, weights[name]), name
    assert card.training["init"] == str(start)
    # the weights it started from stay named when the name later means others
    assert card.training["init_checkpoint_id"] == read_card(start).checkpoint_id


def test_a_resumed_run_keeps_the_checkpoint_it_started_from(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """A run resumed after its --init checkpoint was replaced (a bundled model retrained
    under the same name) still names the weights it started from."""
    start = tmp_path / "start"
    shutil.copytree(signal_run.out / "best", start)
    first = read_card(start).checkpoint_id
    config = replace(signal_run.config, epochs=2, init=str(start), name="tuned")
    with pytest.raises(Interrupted), contextlib.redirect_stdout(InterruptAfterEpochs(1)):
        train(signal_run.store, "signal", tmp_path / "tuned", config, progress=True)
    model, card = load_checkpoint(start)
    save_checkpoint(model, card, start)  # the same name, a new save
    assert read_card(start).checkpoint_id != first
    train(signal_run.store, "signal", tmp_path / "tuned", config, resume=True, progress=False)
    assert read_card(last_checkpoint(tmp_path / "tuned")).training["init_checkpoint_id"] == first


def test_init_refuses_another_architecture(signal_run: TrainedRun, tmp_path: Path) -> None:
    config = replace(signal_run.config, widths=(4, 8, 8), init=str(signal_run.out / "best"))
    with pytest.raises(ValueError, match=r"differs in architecture.*same --family, --widths"):
        train(signal_run.store, "signal", tmp_path / "run", config, progress=False)
