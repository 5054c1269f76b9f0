"""The models bundled in models/: small files whose cards tell the truth, and the students
that the service answers with on a CPU."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import numpy as np
import pytest
from safetensors.torch import load_file

import pinet
from data_prep.sources.aeon_archives import UeaUcrSeries
from data_prep.sources.aeon_recordings import AeonRecordingWindows
from data_prep.sources.base import Sample
from data_prep.sources.basicmotions import BasicMotions
from data_prep.sources.fashion_mnist import FashionMnist
from data_prep.sources.hapt import HaptWindows
from data_prep.sources.photos import PhotoCrops
from data_prep.sources.ppg import PpgWindows
from pinet.checkpoint import ROW_SCALES_SUFFIX, read_card
from pinet.inference import BUNDLED_MODELS_DIR, bundled_model_names
from pinet.tda import get_recipe
from pinet.tda.reference import reference_samples
from service.serving.registry import default_models

# "bundled model files must stay small (fp16, a few MB each)"; CI refuses files over 8 MB.
MAX_FILE_BYTES = 8 * 2**20
TEACHERS = {"signal-hapt": "signal", "image-photos": "image"}
# Int8 onnxruntime graphs, with their float16 torch weights beside them (what runs on CUDA):
# the HAPT-only signal student, the broad one continued from it on the broad mixture (the
# CPU's default for signals since), and the image student (photos, Fashion-MNIST and
# synthetic images).
STUDENTS = {
    "signal-hapt-student": "signal",
    "signal-broad-student": "signal",
    "image-photos-student": "image",
}
# Models of the recipes whose exact topology is the most expensive (image-rips: 0.1-0.5 s per
# 32x32 RGB image, 200x the model; signal-takens: about 40 ms per HAPT window), the takens
# one an int8 graph like the students.
EXPENSIVE_RECIPES = {"image-photos-rips": "image", "signal-hapt-takens": "signal"}
# A GroupNorm network of signal-hapt's widths trained from the start on HAPT beside
# synthetic signals of every family, exact periodic trains among them: the signal model whose
# worst real series is the least bad. Its weight matrices are stored as int8 (a scale per
# row), which halves its 12.4 MB of float16 for +0.07% on its sixteen real series (measured
# when first bundled).
BROAD = {"signal-broad": "signal"}
INT8_WEIGHTS = {"signal-broad"}
EXPECTED = TEACHERS | STUDENTS | EXPENSIVE_RECIPES | BROAD
# Test MSE over the mean-PI predictor's, on each model's own test store. Each bound lies
# above the bundled model's score, so a re-bundled model may not do worse, and within the
# issues' targets where the model meets them (0.2 for the teachers, 0.25 for the students,
# 0.3 for the Rips model); the takens model misses its 0.3
# (0.338). The scores: docs/training.md, "The bundled models"; their history:
# docs/studies.md.
MAX_RATIO_TO_MEAN_PI = {
    "signal-hapt": 0.2,
    "signal-broad": 0.14,
    "image-photos": 0.06,
    "signal-hapt-student": 0.245,
    "signal-broad-student": 0.22,
    "image-photos-student": 0.07,
    "image-photos-rips": 0.05,
    "signal-hapt-takens": 0.35,
}
INT8_GRAPHS = sorted([*STUDENTS, "signal-hapt-takens"])
# The authors' CIFAR10 samples through an int8 graph: its card's score is measured with
# exact sums, and the integer kernels that run it differ between CPU instruction sets (on
# AVX2 without VNNI an 8-bit graph's sums can saturate), so the score is the card's within
# a few percent.
REFERENCE_TOLERANCE = {"torch": 1e-4, "onnxruntime": 0.05}


def test_the_teachers_and_their_students_are_bundled() -> None:
    assert bundled_model_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_weights_are_small_and_far_better_than_the_mean_pi(name: str) -> None:
    folder = BUNDLED_MODELS_DIR / name
    card = read_card(folder)
    dtype = "int8" if name in INT8_WEIGHTS else "float16"
    assert card.name == name and card.modality == EXPECTED[name] and card.dtype == dtype
    assert all(file.stat().st_size < MAX_FILE_BYTES for file in folder.iterdir())
    weights = load_file(folder / "model.safetensors")
    stored = {str(t.dtype) for key, t in weights.items() if not key.endswith(ROW_SCALES_SUFFIX)}
    assert stored - {"torch.int64"} == (
        {"torch.int8", "torch.float16"} if dtype == "int8" else {"torch.float16"}
    )
    ratio = card.metrics["test_mse"] / card.metrics["test_mean_pi_mse"]
    assert ratio == pytest.approx(card.metrics["test_mse_vs_mean_pi"])
    assert ratio <= MAX_RATIO_TO_MEAN_PI[name]


@pytest.mark.parametrize("name", INT8_GRAPHS)
def test_students_and_the_takens_model_are_int8_graphs_for_onnxruntime(name: str) -> None:
    model = pinet.load_model(name, device="cpu")
    assert (model.backend.name, model.backend.precision) == ("onnxruntime", "int8")
    assert model.card.training["export"]["precision"] == "int8"
    assert pinet.load_model(name, device="cpu", backend="torch").backend.name == "torch"


def test_a_cpu_answers_with_the_students_and_cuda_with_the_most_accurate() -> None:
    """On a CPU the int8 students, for signals the broad one (the HAPT-only student's
    network, so as many parameters, and less wrong on HAPT's test users, 0.2140 against
    0.2383; it also reads each window reversed, at twice the compute); on CUDA the most
    accurate: for signals the broad model, which beats the HAPT-only teacher on HAPT's own
    test users too."""
    cards = {name: read_card(BUNDLED_MODELS_DIR / name) for name in EXPECTED}
    sizes = {name: card.build_network().parameter_count for name, card in cards.items()}
    assert default_models(cards, sizes, {}, cuda=False) == {
        "signal": "signal-broad-student",
        "image": "image-photos-student",
    }
    assert default_models(cards, sizes, {}, cuda=True) == {
        "signal": "signal-broad",
        "image": "image-photos",
    }


@pytest.mark.parametrize("name", ["image-photos", "image-photos-student"])
def test_an_image_model_scores_on_the_authors_samples_what_its_card_says(name: str) -> None:
    model = pinet.load_model(name, device="cpu")
    samples = reference_samples()
    mse = float(np.mean((pinet.predict(model, samples.images) - samples.pis) ** 2))
    tolerance = REFERENCE_TOLERANCE[model.backend.name]
    assert mse == pytest.approx(model.card.metrics["reference_mse"], rel=tolerance)
    assert mse < model.card.metrics["reference_mean_pi_mse"]


def test_the_image_student_ships_a_7_bit_twin_that_scores_its_card_on_any_cpu() -> None:
    """The twin's 7-bit weights keep its integer sums exact on every CPU, so it scores the
    authors' samples as its card says wherever it runs, and within 3% of the 8-bit graph's
    card on the photos' test band (0.0626 against 0.0612). On this project's AVX2 CPU
    without VNNI it runs unasked: there the 8-bit graph scored 0.0738 (docs/training.md)."""
    twin = pinet.load_model("image-photos-student", device="cpu", seven_bit=True)
    assert twin.runs_file == "model-7bit.onnx"
    samples = reference_samples()
    mse = float(np.mean((pinet.predict(twin, samples.images) - samples.pis) ** 2))
    assert mse == pytest.approx(twin.card.metrics["reference_mse"], rel=1e-3)
    eight_bit = read_card(BUNDLED_MODELS_DIR / "image-photos-student").metrics
    assert twin.card.metrics["test_mse_vs_mean_pi"] < 1.03 * eight_bit["test_mse_vs_mean_pi"]


def test_the_rips_model_is_close_to_exact_rips_on_crops_it_never_saw() -> None:
    """Fresh crops of the photos' test regions (another seed than its store's), their exact
    image-rips PIs computed here (about 0.2 s each): the model's error is the size its card
    reports, a small part of the mean PI's."""
    model = pinet.load_model("image-photos-rips", device="cpu")
    card = model.card
    source = PhotoCrops(seed=7, train_per_photo=0, test_per_photo=1)
    crops = np.stack([sample.input for sample in islice(source.samples(), 10)])
    exact = get_recipe(card.recipe.name, card.recipe.params).images_batch(crops)
    mse = float(np.mean((pinet.predict(model, crops) - exact) ** 2))
    assert mse < 0.3 * card.metrics["test_mean_pi_mse"]


