"""Independent oracles for pinet.tda: the authors' code path and gudhi.

The authors' ground truth (SPEC 2.1-2.4) is ripser on a sparse "distance" matrix of the path
graph followed by persim's legacy `PersImage`, divided by its max. gudhi gives a second,
float64 persistence diagram. Nothing here imports pinet.
"""

from __future__ import annotations

import warnings

import gudhi
import numpy as np
from persim import PersImage
from ripser import ripser
from scipy import sparse

RESOLUTION = 50
RASTER_CUT = 1.5 / 255  # SPEC 2.3: strictly between 1/255 and 2/255


def sorted_diagram(diagram: np.ndarray) -> np.ndarray:
    """Rows of a `(k, 2)` diagram in lexicographic (birth, death) order, as float64."""
    diagram = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    return diagram[np.lexsort((diagram[:, 1], diagram[:, 0]))]


def assert_same_diagram(
    actual: np.ndarray, expected: np.ndarray, rtol: float = 0.0, atol: float = 0.0
) -> None:
    """Equal as multisets of (birth, death) pairs, within the tolerances."""
    assert actual.shape == expected.shape, f"{len(actual)} pairs, expected {len(expected)}"
    np.testing.assert_allclose(sorted_diagram(actual), sorted_diagram(expected), rtol, atol)


def finite_pairs(diagram: np.ndarray) -> np.ndarray:
    """Finite pairs of positive length, sorted."""
    diagram = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(diagram[:, 1]) & (diagram[:, 1] > diagram[:, 0])
    return sorted_diagram(diagram[keep])


def ripser_sublevel(signal: np.ndarray) -> np.ndarray:
    """The authors' recipe: ripser on the sparse path matrix (works in float32)."""
    signal = np.asarray(signal, dtype=np.float64)
    n = len(signal)
    rows = np.r_[np.arange(n - 1), np.arange(n)]
    columns = np.r_[np.arange(1, n), np.arange(n)]
    values = np.r_[np.maximum(signal[:-1], signal[1:]), signal]
    matrix = sparse.coo_matrix((values, (rows, columns)), shape=(n, n)).tocsr()
    return finite_pairs(ripser(matrix, maxdim=0, distance_matrix=True)["dgms"][0])


def gudhi_lower_star(signal: np.ndarray) -> np.ndarray:
    """H0 of the 1-D cubical complex with the signal on its vertices (float64)."""
    complex_ = gudhi.CubicalComplex(vertices=np.asarray(signal, dtype=np.float64))
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    return finite_pairs(complex_.persistence_intervals_in_dimension(0))


def gudhi_path_graph(signal: np.ndarray) -> np.ndarray:
    """H0 of the path graph as a gudhi SimplexTree: vertex t at x[t], edge at the max."""
    tree = gudhi.SimplexTree()
    for t, value in enumerate(signal):
        tree.insert([t], filtration=float(value))
    for t in range(len(signal) - 1):
        tree.insert([t, t + 1], filtration=float(max(signal[t], signal[t + 1])))
    tree.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    return finite_pairs(tree.persistence_intervals_in_dimension(0))


def persim_image(diagram: np.ndarray, spread: float, min_bd: float, max_bd: float) -> np.ndarray:
    """The legacy PersImage of one finite diagram, divided by its max (zeros stay zeros)."""
    diagram = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    if len(diagram) == 0:
        return np.zeros((RESOLUTION, RESOLUTION))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imager = PersImage(
            pixels=(RESOLUTION, RESOLUTION),
            spread=spread,
            specs={"minBD": min_bd, "maxBD": max_bd},
            verbose=False,
        )
        image = np.asarray(imager.transform(diagram.copy()))
    peak = image.max()
    return image / peak if peak > 0 else image


def authors_raster_images(image: np.ndarray, cut: float = RASTER_CUT) -> np.ndarray:
    """SPEC 2.3 on one `(C, H, W)` image in [0, 1]: row-major raster, ripser, cut, PersImage."""
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
    """SPEC 2.4 on one `(C, T)` window: z-score, ripser, PersImage(0.25, -10, 10)."""
    return np.stack(
        [persim_image(ripser_sublevel(zscore(channel)), 0.25, -10.0, 10.0) for channel in signal]
    )
