"""Independent oracles for pinet.tda besides the authors' pipeline (`pinet.tda.reference`):
gudhi's float64 diagrams, and comparisons of diagrams as multisets."""

from __future__ import annotations

import gudhi
import numpy as np

from pinet.tda.reference import finite_pairs


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