def test_the_takens_model_beats_the_mean_pi_on_test_users_windows() -> None:
    """Every 20th window of HAPT's test users (68 windows, their exact signal-takens PIs
    computed here, about 3 s): the model's error is about the 0.34 of the mean PI's that its
    card reports (0.31 on these), far from a constant's."""
    model = pinet.load_model("signal-hapt-takens", device="cpu")
    card = model.card
    test_windows = [sample.input for sample in HaptWindows().samples() if sample.split == "test"]
    windows = np.stack(test_windows[::20])
    exact = get_recipe(card.recipe.name, card.recipe.params).images_batch(windows)
    mse = float(np.mean((pinet.predict(model, windows) - exact) ** 2))
    assert mse < 0.5 * card.metrics["test_mean_pi_mse"]


def test_the_signal_student_learned_windows_shorter_than_its_store() -> None:
    """Every 20th 100-sample window of HAPT's test users (198 windows, 2 s at 50 Hz; exact PIs
    computed here): trained on crops down to 64 samples, the student's error is a quarter of
    that of the windows' own mean PI (0.24; 0.25 for the student it replaced, 0.33 before
    frozen BatchNorm statistics, 0.60 before crops; 0.59 for the teacher), and its training
    ranges say it learned that length."""
    model = pinet.load_model("signal-hapt-student", device="cpu")
    card = model.card
    assert card.training_ranges.sizes[0] <= 100 and card.source_metrics is not None
    assert card.source_metrics["hapt-w100"]["mse_vs_mean_pi"] < 0.3
    source = HaptWindows(window=100, stride=50)
    windows = np.stack([s.input for s in source.samples() if s.split == "test"][::20])
    exact = get_recipe(card.recipe.name, card.recipe.params).images_batch(windows)
    mse = np.mean((pinet.predict(model, windows) - exact) ** 2)
    assert mse < 0.3 * np.mean((exact - exact.mean(axis=0)) ** 2)


