"""Images on Fashion-MNIST: what exact and PI-Net PIs add to an image classifier (SPEC 8,
the PI-Net paper's image experiment, with Fashion-MNIST as the target in place of SVHN).

Ten clothing classes from 28 x 28 grey images (`data.FASHION_MNIST`, `image-raster` PIs). The
rows: a small DenseNet (`experiments.densenet`) alone, and with the PIs of each image fused
before its head through a small PI CNN: exact PIs, PI-Net PIs from the bundled Image PI-Net
(`image-photos`, trained on crops of 10 colour photos, applied to the one grey channel as
its per-channel weights allow) used as is, and from that PI-Net fine-tuned on the target's
exact training PIs with its own MSE objective, on all 60,000 training images (FA) or on a
seeded 10% of them (FS). `pi_mse` is a PI-Net's mean squared error against the exact PIs of
the same test images: the bundled PI-Net's row is "before", FA and FS "after" fine-tuning.

Every model is also scored on the test images under Gaussian noise at the four levels of
`experiments.noise` (one draw for every model and seed), clipped to [0, 1] and stored as
8-bit images; exact and PI-Net PIs are recomputed from the noisy images.

Full mode trains the classifiers on 10,000 training images drawn by a fixed seed (the
budget of 2 CPU cores) for 5 epochs and tests on all 10,000 test images. Fine-tuning is
bounded at 19,200 drawn (image, PI) pairs, batches of 64: FA makes one pass over 19,200 of
the 60,000 training images (300 steps), FS three passes over its 6,000 (282 steps). The
learning rate was chosen on 2,000 training images held out of a trial fine-tuning on the
other 50,000, never on the test set: their PI MSE went from 0.00258 (untuned) to 0.00164,
0.00128 and 0.00118 at lr 3e-4, 1e-3 and 2e-3 (0.00110 with twice the draws at 1e-3, for
twice the time). Full run: `python -m experiments run images --threads 1`, 37.5 CPU
minutes, about its wall time on 2 idle cores (65 minutes on 2 cores shared with other jobs),
about 4 GB of memory; docs/experiments.md has the numbers.

Another data set: `run(settings, images.cifar10(FOLDER))` runs the same experiment on the
user's CIFAR-10 files (`cifar-10-batches-bin`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from experiments.classify import Schedule, fit, logits_of, scores, seeded
from experiments.compare import POINT, gap, robustness_gap, verdict_on_all
from experiments.data import FASHION_MNIST, StoreSpec, describe, ground_truth, load_split
from experiments.densenet import DenseNet, PIFusedDenseNet
from experiments.finetune import FineTuning
from experiments.image_pis import (
    BUNDLED,
    EXACT,
    FA,
    FINE_TUNE_SEED,
    FS,
    PINET_MODEL,
    ImageData,
    PISet,
    PISources,
    image_data,
)
from experiments.nets import PICNN
from experiments.results import Outcome, Result, Settings, Summary, Verdict
from pinet.device import use_threads

TITLE = "Images on Fashion-MNIST: DenseNet with exact, PI-Net and fine-tuned PI-Net PIs"
ALONE = "DenseNet"
SOURCE_OF_ROW: dict[str, str | None] = {  # row -> the PIs it fuses (image_pis.SOURCES)
    ALONE: None,
    "DenseNet + exact PI": EXACT,
    "DenseNet + PI-Net PI": BUNDLED,
    "DenseNet + PI-Net FA PI": FA,
    "DenseNet + PI-Net FS PI": FS,
}
ROWS = tuple(SOURCE_OF_ROW)
ROW_OF_SOURCE = {source: row for row, source in SOURCE_OF_ROW.items() if source is not None}
CLASSIFIER_IMAGES_SEED = 0  # draws the full run's training subset


@dataclass(frozen=True)
class Budget:
    """What a run affords: the classifier's training images (None: the whole train split),
    its schedule and sizes, and the PI-Nets' fine-tuning."""

    classifier_images: int | None
    schedule: Schedule
    growth: int
    blocks: tuple[int, ...]
    pi_width: int
    tuning: FineTuning


FULL = Budget(10_000, Schedule(epochs=5), 12, (4, 4, 4), 16, FineTuning(19_200, 64, 2e-3))
QUICK = Budget(None, Schedule(epochs=1), 4, (1, 1), 4, FineTuning(64, 32, 1e-3))


def cifar10(folder: str) -> StoreSpec:
    """The store of the user's CIFAR-10 binary files in `folder`, for `run(settings, ...)`."""
    return dataclasses.replace(FASHION_MNIST, source="cifar10", options={"path": folder})


def classifier(channels: int, classes: int, budget: Budget, fused: bool) -> nn.Module:
    """The DenseNet of `budget`, with a PI CNN's features fused before its head if `fused`."""
    densenet = DenseNet(channels, classes, budget.growth, budget.blocks)
    if not fused:
        return densenet
    return PIFusedDenseNet(densenet, PICNN(channels, classes, budget.pi_width), classes)


