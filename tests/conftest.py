"""Shared fixtures of the pinet tests: two tiny ground-truth stores and two tiny trained runs.

Everything is built once per session on the CPU, from real data sources and the real job,
so that training, evaluation, inference and the CLI are all exercised end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from data_prep.sources.hapt import HaptWindows
from data_prep.sources.photos import PhotoCrops
from pinet.device import use_threads
from pinet.train import TrainConfig, train
from tests.helpers import TINY_WIDTHS, TrainedRun, tiny_store


@pytest.fixture(scope="session", autouse=True)
def _threads_pinned() -> None:
    """Start numba's thread pool before any test computes: its start resets torch's OpenMP
    thread count to one per core (see `use_threads`), and tests that train before and after
    it would then round differently."""
    use_threads()


@pytest.fixture(autouse=True)
def _torch_threads_restored() -> Iterator[None]:
    """Every test ends with the torch thread count it began with: a test that serves a model
    in-process (the registry sets its forward threads) must not change how later tests
    train, since the thread count changes float rounding and a resumed run must equal the
    uninterrupted one bit for bit."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def signal_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HAPT accelerometer windows `(3, 250)` with `signal-sublevel` PIs."""
    out = tmp_path_factory.mktemp("stores") / "hapt.zarr"
    return tiny_store(out, HaptWindows(), "signal-sublevel")


@pytest.fixture(scope="session")
def image_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Photo crops `(3, 32, 32)` uint8 with `image-raster` PIs (the recipe of the release)."""
    out = tmp_path_factory.mktemp("stores") / "photos.zarr"
    return tiny_store(out, PhotoCrops(), "image-raster")


@pytest.fixture(scope="session")
def signal_config() -> TrainConfig:
    """Three epochs of the released optimiser: its staged learning rate changes every epoch,
    so a resumed run must restore the schedule and the Adam moments to match. One held-out
    user keeps validation (and the predictions plot) small."""
    return TrainConfig(
        epochs=3,
        batch_size=16,
        widths=TINY_WIDTHS,
        val_fraction=0.05,
        device="cpu",
        name="tiny-signal",
    )


@pytest.fixture(scope="session")
def signal_run(
    tmp_path_factory: pytest.TempPathFactory, signal_store: Path, signal_config: TrainConfig
) -> TrainedRun:
    out = tmp_path_factory.mktemp("runs") / "signal"
    result = train(signal_store, "signal", out, signal_config, progress=False)
    return TrainedRun(out, signal_store, signal_config, result)


@pytest.fixture(scope="session")
def image_config() -> TrainConfig:
    """Six epochs of plain Adam on the ~33 crops of 7 photos (3 photos held out), about
    0.5 s each: a finished run to inspect, not a measure of learning."""
    return TrainConfig(
        epochs=6,
        batch_size=8,
        lr=1e-2,
        optimiser="adam",
        widths=TINY_WIDTHS,
        val_fraction=0.3,
        device="cpu",
        name="tiny-image",
    )


@pytest.fixture(scope="session")
def image_run(
    tmp_path_factory: pytest.TempPathFactory, image_store: Path, image_config: TrainConfig
) -> TrainedRun:
    out = tmp_path_factory.mktemp("runs") / "image"
    result = train(image_store, "image", out, image_config, progress=False)
    return TrainedRun(out, image_store, image_config, result)
