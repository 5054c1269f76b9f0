"""Distillation: the teachers' PIs are their mean, travel with the exact ones through exact
symmetries, and pull the student towards the teacher; the card says who taught it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.checkpoint import read_card
from pinet.inference import load_model, predict
from pinet.store import GroundTruthStore
from pinet.tda import get_recipe
from pinet.train import train
from pinet.train.crops import RandomCrops
from pinet.train.data import StoreSamples, exact_symmetries, split_by_group
from pinet.train.distill import Distillation, teacher_pis
from pinet.train.mixup import PartialMixup
from tests.helpers import TrainedRun, tiny_checkpoint


def validation_inputs(run: TrainedRun) -> np.ndarray:
    store = GroundTruthStore.open(run.store)
    _, val = split_by_group(store, run.config.val_fraction, run.config.seed)
    return store["inputs"][np.sort(val)]


def test_an_ensemble_teacher_is_the_mean_of_its_members(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    other = replace(signal_run.config, seed=1, epochs=1)
    train(signal_run.store, "signal", tmp_path / "other", other, progress=False)
    members = [
        load_model(signal_run.out / "best", "cpu"),
        load_model(tmp_path / "other" / "best", "cpu"),
    ]
    store = GroundTruthStore.open(signal_run.store)
    samples = StoreSamples(store, store.usable_indices("train")[:10], "signal")
    raw = store["inputs"][store.usable_indices("train")[:10]]
    expected = (predict(members[0], raw) + predict(members[1], raw)) / 2
    mean = teacher_pis(members, samples)
    assert mean.dtype == torch.float16 and mean.shape == (10, 3, 50, 50)
    np.testing.assert_allclose(mean.float().numpy(), expected, atol=1e-3)  # float16 rounding


def test_labelling_shows_its_progress_only_when_asked(
    signal_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher = load_model(signal_run.out / "best", "cpu")
    store = GroundTruthStore.open(signal_run.store)
    samples = StoreSamples(store, store.usable_indices("train")[:10], "signal")
    quiet = teacher_pis([teacher], samples)
    assert capsys.readouterr().err == ""
    shown = teacher_pis([teacher], samples, progress=True)
    assert "1 teacher(s) labelling" in capsys.readouterr().err
    assert torch.equal(quiet, shown)  # the bar changes nothing it labels


def test_teacher_pis_move_with_the_exact_ones(signal_run: TrainedRun) -> None:
    teacher = load_model(signal_run.out / "best", "cpu")
    store = GroundTruthStore.open(signal_run.store)
    samples = Distillation([teacher]).labelled(
        StoreSamples(store, store.usable_indices("train")[:8], "signal")
    )
    inputs, targets = samples.__getitems__(list(range(8)))
    assert targets.shape == (8, 3, 2, 50, 50)
    _, moved = exact_symmetries(inputs, targets, torch.Generator().manual_seed(0))
    for c in range(3):  # channel c of the moved pair was some channel k: both PIs moved
        (k,) = [k for k in range(3) if torch.equal(moved[0, c, 0], targets[0, k, 0])]
        assert torch.equal(moved[0, c, 1], targets[0, k, 1])


def test_distillation_pulls_the_student_towards_its_teacher(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """The same student, trained on the teacher's PIs alone (alpha 0) and on the exact ones
    alone (alpha 1): the first ends closer to the teacher. The teacher, an untrained network,
    is far from the exact PIs, so that the two students differ. Its card names the teacher."""
    folder = tiny_checkpoint(tmp_path, "untrained", "signal", (3, 250), "signal-sublevel")
    teacher = load_model(folder, "cpu")
    student = replace(signal_run.config, seed=2, name="student")
    for alpha in (0.0, 1.0):
        objective = Distillation([teacher], alpha)
        train(signal_run.store, "signal", tmp_path / f"a{alpha}", student, objective=objective,
              progress=False)  # fmt: skip
    inputs = validation_inputs(signal_run)
    wanted = predict(teacher, inputs)

    def distance(alpha: float) -> float:
        model = load_model(tmp_path / f"a{alpha}" / "best", "cpu")
        return float(np.mean((predict(model, inputs) - wanted) ** 2))

    assert distance(0.0) < distance(1.0)
    objective = read_card(tmp_path / "a0.0" / "best").training["objective"]
    assert objective["name"] == "distillation" and objective["alpha"] == 0.0
    assert [t["name"] for t in objective["teachers"]] == ["untrained"]


def test_alpha_must_weigh_between_0_and_1(signal_run: TrainedRun) -> None:
    with pytest.raises(ValueError, match="0 to 1"):
        Distillation([load_model(signal_run.out / "best", "cpu")], alpha=1.5)
    with pytest.raises(ValueError, match="at least one teacher"):
        Distillation([])


@pytest.mark.parametrize("labels", ["teacher", "exact"])
def test_partial_mixup_replaces_a_few_samples_with_labelled_mixtures(
    signal_run: TrainedRun, labels: str
) -> None:
    teacher = load_model(signal_run.out / "best", "cpu")
    store = GroundTruthStore.open(signal_run.store)
    objective = Distillation([teacher], mixup=PartialMixup(pairs=3, labels=labels))
    samples = objective.labelled(StoreSamples(store, store.usable_indices("train")[:12], "signal"))
    inputs, targets = samples.__getitems__(list(range(12)))
    mixed, labelled = objective.prepare(inputs, targets, torch.Generator().manual_seed(5))
    changed = [i for i in range(12) if not torch.equal(mixed[i], inputs[i])]
    assert len(changed) == 3
    kept = [i for i in range(12) if i not in changed]
    assert torch.equal(labelled[kept], targets[kept])
    blends = mixed[changed]
    # z-scored again, as every network input is
    np.testing.assert_allclose(blends.mean(dim=2), 0, atol=1e-5)
    np.testing.assert_allclose(blends.std(dim=2, correction=0), 1, atol=1e-4)
    taught = torch.from_numpy(teacher.forward(blends))
    torch.testing.assert_close(labelled[changed, :, 1], taught.to(labelled), atol=1e-3, rtol=0)
    recipe = get_recipe("signal-sublevel")
    exact = torch.from_numpy(recipe.images_batch(blends.numpy().astype(np.float64)))
    expected = exact if labels == "exact" else taught
    torch.testing.assert_close(labelled[changed, :, 0], expected.to(labelled), atol=1e-3, rtol=0)
    again, _ = objective.prepare(inputs, targets, torch.Generator().manual_seed(5))
    assert torch.equal(again, mixed)  # drawn from the generator alone


def test_mixup_is_recorded_and_validated(signal_run: TrainedRun, tmp_path: Path) -> None:
    teacher = load_model(signal_run.out / "best", "cpu")
    with pytest.raises(ValueError, match="pairs >= 1"):
        PartialMixup(pairs=0)
    student = replace(signal_run.config, epochs=1, name="mixed")
    objective = Distillation([teacher], mixup=PartialMixup(pairs=2, labels="exact"))
    train(signal_run.store, "signal", tmp_path / "run", student, objective=objective,
          progress=False)  # fmt: skip
    recorded = read_card(tmp_path / "run" / "best").training["objective"]["mixup"]
    assert recorded == {"pairs": 2, "labels": "exact", "alpha": 1.0}


def test_crops_are_labelled_by_the_teachers_beside_the_recipe(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    teacher = load_model(signal_run.out / "best", "cpu")
    store = GroundTruthStore.open(signal_run.store)
    objective = Distillation([teacher])
    samples = objective.labelled(StoreSamples(store, store.usable_indices("train")[:8], "signal"))
    inputs, targets = samples.__getitems__(list(range(8)))
    recipe = get_recipe("signal-sublevel")
    generator = torch.Generator().manual_seed(0)
    cropped, labelled = RandomCrops(100, share=1.0).apply(
        inputs, targets, recipe, generator, objective
    )
    assert cropped.shape[2] < inputs.shape[2] and labelled.shape == (8, 3, 2, 50, 50)
    exact = recipe.images_batch(cropped.numpy().astype(np.float64))  # a z-score keeps PIs
    np.testing.assert_allclose(labelled[:, :, 0].numpy(), exact, atol=1e-6)
    taught = teacher.forward(cropped)
    np.testing.assert_allclose(labelled[:, :, 1].numpy(), taught, atol=1e-6)
    assert not np.allclose(taught, targets[:, :, 1].numpy(), atol=1e-3)  # not the uncropped
    student = replace(signal_run.config, epochs=1, crop_min_size=100, name="cropped")
    train(signal_run.store, "signal", tmp_path / "run", student, objective=objective,
          progress=False)  # fmt: skip
    card = read_card(tmp_path / "run" / "best")
    assert card.training["crop_min_size"] == 100 and card.training_ranges.sizes == (100, 250)
    assert card.training["objective"]["name"] == "distillation"
