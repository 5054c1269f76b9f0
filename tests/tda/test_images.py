"""The legacy persistence-image grid against persim's `PersImage` (SPEC 2.2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pinet.tda import PI_SIZE, PersistenceImageGrid
from pinet.tda.reference import persim_image

# (spread, min_bd, max_bd): the two released settings, a narrow grid, minBD > 0 (the grid
# still starts at 0), minBD < 0 with a wide spread, and a range shifted off zero.
GRIDS = [
    (0.05, 0.0, 1.0),
    (0.25, -10.0, 10.0),
    (0.01, 0.0, 0.5),
    (0.1, 0.2, 1.0),
    (1.0, -3.0, 2.0),
    (0.5, -1.0, 5.0),
]


def random_diagram(rng: np.random.Generator, k: int, low: float, high: float) -> np.ndarray:
    births = rng.uniform(low, high, k)
    return np.column_stack([births, births + rng.uniform(0, 0.6 * (high - low), k)])


@pytest.mark.parametrize(("spread", "min_bd", "max_bd"), GRIDS)
def test_render_matches_persim(spread, min_bd, max_bd):
    rng = np.random.default_rng(0)
    low = min(min_bd, 0.0)
    # Points inside the grid, around and beyond its edges, and one lone point.
    diagrams = [
        random_diagram(rng, 40, low, max_bd),
        random_diagram(rng, 25, low - (max_bd - low), max_bd + (max_bd - low)),
        random_diagram(rng, 1, low, max_bd),
        np.empty((0, 2)),
        random_diagram(rng, 200, low, max_bd),
    ]
    images = PersistenceImageGrid(spread, min_bd, max_bd).render(diagrams)
    assert images.shape == (len(diagrams), PI_SIZE, PI_SIZE)
    assert images.dtype == np.float64
    for image, diagram in zip(images, diagrams, strict=True):
        np.testing.assert_allclose(image, persim_image(diagram, spread, min_bd, max_bd), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(GRIDS),
    st.lists(
        arrays(
            np.float64,
            st.tuples(st.integers(0, 12), st.just(2)),
            # Quantised coordinates repeat, exercising the distinct-value shortcut.
            elements=st.one_of(
                st.integers(-300, 300).map(lambda v: v / 255), st.floats(-12, 12, width=32)
            ),
        ).map(lambda d: np.column_stack([d[:, 0], d[:, 0] + np.abs(d[:, 1]) + 1e-3])),
        min_size=1,
        max_size=4,
    ),
)
def test_render_matches_persim_property(grid, diagrams):
    max_bd = grid[2]
    # Keep one point inside the grid: when every point lies many spreads outside it, persim
    # max-normalises masses of 1e-80 into a full image, which ours renders as zeros (see
    # test_diagram_far_outside_the_grid_diverges_from_persim).
    diagrams = [np.vstack([d, [[max_bd / 2, max_bd / 2 + 0.5 * max_bd]]]) for d in diagrams]
    images = PersistenceImageGrid(*grid).render(diagrams)
    for image, diagram in zip(images, diagrams, strict=True):
        expected = persim_image(diagram, *grid)
        np.testing.assert_allclose(image, expected, atol=1e-9)
        assert np.isfinite(image).all()
        assert image.max() in (0.0, 1.0)


def test_orientation_row_zero_is_high_persistence_column_zero_is_low_birth():
    grid = PersistenceImageGrid(spread=0.01, min_bd=0.0, max_bd=1.0)
    low_birth_high_persistence = np.array([[0.02, 0.02 + 0.97]])
    high_birth_low_persistence = np.array([[0.97, 0.97 + 0.02]])
    first, second = grid.render([low_birth_high_persistence, high_birth_low_persistence])
    row, column = np.unravel_index(first.argmax(), first.shape)
    assert row <= 2 and column <= 2
    row, column = np.unravel_index(second.argmax(), second.shape)
    assert row >= PI_SIZE - 3 and column >= PI_SIZE - 3


def test_negative_births_shift_columns_right():
    # With min_bd < 0 the birth axis starts at min_bd: birth 0 sits in the middle columns.
    grid = PersistenceImageGrid(spread=0.1, min_bd=-10.0, max_bd=10.0)
    (image,) = grid.render([np.array([[0.0, 5.0]])])
    _, column = np.unravel_index(image.argmax(), image.shape)
    assert abs(column - (PI_SIZE - 1) / 2) <= 1


def test_linear_weighting_by_persistence():
    # Two far-apart points well inside the grid: the weaker one's total mass is its share of
    # the largest persistence (0.2 / 0.8), whatever the bins' alignment.
    grid = PersistenceImageGrid(spread=0.03, min_bd=0.0, max_bd=1.0)
    (image,) = grid.render([np.array([[0.1, 0.9], [0.7, 0.9]])])  # persistences 0.8 and 0.2
    strong = image[:, :25].sum()
    weak = image[:, 25:].sum()
    assert weak / strong == pytest.approx(0.25, rel=0.01)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_empty_diagrams_give_zeros(count):
    images = PersistenceImageGrid(0.05, 0.0, 1.0).render([np.empty((0, 2))] * count)
    assert images.shape == (count, PI_SIZE, PI_SIZE)
    assert not images.any()


def test_empty_among_nonempty_stays_zero_without_nan():
    images = PersistenceImageGrid(0.05, 0.0, 1.0).render(
        [np.empty((0, 2)), np.array([[0.2, 0.5]]), np.empty((0, 2))]
    )
    assert np.isfinite(images).all()
    assert not images[0].any() and not images[2].any()
    assert images[1].max() == 1.0


def test_points_far_outside_the_grid_give_zeros_not_nan():
    (image,) = PersistenceImageGrid(0.05, 0.0, 1.0).render([np.array([[100.0, 150.0]])])
    assert np.isfinite(image).all()
    assert not image.any()


def test_diagram_far_outside_the_grid_diverges_from_persim():
    # Documented divergence: masses beyond 9 spreads are dropped (below 1e-18 each), so a
    # diagram lying wholly 20 spreads off the grid renders as zeros; persim's masses of
    # ~1e-89 become a full-intensity corner once divided by their max.
    diagram = np.array([[0.0, 2.001]])
    (image,) = PersistenceImageGrid(0.05, 0.0, 1.0).render([diagram])
    assert not image.any()
    assert persim_image(diagram, 0.05, 0.0, 1.0)[0, 0] == 1.0


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_diagram_is_rejected(bad):
    with pytest.raises(ValueError, match="finite"):
        PersistenceImageGrid(0.05, 0.0, 1.0).render([np.array([[0.0, 0.5], [0.1, bad]])])


@pytest.mark.parametrize(
    ("spread", "min_bd", "max_bd", "message"),
    [
        (0.0, 0.0, 1.0, "spread must be positive"),
        (-0.1, 0.0, 1.0, "spread must be positive"),
        (0.05, 0.0, 0.0, "max_bd must be positive"),
        (0.05, 0.0, -1.0, "max_bd must be positive"),
        (np.inf, 0.0, 1.0, "spread must be finite"),
        (np.nan, 0.0, 1.0, "spread must be finite"),
        (0.05, -np.inf, 1.0, "min_bd must be finite"),
        (0.05, 0.0, np.nan, "max_bd must be finite"),
        (0.05, -1e308, 1e308, "span .* overflows"),
        (1e308, 0.0, 1.0, "more than 100 times the grid's span"),
        (2001.0, -10.0, 10.0, "more than 100 times the grid's span 20"),
    ],
)
def test_bad_grid_is_rejected(spread, min_bd, max_bd, message):
    with pytest.raises(ValueError, match=message):
        PersistenceImageGrid(spread, min_bd, max_bd)


def test_widest_allowed_spread_renders_a_flat_image_not_zeros():
    (image,) = PersistenceImageGrid(100.0, 0.0, 1.0).render([np.array([[0.2, 0.7]])])
    assert image.max() == 1.0
    assert image.min() > 0.999


def test_render_is_pure():
    diagram = np.array([[0.1, 0.4], [0.2, 0.3]])
    copy = diagram.copy()
    grid = PersistenceImageGrid(0.05, 0.0, 1.0)
    first = grid.render([diagram])
    np.testing.assert_array_equal(diagram, copy)
    np.testing.assert_array_equal(grid.render([diagram]), first)