# The real series the signal teachers' cards are scored on: HAPT's test users (both sensors,
# 250-sample windows at 50 Hz; 100 and 64 samples; both sensors at 10 Hz) and BasicMotions;
# the broad models' cards also on the five UEA/UCR problems of 64 samples or more that the
# aeon wheel ships.
REAL_SERIES = ("hapt", "hapt-gyro", "hapt-w100", "hapt-w64", "hapt-d5", "basicmotions")
UEA_UCR_SERIES = tuple(
    f"ucr-{name}" for name in ("ACSF1", "ArrowHead", "GunPoint", "OSULeaf", "PickupGestureWiimoteZ")
)


def exact_test_set(
    model: pinet.LoadedModel, samples: Iterable[Sample]
) -> tuple[np.ndarray, np.ndarray, float]:
    """A source's test inputs, their exact PIs under `model`'s recipe (computed here), and
    the MSE of the source's mean training PI on them."""
    recipe = get_recipe(model.card.recipe.name, model.card.recipe.params)
    by_split: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for sample in samples:
        by_split[sample.split].append(sample.input)
    train, test = np.stack(by_split["train"]), np.stack(by_split["test"])
    exact = recipe.images_batch(test)
    mean_pi = recipe.images_batch(train).mean(axis=0)
    return test, exact, float(np.mean((exact - mean_pi) ** 2))


def ratios_to_mean_pi(names: Iterable[str], samples: Iterable[Sample]) -> dict[str, float]:
    """Each named model's MSE on a source's test samples, against their exact PIs, over that
    of the source's mean training PI: the ratio `pinet eval` reports per source. The models
    imitate the same recipe: one set of exact PIs serves them all."""
    models = [pinet.load_model(name, device="cpu") for name in names]
    test, exact, mean_pi_mse = exact_test_set(models[0], samples)
    return {
        model.card.name: float(np.mean((pinet.predict(model, test) - exact) ** 2)) / mean_pi_mse
        for model in models
    }


