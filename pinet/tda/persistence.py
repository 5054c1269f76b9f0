"""Persistence diagrams: the exact topology behind every recipe.

Every function returns finite diagrams only, as `(k, 2)` float64 arrays of (birth, death)
with death > birth: infinite bars (the essential class of each connected component) and
zero-length pairs carry no information for a persistence image and are dropped.
"""

from __future__ import annotations

import gudhi
import numba
import numpy as np
from ripser import ripser


@numba.njit(cache=True, nogil=True)
def _sublevel_pairs_one(signal: np.ndarray, births: np.ndarray, deaths: np.ndarray) -> int:
    """0-dim sublevel persistence of one path graph; writes pairs, returns how many.

    Vertices enter in increasing value; components of a path are intervals, so each
    interval's extent and minimum vertex are kept at its two endpoints instead of a
    general union-find. When a vertex joins two intervals, the one with the higher
    minimum dies (elder rule) at the vertex's value.
    """
    length = signal.shape[0]
    order = np.argsort(signal, kind="mergesort")
    active = np.zeros(length, dtype=np.bool_)
    other_end = np.empty(length, dtype=np.int64)
    root = np.empty(length, dtype=np.int64)
    count = 0
    for t in order:
        value = signal[t]
        joins_left = t > 0 and active[t - 1]
        joins_right = t < length - 1 and active[t + 1]
        lo, hi, oldest = t, t, t
        if joins_left:
            lo = other_end[t - 1]
            oldest = root[t - 1]
        if joins_right:
            hi = other_end[t + 1]
            right_root = root[t + 1]
            if joins_left:
                younger = right_root
                if signal[right_root] < signal[oldest]:
                    younger, oldest = oldest, right_root
                if value > signal[younger]:
                    births[count] = signal[younger]
                    deaths[count] = value
                    count += 1
            else:
                oldest = right_root
        active[t] = True
        other_end[lo] = hi
        other_end[hi] = lo
        root[lo] = oldest
        root[hi] = oldest
    return count


@numba.njit(cache=True, parallel=True)
def _sublevel_pairs_batch(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_signals, length = signals.shape
    capacity = length // 2 + 1  # a path has at most ceil(L/2) local minima
    births = np.empty((n_signals, capacity))
    deaths = np.empty((n_signals, capacity))
    counts = np.empty(n_signals, dtype=np.int64)
    for i in numba.prange(n_signals):
        counts[i] = _sublevel_pairs_one(signals[i], births[i], deaths[i])
    return births, deaths, counts


def sublevel_diagrams(signals: np.ndarray) -> list[np.ndarray]:
    """0-dim sublevel-set diagrams of many 1-D signals (SPEC 2.1).

    `signals` is `(M, L)`: vertex t enters at x[t], edge (t, t+1) at max(x[t], x[t+1]).
    Returns M finite `(k, 2)` diagrams, identical to ripser's lower-star recipe up to its
    float32 rounding, and to gudhi's.
    """
    signals = np.ascontiguousarray(signals, dtype=np.float64)
    births, deaths, counts = _sublevel_pairs_batch(signals)
    return [np.stack([births[i, :k], deaths[i, :k]], axis=1) for i, k in enumerate(counts.tolist())]


def cubical_diagrams(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H0 and H1 diagrams of the sublevel filtration of one `(H, W)` image on its pixel grid.

    Pixels are the top-dimensional cells (gudhi's convention for images); edges and
    vertices enter with the lowest adjacent pixel.
    """
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=image)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    return tuple(  # type: ignore[return-value]
        _finite(complex_.persistence_intervals_in_dimension(dim)) for dim in (0, 1)
    )


def rips_h1_diagram(points: np.ndarray) -> np.ndarray:
    """H1 diagram of the Vietoris-Rips filtration of an `(n, d)` point cloud, computed in full.

    No distance threshold: a truncated filtration cannot see classes born above it, so a
    threshold can only be checked, never trusted (SPEC 2.5).
    """
    return _finite(ripser(points, maxdim=1)["dgms"][1])


def _finite(diagram: np.ndarray) -> np.ndarray:
    diagram = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(diagram[:, 1]) & (diagram[:, 1] > diagram[:, 0])
    return diagram[keep]
