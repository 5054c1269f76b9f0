"""The image experiment: `python -m experiments run images --quick` and `report --quick` as
a user runs them (real subprocesses, one quick run shared by the module), and unit tests of
what is easy to get wrong: the DenseNet on any size, the fusion, the FS subset, the 8-bit
noisy test images, fine-tuning that leaves the bundled PI-Net alone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from experiments import images
from experiments.data import Split
from experiments.densenet import DenseNet, PIFusedDenseNet
from experiments.finetune import FineTuning, fine_tuned, fs_subset, learned_pis
from experiments.image_pis import BUNDLED, FA, FS, as_8bit, image_data
from experiments.nets import PICNN
from experiments.noise import CONDITIONS
from experiments.results import CLEAN, RESULTS_FILE, load
from pinet.inference import TorchBackend, load_model
from tests.experiments.helpers import SEEDS, quick_report, run_experiments


def results(root: Path) -> list[dict[str, Any]]:
    return load(root / "images-quick" / RESULTS_FILE)["results"]


@pytest.fixture(scope="module")
def quick_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experiments")
    run_experiments(root, "run", "images", "--quick")
    return root


def test_every_row_seed_and_condition_has_finite_scores(quick_root: Path) -> None:
    found = results(quick_root)
    keys = sorted((r["row"], r["seed"], r["condition"]) for r in found)
    assert keys == sorted((row, s, c) for row in images.ROWS for s in SEEDS for c in CONDITIONS)
    for result in found:
        metrics = result["metrics"]
        assert all(math.isfinite(value) for value in metrics.values())
        assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
        learned = images.SOURCE_OF_ROW[result["row"]] in (BUNDLED, FA, FS)
        assert ("pi_mse" in metrics) == learned


def test_the_report_has_every_row(quick_root: Path) -> None:
    quick_report(quick_root, images)


def test_rerunning_one_row_reproduces_its_numbers(quick_root: Path) -> None:
    """FS: fine-tuning, PI-Net PIs and the fused classifier all seeded."""
    row, seed = "DenseNet + PI-Net FS PI", 1

    def scores_of_row() -> dict[str, dict[str, float]]:
        return {
            r["condition"]: r["metrics"]
            for r in results(quick_root)
            if (r["row"], r["seed"]) == (row, seed)
        }

    before = scores_of_row()
    run_experiments(quick_root, "run", "images", "--row", row, "--seed", str(seed), "--quick")
    assert set(before) == set(CONDITIONS)
    assert scores_of_row() == before


@pytest.mark.parametrize(("channels", "side"), [(1, 28), (3, 32), (1, 7), (3, 1)])
def test_the_densenet_takes_any_size(channels: int, side: int) -> None:
    net = DenseNet(channels, classes=10, growth=4, blocks=(2, 2, 2)).eval()
    assert net(torch.rand(2, channels, side, side)).shape == (2, 10)
    assert net.features(torch.rand(2, channels, side, side)).shape == (2, net.width)


def test_the_fused_densenet_uses_the_pis() -> None:
    torch.manual_seed(0)
    model = PIFusedDenseNet(DenseNet(1, 10, growth=4, blocks=(1, 1)), PICNN(1, 10, 4), 10)
    model.eval()
    images_batch = torch.rand(3, 1, 28, 28)
    logits = model(images_batch, torch.rand(3, 1, 50, 50))
    assert logits.shape == (3, 10)
    assert not torch.equal(logits, model(images_batch, torch.rand(3, 1, 50, 50)))


def test_the_fs_subset_is_a_seeded_tenth() -> None:
    subset = fs_subset(60_000, seed=0)
    assert len(subset) == 6_000 == len(np.unique(subset))
    assert np.all(np.diff(subset) > 0) and 0 <= subset[0] and subset[-1] < 60_000
    assert np.array_equal(subset, fs_subset(60_000, seed=0))
    assert not np.array_equal(subset, fs_subset(60_000, seed=1))
    assert len(fs_subset(514, seed=0)) == 51 and len(fs_subset(3, seed=0)) == 1


def test_noisy_test_images_are_8_bit_and_clean_ones_untouched() -> None:
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (20, 1, 6, 6)).astype(np.float32) / 255
    assert np.array_equal(as_8bit(clean), clean)
    split = Split(clean, np.zeros((20, 1, 50, 50), np.float32), np.arange(20) % 2, np.arange(20))
    data = image_data(split, split, classifier_images=10, seed=0)
    assert len(data.classifier_rows) == 10 == len(np.unique(data.classifier_rows))
    assert list(data.conditions) == list(CONDITIONS)
    assert np.array_equal(data.conditions[CLEAN], clean)
    for noisy in data.conditions.values():
        assert 0 <= noisy.min() and noisy.max() <= 1
        assert np.allclose(noisy * 255, np.round(noisy * 255), atol=1e-4)


def test_fine_tuning_is_seeded_and_leaves_the_bundled_pinet_alone() -> None:
    bundled = load_model(images.PINET_MODEL, "cpu", backend="torch")
    assert isinstance(bundled.backend, TorchBackend)
    rng = np.random.default_rng(0)
    inputs = rng.random((8, 1, 20, 20)).astype(np.float32)
    targets = rng.random((8, 1, 50, 50)).astype(np.float32)
    before = learned_pis(bundled, inputs)
    # Its weights, not its PIs: fine-tuning sets the thread count, and PIs computed under
    # another one may differ in the last bit.
    network = bundled.backend.network
    weights = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    plan = FineTuning(samples=8, batch_size=4)
    first, second = (fine_tuned(bundled, inputs, targets, plan, seed=3, threads=1) for _ in "ab")
    after = network.state_dict()
    assert after.keys() == weights.keys()
    assert all(torch.equal(after[name], tensor) for name, tensor in weights.items())
    assert np.array_equal(learned_pis(first, inputs), learned_pis(second, inputs))
    assert not np.array_equal(learned_pis(first, inputs), before)