def test_the_hapt_teacher_holds_smartwatch_series_and_pulse_waves_it_never_saw() -> None:
    """BasicMotions (a smartwatch at 10 Hz, 6 x 100; 40 test series) and heartpy's
    photoplethysmograms (270 test windows of a pulse wave), both held out of `signal-hapt`'s
    training on HAPT's accelerometer alone (exact PIs computed here): its error is under the
    issue's 0.3 for a held-out source, 0.273 and 0.290 of the mean training PI's. Its card
    says where it stops holding: HAPT in 64-sample windows, 0.376."""
    name = "signal-hapt"
    assert ratios_to_mean_pi([name], BasicMotions().samples())[name] < 0.3
    assert ratios_to_mean_pi([name], PpgWindows().samples())[name] < 0.3
    card = read_card(BUNDLED_MODELS_DIR / name)
    assert card.source_metrics is not None
    ratios = {name: card.source_metrics[name]["mse_vs_mean_pi"] for name in REAL_SERIES}
    assert max(ratios.values()) == pytest.approx(ratios["hapt-w64"]) and ratios["hapt-w64"] < 0.4


# Real series of kinds no model trains on, scored since the first broad models:
# heartpy's pulse waves, three long recordings the aeon wheel ships, and gaitpy's walk.
LATER_REAL_SERIES = (
    "ppg",
    "rec-Daphnet",
    "rec-InternalBleeding16",
    "rec-ElectricDevices",
    "gaitpy-walk",
)
ALL_REAL_SERIES = REAL_SERIES + UEA_UCR_SERIES + LATER_REAL_SERIES


def test_the_broad_model_holds_outlines_the_hapt_teacher_does_not() -> None:
    """ArrowHead's 175 test outlines (never trained on; exact PIs computed here): the broad
    model scores 0.135 of the mean PI's error (0.335 for the narrow network), the HAPT-only
    teacher 1.48, worse than a constant. ACSF1's pulse trains, in its card, 0.222 (0.260
    before its last 14 epochs, 0.397 for the narrow network, 0.602 at their own rate
    alone), 2.35 for its narrow twin trained without periodic signals."""
    names = ("signal-broad", "signal-hapt")
    ratios = ratios_to_mean_pi(names, UeaUcrSeries("ArrowHead").samples())
    assert ratios["signal-broad"] < 0.35 < 1 < ratios["signal-hapt"]
    card = read_card(BUNDLED_MODELS_DIR / "signal-broad")
    assert card.source_metrics is not None
    assert card.source_metrics["ucr-ACSF1"]["mse_vs_mean_pi"] < 0.3
    assert card.architecture["average_resampled"]


def test_the_broad_model_is_under_the_issues_ceiling_on_every_real_series() -> None:
    """Daphnet's gait (21 test windows of nine accelerometer channels on a walker's ankle,
    thigh and trunk, never trained on; exact PIs computed here), the worst real series of
    the broad model's card: 0.342 of the mean PI's error, under the issue's 0.35 for any
    real series (0.365 before its last 14 epochs, 0.375 before HAPT's jerk was added on
    top, 0.465 before its tails were stretched, 0.586 for the narrow network). Every other
    of the sixteen real series its card scores is under 0.29."""
    ratio = ratios_to_mean_pi(["signal-broad"], AeonRecordingWindows("Daphnet").samples())
    metrics = read_card(BUNDLED_MODELS_DIR / "signal-broad").source_metrics
    assert metrics is not None
    real = {name: metrics[name]["mse_vs_mean_pi"] for name in ALL_REAL_SERIES}
    assert ratio["signal-broad"] == pytest.approx(real["rec-Daphnet"], rel=0.02)
    assert max(real.values()) == real["rec-Daphnet"] < 0.35


