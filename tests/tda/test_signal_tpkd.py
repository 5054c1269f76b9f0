"""`signal-sublevel-tpkd`, the topological distillation group's signal PIs, against their code
path (ripser + legacy `PersImage` at 64 x 64, `pinet.tda.reference.tpkd_signal_images`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pinet.tda import get_recipe
from pinet.tda.images import MAX_RESOLUTION
from pinet.tda.recipes import HAPT_ACC_MAX_DEVIATION
from pinet.tda.reference import ripser_sublevel, tpkd_signal_images
from tests.tda.oracles import assert_same_diagram

NAME = "signal-sublevel-tpkd"


def hapt_like_windows(rng: np.random.Generator, n: int) -> np.ndarray:
    """`(n, 3, 250)` accelerometer-like windows (g): gravity on one axis, a ~2 Hz step
    rhythm of random strength, and sensor noise, so that amplitudes span the grid."""
    t = np.arange(250) / 50
    strength = rng.uniform(0.05, 0.6, (n, 3, 1))
    rhythm = strength * np.sin(2 * np.pi * rng.uniform(1.5, 2.5, (n, 3, 1)) * t)
    gravity = np.array([1.0, 0.0, 0.0])[None, :, None]
    return gravity + rhythm + 0.02 * rng.standard_normal((n, 3, 250))


def test_matches_the_groups_pipeline_on_hapt_like_windows() -> None:
    windows = hapt_like_windows(np.random.default_rng(0), 4)
    recipe = get_recipe(NAME)
    ours = recipe.images_batch(windows)
    assert ours.shape == (4, 3, 64, 64) and ours.dtype == np.float32
    for window, pis in zip(windows, ours, strict=True):
        assert np.abs(pis - tpkd_signal_images(window, HAPT_ACC_MAX_DEVIATION)).max() <= 1e-6


# Values whose persistence after scaling stays on the grid (below max_bd = 1): a diagram
# wholly off it renders as zeros here but as PersImage's normalised noise (pinet.tda.images).
tpkd_windows = arrays(
    np.float64, st.tuples(st.integers(1, 3), st.integers(3, 120)), elements=st.floats(-0.7, 0.7)
)


@settings(max_examples=15, deadline=None)
@given(tpkd_windows, st.sampled_from([HAPT_ACC_MAX_DEVIATION, 4.0]))
def test_matches_the_groups_pipeline_property(window: np.ndarray, scale: float) -> None:
    ours = get_recipe(NAME, {"scale": scale}).images(window)
    assert np.abs(ours - tpkd_signal_images(window, scale)).max() <= 1e-6


def test_diagrams_are_ripsers_after_the_cut() -> None:
    window = hapt_like_windows(np.random.default_rng(1), 1)[0]
    recipe = get_recipe(NAME)
    for ours, channel in zip(recipe.diagrams(window), window, strict=True):
        expected = ripser_sublevel((channel - channel.mean()) / recipe.scale)
        expected = expected[expected[:, 1] - expected[:, 0] > 0.01]
        assert len(expected) > 0
        assert_same_diagram(ours, expected)  # float32 filtration: ripser's values exactly


def test_the_groups_settings_are_its_recorded_defaults() -> None:
    assert get_recipe(NAME).params == {
        "resolution": 64,
        "spread": 0.015,
        "min_bd": -1.0,
        "max_bd": 1.0,
        "scale": HAPT_ACC_MAX_DEVIATION,
        "min_persistence": 0.01,
        "float32_filtration": True,
    }


def test_amplitude_is_kept_where_a_z_score_would_erase_it() -> None:
    """A still window's wiggles all fall under the persistence cut; the same shape moved
    like walking does not. signal-sublevel z-scores both to the same image."""
    rng = np.random.default_rng(2)
    still = 1.0 + 0.002 * rng.standard_normal((3, 250))
    moving = 1.0 + 100 * (still - 1.0)
    recipe = get_recipe(NAME)
    assert not recipe.images(still).any()
    assert (recipe.images(moving).max(axis=(1, 2)) == 1.0).all()
    z_scored = get_recipe("signal-sublevel")
    np.testing.assert_allclose(z_scored.images(still), z_scored.images(moving), atol=1e-5)


def test_resolution_sets_the_image_side() -> None:
    window = hapt_like_windows(np.random.default_rng(3), 1)[0]
    assert get_recipe(NAME, {"resolution": 50}).images(window).shape == (3, 50, 50)
    assert get_recipe(NAME, {"resolution": np.int64(32)}).params["resolution"] == 32


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scale": 0.0}, "scale must be positive"),
        ({"scale": float("inf")}, "scale must be positive"),
        ({"min_persistence": -0.1}, "min_persistence must be >= 0"),
        ({"resolution": 1}, r"resolution must lie in \[2, 512\]"),
        ({"resolution": MAX_RESOLUTION + 1}, r"resolution must lie in \[2, 512\]"),
        ({"resolution": 2.5}, "resolution must be an integer"),
        ({"resolution": True}, "resolution must be an integer"),
    ],
)
def test_bad_parameters_are_rejected(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_recipe(NAME, params)


def test_values_beyond_the_float32_filtration_are_refused() -> None:
    window = np.array([[0.0, 1e39, -1e39, 2.0]])
    with pytest.raises(ValueError, match="overflow the filtration"):
        get_recipe(NAME).images(window)
