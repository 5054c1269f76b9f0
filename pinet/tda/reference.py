"""The authors' ground-truth pipeline, as they ran it, and the samples they released.

This is the yardstick pinet.tda is measured against: the tests' oracle and the benchmarks'
baseline. Per channel (SPEC 2.1-2.4): ripser on a sparse "distance" matrix of the path graph
(diagonal = values, off-diagonal = edge values, float32 inside ripser), the infinite bar
dropped, then persim's deprecated legacy `PersImage`, divided by its max. It is slow (one
sample at a time, in one process) and meant to be: it is the code path the released data
came from, not a way to compute ground truth at scale. `tpkd_signal_images` is the same
path with the settings of the authors' group's topological distillation code (SPEC 8).

`reference_samples()` returns the 10 CIFAR10 test images the authors released with their
ground-truth PIs (MIT licence; see `pinet/tda/data/README.md`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from pinet.tda.images import PI_SIZE
from pinet.tda.recipes import RASTER_NOISE_CUT

REFERENCE_SAMPLES = Path(__file__).resolve().parent / "data" / "pinet_cifar10_samples.npz"


@dataclass(frozen=True)
class ReferenceSamples:
    """The authors' released CIFAR10 samples: `images` `(10, 3, 32, 32)` float64 in [0, 1],
    `pis` `(10, 3, 50, 50)` their ground truth, `labels` and `class_names` `(10,)`."""

    images: np.ndarray
    pis: np.ndarray
    labels: np.ndarray
    class_names: np.ndarray


def reference_samples(path: str | Path = REFERENCE_SAMPLES) -> ReferenceSamples:
    """The released samples from `path` (default: the copy shipped with pinet); a .npz with
    at least `images` and `pis`, read without unpickling."""
    with np.load(path, allow_pickle=False) as data:
        missing = {"images", "pis"} - set(data.files)
        if missing:
            raise ValueError(f"{path} lacks the array(s) {', '.join(sorted(missing))}")
        count = len(data["images"])
        return ReferenceSamples(
            images=data["images"],
            pis=data["pis"],
            labels=data["labels"] if "labels" in data.files else np.full(count, -1),
            class_names=data["class_names"] if "class_names" in data.files else np.array([]),
        )


def finite_pairs(diagram: np.ndarray) -> np.ndarray:
    """The finite pairs of positive length of a `(k, 2)` diagram, in (birth, death) order."""
    diagram = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(diagram[:, 1]) & (diagram[:, 1] > diagram[:, 0])
    diagram = diagram[keep]
    return diagram[np.lexsort((diagram[:, 1], diagram[:, 0]))]


def ripser_sublevel(signal: np.ndarray) -> np.ndarray:
    """0-dim sublevel diagram of a path, the authors' way: ripser on the sparse path matrix."""
    from ripser import ripser  # imported on use: it pulls in scikit-learn (~2 s per process)

    signal = np.asarray(signal, dtype=np.float64)
    n = len(signal)
    rows = np.r_[np.arange(n - 1), np.arange(n)]
    columns = np.r_[np.arange(1, n), np.arange(n)]
    values = np.r_[np.maximum(signal[:-1], signal[1:]), signal]
    matrix = sparse.coo_matrix((values, (rows, columns)), shape=(n, n)).tocsr()
    return finite_pairs(ripser(matrix, maxdim=0, distance_matrix=True)["dgms"][0])


def persim_image(
    diagram: np.ndarray, spread: float, min_bd: float, max_bd: float, resolution: int = PI_SIZE
) -> np.ndarray:
    """The legacy `persim.PersImage` of one finite diagram, divided by its max (zeros stay
    zeros): the authors' PI, `(resolution, resolution)`, row 0 the highest persistence."""
    from persim import PersImage

    diagram = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    if len(diagram) == 0:
        return np.zeros((resolution, resolution))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PersImage is deprecated, and says so
        imager = PersImage(
            pixels=(resolution, resolution),
            spread=spread,
            specs={"minBD": min_bd, "maxBD": max_bd},
            verbose=False,
        )
        image = np.asarray(imager.transform(diagram.copy()))
    peak = image.max()
    return image / peak if peak > 0 else image


def authors_raster_images(image: np.ndarray, cut: float = RASTER_NOISE_CUT) -> np.ndarray:
    """SPEC 2.3 on one `(C, H, W)` image in [0, 1]: row-major raster, ripser, persistence cut,
    PersImage(0.05, 0, 1); `(C, 50, 50)`."""
    pis = []
    for channel in image:
        diagram = ripser_sublevel(channel.ravel(order="C"))
        diagram = diagram[diagram[:, 1] - diagram[:, 0] > cut]
        pis.append(persim_image(diagram, 0.05, 0.0, 1.0))
    return np.stack(pis)


def zscore(signal: np.ndarray) -> np.ndarray:
    """(x - mean) / std with ddof 0 along the last axis."""
    return (signal - signal.mean(axis=-1, keepdims=True)) / signal.std(axis=-1, keepdims=True)


def authors_signal_images(signal: np.ndarray) -> np.ndarray:
    """SPEC 2.4 on one `(C, T)` window: z-score, ripser, PersImage(0.25, -10, 10);
    `(C, 50, 50)`."""
    return np.stack(
        [persim_image(ripser_sublevel(zscore(channel)), 0.25, -10.0, 10.0) for channel in signal]
    )


def tpkd_signal_images(signal: np.ndarray, scale: float) -> np.ndarray:
    """The topological distillation group's PIs (SPEC 8, their PI.ipynb) of one `(C, T)`
    window, each channel first mean-centred and divided by `scale`: ripser, pairs with
    persistence <= 0.01 dropped, PersImage(64 x 64, 0.015, -1, 1); `(C, 64, 64)`."""
    pis = []
    for channel in signal:
        diagram = ripser_sublevel((channel - channel.mean()) / scale)
        diagram = diagram[diagram[:, 1] - diagram[:, 0] > 0.01]
        pis.append(persim_image(diagram, 0.015, -1.0, 1.0, resolution=64))
    return np.stack(pis)
