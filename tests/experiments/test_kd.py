"""The distillation loss, partial mixup and teachers' relabelling of mixed windows
(`experiments.kd`, `experiments.teachers`) on tiny hand-made batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional

from experiments.kd import distillation_loss, partial_mixup, relabelled, standardised
from experiments.teachers import Teacher, Teachers
from pinet.tda import get_recipe


def logits(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


STUDENT = logits([[1.0, -1.0, 0.5], [0.2, 0.1, -0.3]])
TEACHER = logits([[3.0, 0.0, 1.0], [-1.0, 2.0, 0.0]])
LABELS = torch.tensor([0, 1])


def test_blend_zero_is_the_cross_entropy() -> None:
    loss = distillation_loss(STUDENT, LABELS, [TEACHER], [1.0], blend=0.0)
    assert loss.item() == pytest.approx(functional.cross_entropy(STUDENT, LABELS).item())


def test_the_divergence_is_scaled_by_the_temperature_squared() -> None:
    """blend 1: T^2 x KL, so that at T = 2 and T = 4 the loss is 4 and 16 times the KL of
    the logits softened at that temperature."""
    for temperature in (2.0, 4.0):
        student = functional.log_softmax(standardised(STUDENT) / temperature, dim=1)
        teacher = functional.softmax(standardised(TEACHER) / temperature, dim=1)
        divergence = functional.kl_div(student, teacher, reduction="batchmean")
        loss = distillation_loss(STUDENT, LABELS, [TEACHER], [1.0], 1.0, temperature)
        assert loss.item() == pytest.approx(temperature**2 * divergence.item())


def test_known_value_on_one_sample() -> None:
    """Student (1, -1) and teacher (2, 0), label 0, blend 0.5, T = 4, worked by hand: both
    standardise to +-0.7071 and (1.4142, 0) (std over two classes, unbiased: sqrt(2))."""
    student, teacher = logits([[1.0, -1.0]]), logits([[2.0, 0.0]])
    p_student = softmax([0.5**0.5 / 4, -(0.5**0.5) / 4])
    p_teacher = softmax([2**0.5 / 4, 0.0])
    kl = sum(t * math.log(t / s) for t, s in zip(p_teacher, p_student, strict=True))
    cross_entropy = -math.log(softmax([1.0, -1.0])[0])
    expected = 0.5 * cross_entropy + 0.5 * 16 * kl
    loss = distillation_loss(student, torch.tensor([0]), [teacher], [1.0], 0.5, 4.0)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_teachers_are_weighted_and_their_logit_scale_does_not_matter() -> None:
    """Logits are standardised: a teacher whose logits are 3 x + 5 the student's agrees
    with it completely; with two teachers each KL term carries its weight."""
    same = distillation_loss(STUDENT, LABELS, [3 * STUDENT + 5], [1.0], blend=1.0)
    assert same.item() == pytest.approx(0.0, abs=1e-12)
    one = distillation_loss(STUDENT, LABELS, [TEACHER], [1.0], blend=1.0)
    both = distillation_loss(STUDENT, LABELS, [TEACHER, 3 * STUDENT], [0.7, 0.3], blend=1.0)
    assert both.item() == pytest.approx(0.7 * one.item())


def test_soft_labels_and_mismatched_weights() -> None:
    soft = functional.one_hot(LABELS, 3).to(torch.float64)
    assert distillation_loss(STUDENT, soft, [TEACHER], [1.0]).item() == pytest.approx(
        distillation_loss(STUDENT, LABELS, [TEACHER], [1.0]).item()
    )
    with pytest.raises(ValueError, match="2 teachers but 1 weights"):
        distillation_loss(STUDENT, LABELS, [TEACHER, TEACHER], [1.0])


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Eight (2, 5) windows, each a constant equal to its row number, labels cycling 0..3."""
    inputs = torch.arange(8, dtype=torch.float32)[:, None, None].expand(8, 2, 5).clone()
    return inputs, torch.arange(8) % 4


def test_partial_mixup_mixes_only_its_pairs_and_their_labels_alike() -> None:
    inputs, labels = batch()
    mixed = partial_mixup(inputs, labels, 4, 3, torch.Generator().manual_seed(0))
    assert len(mixed.rows) == 3 and len(set(mixed.rows.tolist())) == 3
    assert (mixed.rows != mixed.partners).all()
    untouched = np.setdiff1d(np.arange(8), mixed.rows.numpy())
    assert torch.equal(mixed.inputs[untouched], inputs[untouched])
    one_hot = functional.one_hot(labels, 4).float()
    assert torch.equal(mixed.targets[untouched], one_hot[untouched])
    for row, partner, weight in zip(mixed.rows, mixed.partners, mixed.weights, strict=True):
        value = weight * row + (1 - weight) * partner  # the windows hold their row number
        torch.testing.assert_close(mixed.inputs[row], torch.full((2, 5), value.item()))
        expected = weight * one_hot[row] + (1 - weight) * one_hot[partner]
        torch.testing.assert_close(mixed.targets[row], expected)
    torch.testing.assert_close(mixed.targets.sum(dim=1), torch.ones(8))
    assert torch.equal(inputs, batch()[0])  # the batch itself is left alone


def test_partial_mixup_is_seeded_and_caps_its_pairs() -> None:
    inputs, labels = batch()
    first = partial_mixup(inputs, labels, 4, 3, torch.Generator().manual_seed(5))
    again = partial_mixup(inputs, labels, 4, 3, torch.Generator().manual_seed(5))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.rows, again.rows)
    assert len(partial_mixup(inputs, labels, 4, 50, torch.Generator()).rows) == 8


def test_relabelled_asks_the_teacher_about_mixed_rows_only() -> None:
    inputs, labels = batch()
    mixed = partial_mixup(inputs, labels, 4, 2, torch.Generator().manual_seed(1))
    precomputed = torch.full((8, 4), -1.0)
    asked = []

    def teacher(windows: torch.Tensor) -> torch.Tensor:
        asked.append(windows.clone())
        return windows.mean(dim=(1, 2))[:, None].expand(-1, 4)

    out = relabelled(precomputed, mixed, teacher)
    assert torch.equal(asked[0], mixed.inputs[mixed.rows])
    untouched = np.setdiff1d(np.arange(8), mixed.rows.numpy())
    assert torch.equal(out[untouched], precomputed[untouched])
    torch.testing.assert_close(out[mixed.rows], teacher(mixed.inputs[mixed.rows]))


class Recording(nn.Module):
    """Returns the mean of each input as every logit, and keeps the inputs' shape."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return x.flatten(1).mean(dim=1, keepdim=True).expand(-1, 3)


def test_a_pi_teacher_computes_the_exact_pis_of_any_window() -> None:
    recipe = get_recipe("signal-sublevel-tpkd")
    net = Recording()
    teacher = Teacher(net, recipe, torch.zeros(0, 3))
    windows = torch.from_numpy(np.random.default_rng(0).normal(0, 0.3, (2, 3, 100)))
    got = teacher.logits(windows.float())
    assert net.shapes == [(2, 3, 64, 64)]
    expected = recipe.images_batch(windows.float().numpy()).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got[:, 0].numpy(), expected, rtol=1e-6)


def test_teachers_are_trained_once_each() -> None:
    trained = []

    def train(key: str) -> Teacher:
        trained.append(key)
        return Teacher(Recording(), None, torch.zeros(0, 3))

    teachers = Teachers(train)
    assert teachers.get("a") is teachers.get("a")
    teachers.get("b")
    assert trained == ["a", "b"]