def run(settings: Settings, data: StoreSpec = FASHION_MNIST) -> Outcome:
    """Every wanted row for every seed, on clean and noisy test images of `data`."""
    use_threads(settings.threads)
    # As `seeded` does, but before the PIs: they must not depend on which rows run first.
    torch.use_deterministic_algorithms(True)
    budget = QUICK if settings.quick else FULL
    store = ground_truth(data, settings.out.parent, settings.quick)
    train, test = load_split(store, "train"), load_split(store, "test")
    images = image_data(train, test, budget.classifier_images, CLASSIFIER_IMAGES_SEED)
    sources = PISources(images, store.recipe, budget.tuning, settings.threads)
    classes = int(max(train.labels.max(), test.labels.max())) + 1
    results = []
    for row in filter(settings.wants, ROWS):
        source = SOURCE_OF_ROW[row]
        pis = None if source is None else sources.get(source)
        for seed in settings.seeds:
            results += _scored(row, seed, images, pis, budget, settings.threads, classes)
    sizes = {
        "classifier_train_images": len(images.classifier_rows),
        "fs_images": len(sources.fs_rows()),
    }
    return Outcome(
        results,
        data={**describe(store, ("train", train), ("test", test)), **sizes},
        notes=_notes(budget, sizes),
    )


def _scored(
    row: str,
    seed: int,
    images: ImageData,
    pis: PISet | None,
    budget: Budget,
    threads: int,
    classes: int,
) -> list[Result]:
    """One row trained with one seed, scored on every test condition."""
    generator = seeded(seed, threads)
    model = classifier(images.train.inputs.shape[1], classes, budget, fused=pis is not None)
    train_images = torch.from_numpy(images.train.inputs[images.classifier_rows])
    inputs = (train_images,) if pis is None else (train_images, torch.from_numpy(pis.train))
    labels = torch.from_numpy(images.train.labels[images.classifier_rows])
    fit(model, inputs, labels, budget.schedule, generator)
    test_labels = torch.from_numpy(images.test.labels)
    results = []
    for condition, test_images in images.conditions.items():
        test_inputs = (torch.from_numpy(test_images),)
        if pis is not None:
            test_inputs += (torch.from_numpy(pis.test[condition]),)
        metrics = scores(logits_of(model, test_inputs), test_labels, classes)
        if pis is not None and pis.mse:
            metrics["pi_mse"] = pis.mse[condition]
        results.append(Result(row, seed, metrics, condition))
    return results


def _notes(budget: Budget, sizes: dict[str, int]) -> list[str]:
    tuning = budget.tuning
    return [
        f"Classifiers: DenseNet growth {budget.growth}, blocks {budget.blocks}, PI CNN width "
        f"{budget.pi_width}; Adam (lr {budget.schedule.lr:g}, cosine), batch "
        f"{budget.schedule.batch_size}, epoch(s): {budget.schedule.epochs}, no early stopping, "
        f"on {sizes['classifier_train_images']} training images (seed "
        f"{CLASSIFIER_IMAGES_SEED}).",
        f"PI-Net: bundled `{PINET_MODEL}`; FA and FS fine-tune it on {tuning.samples} draws "
        f"of (image, exact PI), batch {tuning.batch_size}, Adam lr {tuning.lr:g} (cosine), "
        f"MSE with exact symmetries, seed {FINE_TUNE_SEED}: FA from the whole train split, "
        f"FS from a subset of {sizes['fs_images']}. `pi_mse` is a PI-Net's test MSE against "
        "the exact PIs.",
        "Noise: Gaussian, std = level x each channel's std over the training images, on the "
        "test images only, one draw for every model and seed; clipped to [0, 1] and rounded "
        "to 8 bits; both kinds of PI recomputed from the noisy images.",
    ]


def verdicts(summary: Summary) -> list[Verdict]:
    """The paper's image claims against our numbers (accuracy, mean over seeds)."""
    exact, learned = ROW_OF_SOURCE[EXACT], ROW_OF_SOURCE[BUNDLED]
    tuned = [ROW_OF_SOURCE[FA], ROW_OF_SOURCE[FS]]
    tuning = verdict_on_all(
        "fine-tuning PI-Net on the target helps: DenseNet + PI-Net FA PI and + FS PI each "
        "beat DenseNet + PI-Net PI (untuned) by more than the pooled std over seeds",
        [gap(summary, row, learned) for row in tuned],
        lambda g: g.difference > g.spread,
    )
    errors = ", ".join(
        f"{source} {summary.get(ROW_OF_SOURCE[source], 'pi_mse'):.5f}"
        for source in (BUNDLED, FA, FS)
    )
    return [
        verdict_on_all(
            "PI fusion helps: DenseNet + exact PI and + PI-Net PI each beat DenseNet alone "
            "by more than the pooled std over seeds",
            [gap(summary, row, ALONE) for row in (exact, learned)],
            lambda g: g.difference > g.spread,
        ),
        verdict_on_all(
            "PI-Net PIs are as good as exact PIs: DenseNet + PI-Net PI is at most max(1 point, "
            "pooled std) below DenseNet + exact PI",
            [gap(summary, learned, exact)],
            lambda g: g.difference >= -max(POINT, g.spread),
        ),
        verdict_on_all(
            "PIs add robustness to noise: DenseNet + exact PI and + PI-Net PI each lose at "
            "least 1 point less accuracy from clean to the strongest noise than DenseNet alone",
            [robustness_gap(summary, row, ALONE) for row in (exact, learned)],
            lambda g: g.difference >= POINT,
        ),
        dataclasses.replace(tuning, evidence=f"{tuning.evidence}; test PI MSE {errors}"),
    ]
