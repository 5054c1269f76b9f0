"""Using a trained PI-Net: loading by path or bundled name, predicting with checked inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.inference import LoadedModel, bundled_model_names, load_model, predict
from pinet.store import GroundTruthStore
from tests.helpers import TrainedRun

# A single sample against row i of a batch: conv kernels may block the batch differently.
BATCH_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def image_model(image_run: TrainedRun) -> LoadedModel:
    return load_model(image_run.out / "best", device="cpu")


@pytest.fixture(scope="module")
def signal_model(signal_run: TrainedRun) -> LoadedModel:
    return load_model(signal_run.out / "best", device="cpu")


@pytest.fixture(scope="module")
def photos(image_store: Path) -> np.ndarray:
    """Four test crops `(4, 3, 32, 32)` uint8."""
    store = GroundTruthStore.open(image_store)
    return store["inputs"][store.usable_indices("test")[:4]]


@pytest.fixture(scope="module")
def windows(signal_store: Path) -> np.ndarray:
    """Four test windows `(4, 3, 250)` float32."""
    store = GroundTruthStore.open(signal_store)
    return store["inputs"][store.usable_indices("test")[:4]]


# -- loading ------------------------------------------------------------------------------


def test_load_model_by_path(image_run: TrainedRun, image_model: LoadedModel) -> None:
    assert image_model.card.name == "tiny-image"
    assert tuple(image_model.card.architecture["widths"]) == image_run.config.widths
    assert image_model.device.type == "cpu"
    assert image_model.backend.name == "torch" and image_model.backend.precision == "float32"
    assert not image_model.backend.network.training


def test_an_unknown_backend_or_device_is_refused(image_run: TrainedRun) -> None:
    with pytest.raises(ValueError, match="unknown backend 'tflite'; known: onnxruntime, torch"):
        load_model(image_run.out / "best", device="cpu", backend="tflite")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        load_model(image_run.out / "best", device="tpu")


def test_load_model_by_bundled_name(
    image_run: TrainedRun, photos: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(image_run.out / "best", tmp_path / "tiny")
    monkeypatch.setenv("PINET_MODELS_DIR", str(tmp_path))
    assert bundled_model_names() == ["tiny"]
    bundled = load_model("tiny", device="cpu")
    by_path = load_model(image_run.out / "best", device="cpu")
    assert bundled.card == by_path.card
    assert np.array_equal(predict(bundled, photos), predict(by_path, photos))


def test_an_unknown_name_lists_the_bundled_models(
    image_run: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("tiny", "other"):
        shutil.copytree(image_run.out / "best", tmp_path / name)
    (tmp_path / "not-a-model").mkdir()
    monkeypatch.setenv("PINET_MODELS_DIR", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"no bundled model named 'huge' \(bundled: other, tiny\)"
    ):
        load_model("huge", device="cpu")
    monkeypatch.setenv("PINET_MODELS_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"\(bundled: none\)"):
        load_model("tiny", device="cpu")


# -- predicting ---------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["image_model", "signal_model"])
def test_predict_one_and_a_batch(request: pytest.FixtureRequest, model_name: str) -> None:
    model: LoadedModel = request.getfixturevalue(model_name)
    inputs = request.getfixturevalue("photos" if model_name == "image_model" else "windows")
    batch = predict(model, inputs)
    assert batch.shape == (len(inputs), 3, 50, 50)
    assert batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    assert batch.max() > 0.0, "every PI is zero"
    for i, x in enumerate(inputs):
        one = predict(model, x)
        assert one.shape == (3, 50, 50)
        assert one.dtype == np.float32
        np.testing.assert_allclose(one, batch[i], rtol=0, atol=BATCH_TOLERANCE)
    assert not np.allclose(batch[0], batch[1]), "the prediction ignores its input"


def test_predict_is_prepare_then_forward(signal_model: LoadedModel, windows: np.ndarray) -> None:
    """The one prediction path: `prepare` checks and converts a raw batch, `forward` runs it;
    `prepare` alone refuses what the model cannot take."""
    inputs = signal_model.prepare(windows)
    assert inputs.dtype == torch.float32 and tuple(inputs.shape) == windows.shape
    np.testing.assert_allclose(inputs.mean(dim=-1).numpy(), 0.0, atol=1e-5)  # z-scored
    np.testing.assert_array_equal(signal_model.forward(inputs), predict(signal_model, windows))
    with pytest.raises(ValueError, match="expects 3"):
        signal_model.prepare(windows[:, :2])


def test_a_uint8_image_and_the_same_image_in_0_1_agree(
    image_model: LoadedModel, photos: np.ndarray
) -> None:
    assert photos.dtype == np.uint8
    np.testing.assert_array_equal(
        predict(image_model, photos[0]), predict(image_model, photos[0] / 255)
    )


def test_a_signal_prediction_ignores_offset_and_scale(
    signal_model: LoadedModel, windows: np.ndarray
) -> None:
    """Signals are z-scored per channel, as the signal-sublevel PIs are invariant to it."""
    shifted = windows.astype(np.float64) * 3.0 + 5.0
    np.testing.assert_allclose(
        predict(signal_model, shifted), predict(signal_model, windows), rtol=0, atol=1e-5
    )


def test_the_wrong_number_of_channels_is_refused(
    signal_model: LoadedModel, image_model: LoadedModel, windows: np.ndarray, photos: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="signal has 2 channels; model 'tiny-signal' expects 3"):
        predict(signal_model, windows[0, :2])
    with pytest.raises(ValueError, match="image has 1 channels; model 'tiny-image' expects 3"):
        predict(image_model, photos[:, :1])


def test_too_short_an_input_is_refused(
    signal_model: LoadedModel, image_model: LoadedModel, windows: np.ndarray, photos: np.ndarray
) -> None:
    minimum = signal_model.card.min_input_size
    with pytest.raises(ValueError, match=f"signal length is 7; .* needs at least {minimum}"):
        predict(signal_model, windows[0, :, :7])
    with pytest.raises(ValueError, match=f"image side is 4; .* needs at least {minimum}"):
        predict(image_model, photos[:, :, :4, :])
    assert predict(signal_model, windows[0, :, :minimum]).shape == (3, 50, 50)


def test_nan_is_refused(signal_model: LoadedModel, windows: np.ndarray) -> None:
    broken = windows[0].astype(np.float64)
    broken[1, 17] = np.nan
    with pytest.raises(ValueError, match=r"NaN .*first at index \(0, 1, 17\)"):
        predict(signal_model, broken)


def test_an_input_of_the_wrong_rank_is_refused(
    signal_model: LoadedModel, windows: np.ndarray
) -> None:
    with pytest.raises(ValueError, match=r"takes a signal \(C, T\) or a batch of them"):
        predict(signal_model, windows[None])


def test_a_bare_signal_is_one_channel(signal_model: LoadedModel, windows: np.ndarray) -> None:
    """As the recipes read it: a per-channel model answers it as `(1, T)`, a three-channel
    model names the count it was given."""
    per_channel = load_model("signal-hapt-student")
    np.testing.assert_array_equal(
        predict(per_channel, windows[0, 0]), predict(per_channel, windows[0, :1])
    )
    with pytest.raises(ValueError, match="1 channels"):
        predict(signal_model, windows[0, 0])
