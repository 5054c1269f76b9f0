"""Stores labelled by the teachers alone (`pinet distill --teacher-labelled`): their PIs fill
both target slots, they train the student towards the teachers even where the exact PIs
weigh all (alpha 1), they may hold another recipe's PIs, validation ignores them, the card
records who labelled what, and only distillation accepts them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from data_prep import job
from data_prep.sources.synthetic import SyntheticSignals
from pinet.checkpoint import read_card
from pinet.cli import main
from pinet.inference import load_model, predict
from pinet.store import GroundTruthStore
from pinet.tda import get_recipe
from pinet.train import train
from pinet.train.data import StoreSamples
from pinet.train.distill import Distillation, teacher_pis
from pinet.train.mixture import Component, open_stores
from tests.helpers import STORE_CHUNK, TrainedRun, tiny_checkpoint
from tests.train.helpers import history


@pytest.fixture(scope="module")
def other_recipe_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic signals of 100 samples whose PIs are another recipe's (spread 0.5): inputs
    that the run's recipe never labelled."""
    out = tmp_path_factory.mktemp("teacher-labelled") / "synthetic-100.zarr"
    recipe = get_recipe("signal-sublevel", {"spread": 0.5})
    source = SyntheticSignals(length=100, count=80)
    job.run(source, recipe, out, chunk_size=STORE_CHUNK, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def untrained_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher far from the exact PIs, so that what a student learns from it shows."""
    folder = tmp_path_factory.mktemp("teacher")
    return tiny_checkpoint(folder, "untrained", "signal", (3, 250), "signal-sublevel")


def test_the_teachers_pis_fill_both_slots(signal_run: TrainedRun, other_recipe_store: Path) -> None:
    teacher = load_model(signal_run.out / "best", "cpu")
    store = GroundTruthStore.open(other_recipe_store)
    samples = StoreSamples(store, store.usable_indices("train")[:8], "signal")
    labelled = Distillation([teacher]).labelled(samples, exact=False)
    _, targets = labelled.__getitems__(list(range(8)))
    taught = teacher_pis([teacher], samples).to(targets)
    assert torch.equal(targets[:, :, 0], taught) and torch.equal(targets[:, :, 1], taught)
    _, stored = samples.__getitems__(list(range(8)))
    assert not torch.allclose(targets[:, :, 0], stored.to(targets), atol=1e-2)  # not its own


def test_a_teacher_labelled_store_pulls_the_student_towards_the_teacher(
    signal_run: TrainedRun, other_recipe_store: Path, untrained_teacher: Path, tmp_path: Path
) -> None:
    """At alpha 1 the exact PIs weigh all: a student trained on the exact store alone and
    one trained with the teacher-labelled store beside it differ only by those inputs, on
    which the second ends closer to the teacher."""
    teacher = load_model(untrained_teacher, "cpu")
    student = replace(signal_run.config, seed=2, name="student")
    objective = Distillation([teacher], alpha=1.0)
    exact_only = [Component(signal_run.store)]
    with_taught = [*exact_only, Component(other_recipe_store, labels="teachers")]
    for name, data in (("exact", exact_only), ("taught", with_taught)):
        train(data, "signal", tmp_path / name, student, objective=objective, progress=False)
    store = GroundTruthStore.open(other_recipe_store)
    inputs = store["inputs"][store.usable_indices("train")]
    wanted = predict(teacher, inputs)

    def distance(name: str) -> float:
        model = load_model(tmp_path / name / "best", "cpu")
        return float(np.mean((predict(model, inputs) - wanted) ** 2))

    assert distance("taught") < 0.5 * distance("exact")


def test_the_cli_trains_on_them_validates_without_them_and_records_them(
    signal_run: TrainedRun,
    other_recipe_store: Path,
    untrained_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    argv = ["distill", "--model", "signal", "--out", str(out), "--epochs", "1"]
    argv += ["--batch-size", "16", "--widths", "4,8,8,16", "--device", "cpu", "--no-progress"]
    argv += ["--data", f"{signal_run.store}:3", "--teacher", str(untrained_teacher)]
    assert main([*argv, "--teacher-labelled", f"{other_recipe_store}:1"]) == 0
    capsys.readouterr()
    card = read_card(out / "best")
    components = card.data_source.params["components"]
    assert [(c["labels"], c["weight"]) for c in components] == [
        ("exact", 0.75),
        ("teachers", 0.25),
    ]
    assert card.recipe.params == get_recipe("signal-sublevel").params  # the exact store's
    assert card.training_ranges.sizes == (100, 250)  # it trained on the taught inputs too
    (entry,) = history(out)
    assert "val_mse_by_store" not in entry  # one store validated: the exact one


def test_only_distillation_and_a_run_with_exact_pis_first_accept_them(
    signal_run: TrainedRun, other_recipe_store: Path, tmp_path: Path
) -> None:
    taught = Component(other_recipe_store, labels="teachers")
    with pytest.raises(ValueError, match="needs teachers to label it: pinet distill"):
        train([Component(signal_run.store), taught], "signal", tmp_path / "a", signal_run.config,
              progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="first store gives the run its recipe"):
        open_stores([taught, Component(signal_run.store)], "signal")
    with pytest.raises(ValueError, match="one model, one recipe"):  # as exact PIs: refused
        open_stores([Component(signal_run.store), Component(other_recipe_store)], "signal")