def test_the_broad_model_holds_the_wiimote_as_recorded() -> None:
    """The Wiimote's 151 test windows of 64 samples, read from the series as recorded
    (exact PIs computed here): the broad model scores 0.094 of the mean PI's error, the
    CPU's student 0.37. Its card's 0.28 is of the archive's padded files, a median 65% of
    whose samples are low-amplitude noise the archive appended: short bars no Wiimote made."""
    windows = UeaUcrSeries("PickupGestureWiimoteZ", window=64, stride=32).samples()
    ratios = ratios_to_mean_pi(("signal-broad", "signal-broad-student"), windows)
    assert ratios["signal-broad"] < 0.2 and ratios["signal-broad-student"] < 0.5
    metrics = read_card(BUNDLED_MODELS_DIR / "signal-broad").source_metrics
    assert metrics is not None  # its card carries both, the padded files' far higher
    recorded = metrics["ucr-PickupGestureWiimoteZ-w64"]["mse_vs_mean_pi"]
    assert recorded == pytest.approx(ratios["signal-broad"], rel=0.02)
    assert recorded < 0.5 * metrics["ucr-PickupGestureWiimoteZ"]["mse_vs_mean_pi"]


def test_the_cpu_default_signal_student_holds_outlines_the_hapt_only_one_does_not() -> None:
    """GunPoint's 150 test outlines (never trained on; exact PIs computed here): the broad
    student, which a CPU answers with, scores 0.21 of the mean PI's error, the HAPT-only
    student it was continued from 2.15, twice a constant's. Over the sixteen real series of
    its card it averages 0.376 (0.780 for the HAPT-only student, worse than a constant on
    five of them) and is better than a constant on every one, if barely on ACSF1's pulse
    trains (0.99). Its graph averages each window's PIs with its reversal's (0.395 on the
    sixteen without), so a window and its reversal get the same answer."""
    samples = list(UeaUcrSeries("GunPoint").samples())
    ratios = ratios_to_mean_pi(("signal-broad-student", "signal-hapt-student"), samples)
    assert ratios["signal-broad-student"] < 0.35 < 1.5 < ratios["signal-hapt-student"]
    metrics = read_card(BUNDLED_MODELS_DIR / "signal-broad-student").source_metrics
    assert metrics is not None
    real = {name: metrics[name]["mse_vs_mean_pi"] for name in ALL_REAL_SERIES}
    assert np.mean(list(real.values())) < 0.385
    assert max(real.values()) < 1
    student = pinet.load_model("signal-broad-student", device="cpu")
    windows = np.stack([sample.input for sample in samples[:16]])
    np.testing.assert_allclose(
        pinet.predict(student, windows[..., ::-1].copy()),
        pinet.predict(student, windows),
        atol=1e-6,
    )


def test_the_image_student_learned_crops_smaller_than_its_store() -> None:
    """100 fresh 16x16 crops of the photos' test regions (another seed than any store's;
    exact PIs computed here): trained on crops down to 16x16 under frozen BatchNorm
    statistics, the student's error is under a tenth of that of the crops' own mean PI
    (0.074; 0.109 for the photos-only student it replaced, 0.75 before frozen statistics,
    1.94 before crops)."""
    model = pinet.load_model("image-photos-student", device="cpu")
    assert model.card.training_ranges.sizes == (16, 32)
    source = PhotoCrops(seed=7, train_per_photo=0, test_per_photo=10, size=16)
    crops = np.stack([sample.input for sample in source.samples()])
    exact = get_recipe(model.card.recipe.name, model.card.recipe.params).images_batch(crops)
    mse = np.mean((pinet.predict(model, crops) - exact) ** 2)
    assert mse < 0.1 * np.mean((exact - exact.mean(axis=0)) ** 2)


def test_the_image_student_holds_garments_as_its_teacher_does() -> None:
    """Every 175th Fashion-MNIST image (343 training, 57 test; exact PIs computed here): the
    student, which a CPU answers with, is within 15% of its teacher `image-photos` (0.161
    against 0.152 when bundled; 0.158 and 0.146 on the 10,000 test
    images); the photos-only student it replaced scored 0.429 (0.407 on the test images).
    Its int8 graph's products depend on the CPU: on an AVX2 CPU without VNNI (an AMD EPYC,
    2026-12-05), where onnxruntime's 8-bit kernels can saturate sums, it scored 0.168 against
    the same 0.152; its 7-bit twin, which runs there since, 0.159."""
    samples = islice(FashionMnist().samples(), 0, None, 175)
    ratios = ratios_to_mean_pi(("image-photos-student", "image-photos"), samples)
    assert ratios["image-photos-student"] < min(0.2, 1.15 * ratios["image-photos"])
