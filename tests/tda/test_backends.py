"""The fast backends against their oracles: giotto-ph (Rips H1, on a certified threshold)
against ripser, and cripser (cubical, pixels as top cells) against gudhi. Both must give the
same diagrams exactly."""

from __future__ import annotations

import warnings

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ripser import ripser

from pinet.tda.persistence import (
    MIN_CERTIFIED_POINTS,
    cubical_diagrams,
    h1_birth_bound,
    rips_distances,
    rips_h1_diagram,
)
from pinet.tda.recipes.rips import intensity_cloud
from pinet.tda.reference import finite_pairs, reference_samples
from tests.tda.oracles import assert_same_diagram


def ripser_h1(points: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # its "did you mean to transpose?" hints for tiny clouds
        warnings.simplefilter("ignore", UserWarning)
        return finite_pairs(ripser(points, maxdim=1)["dgms"][1])


def gudhi_cubical(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=image)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    return tuple(finite_pairs(complex_.persistence_intervals_in_dimension(d)) for d in (0, 1))


# --- Rips H1: giotto-ph against ripser -----------------------------------------------------


def small_clouds(most_points: int, most_dimensions: int) -> st.SearchStrategy[np.ndarray]:
    """`(n, d)` clouds with coordinates in [-10, 10], integers among them for ties."""
    return arrays(
        np.float64,
        st.tuples(st.integers(1, most_points), st.integers(1, most_dimensions)),
        elements=st.one_of(st.floats(-10, 10), st.integers(-2, 2).map(float)),
    )


@settings(max_examples=25, deadline=None)
@given(small_clouds(40, 4), st.sampled_from([1, 2]))
def test_rips_equals_ripser_exactly_on_random_clouds(points, threads):
    assert_same_diagram(rips_h1_diagram(points, threads), ripser_h1(points))


@pytest.mark.parametrize("shape", [(12, 12), (16, 13)])
def test_rips_equals_ripser_exactly_on_image_channels(shape):
    height, width = shape
    channels = reference_samples().images[:2, 0, :height, :width]  # real photo channels
    quantised = np.round(np.random.default_rng(0).uniform(0, 1, shape) * 3) / 3  # many ties
    for channel in [*channels, quantised]:
        cloud = intensity_cloud(channel)
        expected = ripser_h1(cloud)
        assert len(expected) > 0
        for threads in (1, 2):
            assert_same_diagram(rips_h1_diagram(cloud, threads), expected)


@pytest.mark.parametrize(
    "points",
    [
        np.zeros((1, 3)),  # one point
        np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),  # three points: no loop
        np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),  # a square: one tie
        np.repeat([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], 3, axis=0),  # duplicates
        np.zeros((30, 3)),  # all points equal (a constant image)
        intensity_cloud(np.full((8, 8), 0.5)),  # constant intensity: the grid alone
        intensity_cloud(np.full((16, 16), 0.5)),  # the same, large enough to certify
        intensity_cloud(np.indices((16, 16)).sum(axis=0) % 2.0),  # a checkerboard
        np.column_stack([np.linspace(0, 1, 25), np.zeros(25), np.zeros(25)]),  # collinear
        np.column_stack([np.cos(t := np.linspace(0, 2 * np.pi, 12, endpoint=False)), np.sin(t)]),
    ],
)
def test_rips_equals_ripser_exactly_on_adversarial_clouds(points):
    expected = ripser_h1(points)
    actual = rips_h1_diagram(points)
    assert actual.dtype == np.float64 and actual.shape[1:] == (2,)
    assert_same_diagram(actual, expected)


def test_rips_diagrams_are_ripsers_rips_distances():
    # Both filter by float32 distances: a circle's bar is born at its float32 chord.
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    (bar,) = rips_h1_diagram(np.column_stack([np.cos(t), np.sin(t)]))
    chord = np.float32(2 * np.sin(np.pi / 12))
    assert abs(bar[0] - chord) <= np.spacing(chord)
    assert bar.astype(np.float32).astype(np.float64).tolist() == bar.tolist()


def relative_neighbourhood_longest_edge(distances: np.ndarray) -> float:
    """The bound by its definition, in O(n^3) numpy: the longest edge uv with no w closer
    than d(u, v) to both u and v."""
    closer_to_both = np.maximum(distances[:, None, :], distances[None, :, :]) < distances[..., None]
    unwitnessed = ~closer_to_both.any(axis=2) & ~np.eye(len(distances), dtype=bool)
    return float(distances[unwitnessed].max(initial=0.0))


@settings(max_examples=40, deadline=None)
@given(small_clouds(30, 3))
def test_h1_birth_bound_is_the_relative_neighbourhood_graphs_longest_edge(points):
    distances = rips_distances(points)
    assert h1_birth_bound(distances) == relative_neighbourhood_longest_edge(distances)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["uniform", "ties", "clusters"]))
def test_certified_rips_equals_ripser_exactly_on_random_clouds(seed, kind):
    rng = np.random.default_rng(seed)
    n = MIN_CERTIFIED_POINTS + int(rng.integers(0, 60))
    if kind == "uniform":
        points = rng.uniform(-1, 1, (n, 3))
    elif kind == "ties":  # a small integer lattice: many equal distances, duplicate points
        points = rng.integers(-3, 4, (n, 2)).astype(np.float64)
    else:  # tight clusters far apart: long edges between short ones
        points = rng.normal(scale=0.05, size=(n, 2)) + rng.integers(0, 4, (n, 1)) * [3.0, 1.0]
    assert_same_diagram(rips_h1_diagram(points), ripser_h1(points))


def test_rips_sees_a_class_born_far_above_every_short_edge():
    # A dense blob (edges ~0.01) and, far away, a square of side 5 whose loop is born at 5:
    # a threshold fitted to the blob would miss it; the bound must reach the square's sides.
    blob = np.random.default_rng(0).normal(scale=0.05, size=(MIN_CERTIFIED_POINTS, 2))
    square = np.array([[20.0, 0.0], [25.0, 0.0], [25.0, 5.0], [20.0, 5.0]])
    points = np.concatenate([blob, square])
    (bar,) = [pair for pair in rips_h1_diagram(points) if pair[0] > 1]
    assert bar[0] == pytest.approx(5.0) and bar[1] == pytest.approx(np.sqrt(50), rel=1e-6)
    assert_same_diagram(rips_h1_diagram(points), ripser_h1(points))


def test_rips_raises_the_threshold_while_a_class_outlives_it():
    # A circle: the bound is its shortest chord, where the loop is born, and the loop dies
    # far above it (its diagram at the bound has an infinite bar).
    t = np.linspace(0, 2 * np.pi, MIN_CERTIFIED_POINTS, endpoint=False)
    points = np.column_stack([np.cos(t), np.sin(t)])
    (bar,) = rips_h1_diagram(points)
    assert bar[1] > 4 * h1_birth_bound(rips_distances(points))
    assert_same_diagram(rips_h1_diagram(points), ripser_h1(points))


def test_rips_equals_ripser_exactly_on_a_full_size_photo_channel():
    cloud = intensity_cloud(reference_samples().images[3, 1])  # 1,024 points in [0, 1]
    assert_same_diagram(rips_h1_diagram(cloud), ripser_h1(cloud))


# --- cubical: cripser against gudhi --------------------------------------------------------


def assert_same_cubical(image: np.ndarray) -> None:
    ours = cubical_diagrams(image)
    for actual, expected in zip(ours, gudhi_cubical(image), strict=True):
        assert actual.dtype == np.float64
        assert_same_diagram(actual, expected)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 14), st.integers(1, 14)),
        elements=st.one_of(st.floats(0, 1), st.integers(0, 3).map(lambda v: v / 3)),  # ties
    )
)
def test_cubical_equals_gudhi_exactly_on_random_images(image):
    assert_same_cubical(image)


@pytest.mark.parametrize(
    "image",
    [
        np.full((8, 8), 0.5),  # constant: only the essential class
        np.zeros((1, 1)),  # one pixel
        np.eye(6),  # a diagonal: pixels touching at corners only
        np.tile([[0.0, 1.0], [1.0, 0.0]], (5, 5)),  # checkerboard of ties
        np.pad(np.zeros((3, 3)), 1, constant_values=1.0),  # a dark square on white
    ],
)
def test_cubical_equals_gudhi_exactly_on_adversarial_images(image):
    assert_same_cubical(image)


def test_cubical_equals_gudhi_exactly_on_photos():
    for channel in reference_samples().images[:3].reshape(-1, 32, 32):
        assert_same_cubical(channel)
