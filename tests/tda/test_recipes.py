"""Named recipes against the authors' released data, their pipeline, gudhi and ripser."""

from __future__ import annotations

import json

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ripser import ripser

from pinet.tda import PI_SIZE, RECIPES, get_recipe, sublevel_diagrams
from pinet.tda.recipes.takens import delay_embedding
from pinet.tda.reference import (
    authors_raster_images,
    authors_signal_images,
    finite_pairs,
    persim_image,
    reference_samples,
    ripser_sublevel,
    zscore,
)
from tests.tda.oracles import assert_same_diagram, gudhi_lower_star, sorted_diagram


@pytest.fixture(scope="module")
def reference():
    samples = reference_samples()
    return samples.images, samples.pis


def assert_same_diagrams(actual: list, expected: list, atol: float = 0.0) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert_same_diagram(a, e, atol=atol)


def random_walks(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.cumsum(rng.standard_normal(shape), axis=-1)


def smooth_uint8_images(rng: np.random.Generator, n: int, size: int = 32) -> np.ndarray:
    """Blurry random images: few, large basins, like photos rather than noise."""
    coarse = rng.uniform(0, 255, (n, 3, size // 4, size // 4))
    fine = np.kron(coarse, np.ones((4, 4))) + rng.normal(0, 6, (n, 3, size, size))
    return np.clip(np.round(fine), 0, 255).astype(np.uint8)


# Inputs each recipe accepts, small enough for Rips.
def sample_input(name: str, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    shape = {
        "signal-sublevel": (3, 120),
        "image-raster": (3, 16, 16),
        "image-cubical": (3, 16, 16),
        "image-rips": (2, 6, 7),
        "signal-takens": (2, 60),
        "signal-sublevel-tpkd": (3, 120),
    }[name]
    shape = shape if n is None else (n, *shape)
    if name.startswith("signal-"):
        return random_walks(rng, shape)
    return rng.uniform(0, 1, shape)


# --- image-raster: the authors' released ground truth -------------------------------------


def test_raster_reproduces_released_pis_batch(reference):
    images, pis = reference
    ours = get_recipe("image-raster").images_batch(images)
    assert ours.shape == pis.shape and ours.dtype == np.float32
    assert np.abs(ours - pis).max() <= 1e-6


def test_raster_reproduces_released_pis_one_by_one(reference):
    images, pis = reference
    recipe = get_recipe("image-raster")
    for image, expected in zip(images, pis, strict=True):
        assert np.abs(recipe.images(image) - expected).max() <= 1e-6


def test_raster_reproduces_released_pis_from_uint8(reference):
    images, pis = reference
    as_bytes = np.round(images * 255).astype(np.uint8)
    recipe = get_recipe("image-raster")
    assert np.abs(recipe.images_batch(as_bytes) - pis).max() <= 1e-6
    for image, expected in zip(as_bytes, pis, strict=True):
        assert np.abs(recipe.images(image) - expected).max() <= 1e-6


def test_raster_needs_row_major_flatten_and_cut(reference):
    # The two unusual choices of SPEC 2.3 matter: without either, the error is large.
    images, pis = reference
    recipe = get_recipe("image-raster")
    no_cut = get_recipe("image-raster", {"min_persistence": 0.0}).images_batch(images)
    column_major = recipe.images_batch(images.transpose(0, 1, 3, 2))
    assert np.abs(no_cut - pis).max() > 0.02
    assert np.abs(column_major - pis).max() > 0.1


def test_raster_matches_authors_pipeline_on_new_images():
    rng = np.random.default_rng(1)
    images = np.concatenate(
        [smooth_uint8_images(rng, 2), rng.integers(0, 256, (1, 3, 32, 32), dtype=np.uint8)]
    )
    ours = get_recipe("image-raster").images_batch(images)
    for image, pis in zip(images, ours, strict=True):
        assert np.abs(pis - authors_raster_images(image / 255.0)).max() <= 1e-6


def test_raster_diagrams_match_ripser_with_cut():
    rng = np.random.default_rng(2)
    image = smooth_uint8_images(rng, 1)[0]
    recipe = get_recipe("image-raster")
    expected = []
    for channel in image / 255.0:
        d = ripser_sublevel(channel.ravel())
        expected.append(d[d[:, 1] - d[:, 0] > 1.5 / 255])
    # float32 filtration: exactly ripser's values.
    assert_same_diagrams(recipe.diagrams(image), expected)
    assert all((d[:, 1] - d[:, 0] > 1.5 / 255).all() for d in recipe.diagrams(image))


def test_raster_without_cut_matches_authors_pipeline_without_cut():
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 1, (2, 12, 12))
    ours = get_recipe("image-raster", {"min_persistence": 0.0}).images(image)
    assert np.abs(ours - authors_raster_images(image, cut=0.0)).max() <= 1e-6


# --- signal-sublevel ----------------------------------------------------------------------


def test_signal_matches_authors_pipeline_on_random_walks():
    rng = np.random.default_rng(4)
    windows = random_walks(rng, (4, 3, 250))
    ours = get_recipe("signal-sublevel").images_batch(windows)
    assert ours.shape == (4, 3, PI_SIZE, PI_SIZE)
    for window, pis in zip(windows, ours, strict=True):
        assert np.abs(pis - authors_signal_images(window)).max() <= 1e-6


def test_signal_matches_authors_pipeline_on_noisy_sines():
    rng = np.random.default_rng(5)
    t = np.arange(250) / 50
    window = np.stack(
        [np.sin(2 * np.pi * f * t) + 0.3 * rng.standard_normal(250) for f in (0.5, 1.7, 3.1)]
    )
    ours = get_recipe("signal-sublevel").images(window)
    assert np.abs(ours - authors_signal_images(window)).max() <= 1e-6


signal_windows = st.one_of(
    arrays(
        np.float64, st.tuples(st.integers(1, 3), st.integers(3, 120)), elements=st.floats(-50, 50)
    ),
    arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(3, 60)),
        elements=st.integers(-2, 2).map(float),  # ties and plateaus
    ),
).filter(lambda w: (w.std(axis=1) > 1e-6 * np.abs(w).max(axis=1)).all())


@settings(max_examples=15, deadline=None)
@given(signal_windows)
def test_signal_matches_authors_pipeline_property(window):
    assert (
        np.abs(get_recipe("signal-sublevel").images(window) - authors_signal_images(window)).max()
        <= 1e-6
    )


@settings(max_examples=40, deadline=None)
@given(signal_windows)
def test_signal_diagrams_match_ripser_and_gudhi(window):
    recipe = get_recipe("signal-sublevel")
    standardised = zscore(window)
    # float32 filtration: ripser's values exactly; gudhi on float64 z-scores to float32.
    assert_same_diagrams(recipe.diagrams(window), [ripser_sublevel(c) for c in standardised])
    exact = get_recipe("signal-sublevel", {"float32_filtration": False})
    # Two z-scorings of one channel agree to a few ulps of its largest value over its std:
    # nearly constant channels (std down to 1e-6 of that value) lose digits in the mean.
    conditioning = (np.abs(window).max(axis=1) / window.std(axis=1)).max()
    assert_same_diagrams(
        exact.diagrams(window),
        [gudhi_lower_star(c) for c in standardised],
        atol=1e-12 * max(1.0, conditioning),
    )


@pytest.mark.parametrize("scale", [1e-100, 1e-30, 1e-5, 1.0, 1e5, 1e30, 1e100])
def test_signal_is_scale_invariant(scale):
    rng = np.random.default_rng(6)
    window = random_walks(rng, (3, 200))
    recipe = get_recipe("signal-sublevel")
    expected = recipe.images(window)
    assert expected.any()
    np.testing.assert_allclose(recipe.images(window * scale + 7 * scale), expected, atol=1e-5)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_signal_survives_extreme_magnitudes(scale):
    window = np.array([[0.0, 1.0, 0.0, 2.0, 0.5, 3.0]])
    expected = get_recipe("signal-sublevel").diagrams(window)
    assert len(expected[0]) == 2
    assert_same_diagrams(get_recipe("signal-sublevel").diagrams(window * scale), expected)


def test_constant_channel_gives_zero_pi_and_leaves_others_alone():
    rng = np.random.default_rng(7)
    window = random_walks(rng, (3, 250))
    window[1] = 4.2
    recipe = get_recipe("signal-sublevel")
    diagrams = recipe.diagrams(window)
    images = recipe.images(window)
    assert diagrams[1].shape == (0, 2)
    assert np.isfinite(images).all()
    assert not images[1].any()
    for c in (0, 2):
        np.testing.assert_array_equal(images[c], recipe.images(window[c][None])[0])
        assert images[c].max() == 1.0


@pytest.mark.parametrize("length", [1, 2])
def test_very_short_signals_give_zero_pis(length):
    recipe = get_recipe("signal-sublevel")
    window = np.arange(3 * length, dtype=np.float64).reshape(3, length)
    assert all(d.shape == (0, 2) for d in recipe.diagrams(window))
    images = recipe.images(window)
    assert images.shape == (3, PI_SIZE, PI_SIZE) and not images.any()


def test_one_dimensional_signal_is_one_channel():
    rng = np.random.default_rng(8)
    signal = random_walks(rng, (100,))
    recipe = get_recipe("signal-sublevel")
    images = recipe.images(signal)
    assert images.shape == (1, PI_SIZE, PI_SIZE)
    np.testing.assert_array_equal(images, recipe.images(signal[None]))


def test_monotone_signal_has_no_pairs():
    recipe = get_recipe("signal-sublevel")
    window = np.stack([np.arange(50.0), -np.arange(50.0), np.exp(np.linspace(0, 5, 50))])
    assert all(len(d) == 0 for d in recipe.diagrams(window))
    assert not recipe.images(window).any()


# --- image-cubical ------------------------------------------------------------------------


def gudhi_cubical(channel: np.ndarray, dims=(0, 1)) -> np.ndarray:
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=channel)
    complex_.compute_persistence()
    return np.concatenate(
        [finite_pairs(complex_.persistence_intervals_in_dimension(d)) for d in dims]
    )


@pytest.mark.parametrize("dims", [(0, 1), (0,), (1,)])
def test_cubical_matches_gudhi(dims):
    rng = np.random.default_rng(9)
    # Generic values and 8-bit ones (many ties and plateaus).
    image = np.concatenate(
        [rng.uniform(0, 1, (1, 20, 17)), smooth_uint8_images(rng, 1, 20)[0, :2, :, :17] / 255.0]
    )
    recipe = get_recipe("image-cubical", {"homology_dimensions": list(dims)})
    expected = [gudhi_cubical(channel, dims) for channel in image]
    assert_same_diagrams(recipe.diagrams(image), expected)
    images = recipe.images(image)
    for pi, diagram in zip(images, expected, strict=True):
        np.testing.assert_allclose(pi, persim_image(diagram, 0.05, 0.0, 1.0), atol=1e-6)


def test_cubical_labels_each_pair_with_its_dimension():
    image = np.random.default_rng(9).uniform(0, 1, (2, 12, 12))
    diagrams, dimensions = get_recipe("image-cubical").diagrams_with_dimensions(image)
    for pairs, labels, channel in zip(diagrams, dimensions, image, strict=True):
        assert set(labels.tolist()) == {0, 1}
        for dim in (0, 1):
            assert_same_diagram(pairs[labels == dim], gudhi_cubical(channel, (dim,)))


def test_cubical_ring_has_one_loop():
    # A ring of dark pixels around a bright centre: one H1 class, born when the ring closes
    # (its brightest pixel, 0.3) and dying when the centre fills in (0.9).
    image = np.full((5, 5), 1.0)
    image[1:4, 1:4] = 0.2
    image[1, 2] = 0.3
    image[2, 2] = 0.9
    h0_and_h1 = get_recipe("image-cubical").diagrams(image)[0]
    h1 = get_recipe("image-cubical", {"homology_dimensions": [1]}).diagrams(image)[0]
    np.testing.assert_array_equal(h1, [[0.3, 0.9]])
    np.testing.assert_array_equal(sorted_diagram(h0_and_h1), [[0.3, 0.9]])


def test_cubical_single_row_is_lower_star_of_the_row():
    rng = np.random.default_rng(10)
    row = rng.uniform(0, 1, 40)
    (diagram,) = get_recipe("image-cubical").diagrams(row[None, None, :])
    assert_same_diagrams([diagram], [gudhi_lower_star(row)])
    assert_same_diagrams([diagram], sublevel_diagrams(row[None]))


def test_cubical_pairs_of_two_dark_blobs():
    # Two separate minima (0.1 and 0.2) on a bright background: H0 pair (0.2, 1.0).
    image = np.ones((6, 6))
    image[1, 1] = 0.1
    image[4, 4] = 0.2
    np.testing.assert_array_equal(get_recipe("image-cubical").diagrams(image)[0], [[0.2, 1.0]])


@pytest.mark.parametrize("cut", [-0.1, float("nan"), float("inf")])
def test_raster_refuses_a_cut_that_is_negative_or_not_finite(cut):
    with pytest.raises(ValueError, match="min_persistence must be >= 0 and finite"):
        get_recipe("image-raster", {"min_persistence": cut})


def test_cubical_bad_homology_dimensions():
    for bad in ([], [2], [0, 0]):
        with pytest.raises(ValueError, match="homology_dimensions"):
            get_recipe("image-cubical", {"homology_dimensions": bad})


# --- image-rips ---------------------------------------------------------------------------


def intensity_cloud(channel: np.ndarray) -> np.ndarray:
    height, width = channel.shape
    return np.array(
        [(x / width, y / height, channel[y, x]) for y in range(height) for x in range(width)]
    )


@pytest.mark.parametrize("shape", [(6, 6), (4, 7)])  # non-square: x / W and y / H differ
def test_rips_matches_ripser_and_gudhi_on_tiny_image(shape):
    rng = np.random.default_rng(11)
    image = rng.uniform(0, 1, (2, *shape))
    image[1] = np.round(image[1] * 4) / 4  # ties
    recipe = get_recipe("image-rips")
    diagrams = recipe.diagrams(image)
    clouds = [intensity_cloud(channel) for channel in image]
    assert_same_diagrams(diagrams, [finite_pairs(ripser(c, maxdim=1)["dgms"][1]) for c in clouds])
    for diagram, cloud in zip(diagrams, clouds, strict=True):
        tree = gudhi.RipsComplex(points=cloud).create_simplex_tree(max_dimension=2)
        tree.compute_persistence()
        # gudhi reports the edge length as the filtration value, ripser the same in float32.
        expected = finite_pairs(tree.persistence_intervals_in_dimension(1))
        expected = expected[expected[:, 1] - expected[:, 0] > 1e-6]
        assert_same_diagrams([diagram[diagram[:, 1] - diagram[:, 0] > 1e-6]], [expected], atol=1e-6)
    assert sum(len(d) for d in diagrams) > 0


def test_rips_images_match_persim():
    rng = np.random.default_rng(12)
    image = rng.uniform(0, 1, (1, 5, 6))
    recipe = get_recipe("image-rips")
    (diagram,) = recipe.diagrams(image)
    assert len(diagram) > 0
    np.testing.assert_allclose(
        recipe.images(image)[0], persim_image(diagram, 0.01, 0.0, 0.5), atol=1e-6
    )


# --- signal-takens -----------------------------------------------------------------------


def takens_oracle(window: np.ndarray, dimension: int, delay: int, stride: int) -> list:
    """ripser on the delay embedding built point by point from the z-scored channels."""
    diagrams = []
    for channel in zscore(window):
        starts = range(0, len(channel) - (dimension - 1) * delay, stride)
        cloud = np.array([[channel[t + k * delay] for k in range(dimension)] for t in starts])
        enough = len(cloud) >= 2  # ripser needs two points
        diagrams.append(finite_pairs(ripser(cloud, maxdim=1)["dgms"][1]) if enough else [])
    return [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in diagrams]


def noisy_sines(rng: np.random.Generator, periods: tuple[float, ...], length: int = 250):
    t = np.arange(length)
    return np.stack(
        [np.sin(2 * np.pi * t / p) + 0.2 * rng.standard_normal(length) for p in periods]
    )


@pytest.mark.parametrize(
    "params",
    [{}, {"dimension": 2, "delay": 5, "stride": 3}, {"dimension": 5, "delay": 1, "stride": 4}],
)
def test_takens_matches_ripser_on_the_embedding(params):
    rng = np.random.default_rng(18)
    window = np.concatenate([noisy_sines(rng, (25.0,), 160), random_walks(rng, (1, 160))])
    recipe = get_recipe("signal-takens", params)
    expected = takens_oracle(window, recipe.dimension, recipe.delay, recipe.stride)
    assert sum(len(d) for d in expected) > 0
    assert_same_diagrams(recipe.diagrams(window), expected)
    for pi, diagram in zip(recipe.images(window), expected, strict=True):
        np.testing.assert_allclose(
            pi, persim_image(diagram, recipe.spread, recipe.min_bd, recipe.max_bd), atol=1e-6
        )


@pytest.mark.parametrize("length", [250, 98])
def test_takens_at_stride_1_gives_a_reversed_window_the_same_pis(length):
    """What `--augment` and `--average-reversed` rely on at stride 1; at stride 2 a reversed
    window of these lengths is another subsample (T - 17 is odd), and the recipe says so."""
    rng = np.random.default_rng(20)
    window = np.concatenate([noisy_sines(rng, (25.0,), length), random_walks(rng, (1, length))])
    stride_1 = get_recipe("signal-takens", {"stride": 1})
    assert stride_1.spatial_symmetries == "reversal"
    np.testing.assert_allclose(
        stride_1.images(window[:, ::-1]), stride_1.images(window), rtol=0, atol=1e-6
    )
    stride_2 = get_recipe("signal-takens", {"stride": 2})
    assert stride_2.spatial_symmetries == "none"
    assert np.abs(stride_2.images(window[:, ::-1]) - stride_2.images(window)).max() > 1e-3


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_takens_counts_the_points_it_embeds(stride):
    """The count the service's size limit reads is the embedding's own, at every length."""
    recipe = get_recipe("signal-takens", {"stride": stride})
    for length in (0, 16, 17, 18, 19, 250, 1001):
        points = delay_embedding(np.zeros(length), recipe.dimension, recipe.delay, stride)
        assert recipe.embedded_points(length) == len(points)


def test_takens_has_room_for_cycles_from_four_embedded_points():
    recipe = get_recipe("signal-takens", {"dimension": 2, "delay": 5, "stride": 1})
    assert [recipe.has_room_for_cycles(length) for length in (8, 9)] == [False, True]
    square = np.array([[0.0, 1.0, 1.0, 0.0, 0.5, 0.0, 0.0, 1.0, 1.0]])  # (x[t], x[t + 5]): a square
    assert len(recipe.diagrams(square)[0]) == 1


def test_takens_noisy_sine_has_one_dominant_loop_and_noise_none():
    rng = np.random.default_rng(19)
    recipe = get_recipe("signal-takens")
    sines = recipe.diagrams(noisy_sines(rng, (24.0, 40.0)))
    noise = recipe.diagrams(rng.standard_normal((2, 250)))
    longest_noise = max(np.max(d[:, 1] - d[:, 0]) for d in noise)
    for diagram in sines:
        persistence = np.sort(diagram[:, 1] - diagram[:, 0])[::-1]
        assert persistence[0] > 3 * persistence[1]  # one bar dominates the rest
        assert persistence[0] > 2 * longest_noise  # and no white-noise bar comes close


def test_takens_short_and_constant_channels_give_zero_pis():
    recipe = get_recipe("signal-takens")  # 4 points need T >= 2 * 8 + 1 + 3 * 2 = 23
    rng = np.random.default_rng(20)
    for length in (1, 16, 17, 22):
        window = rng.standard_normal((2, length))
        assert all(d.shape == (0, 2) for d in recipe.diagrams(window))
        assert not recipe.images(window).any()
    window = noisy_sines(rng, (25.0, 25.0))
    window[1] = 3.0
    diagrams = recipe.diagrams(window)
    assert len(diagrams[0]) > 0 and diagrams[1].shape == (0, 2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"dimension": 1}, "dimension must be an integer >= 2"),
        ({"delay": 0}, "delay must be an integer >= 1"),
        ({"stride": 0}, "stride must be an integer >= 1"),
        ({"stride": 1.5}, "stride must be an integer"),
        ({"delay": True}, "delay must be an integer"),
    ],
)
def test_takens_bad_parameters_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("signal-takens", params)


def test_takens_numpy_integer_parameters_become_plain_ints():
    recipe = get_recipe("signal-takens", {"delay": np.int64(5)})
    assert type(recipe.delay) is int and json.loads(json.dumps(recipe.params))["delay"] == 5


# --- every recipe -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_images_are_float32_in_unit_range_one_per_channel(name):
    rng = np.random.default_rng(13)
    x = sample_input(name, rng)
    recipe = get_recipe(name)
    images = recipe.images(x)
    assert images.dtype == np.float32
    assert images.shape == (len(x), recipe.resolution, recipe.resolution)
    assert images.min() >= 0.0 and images.max() <= 1.0
    for image, diagram in zip(images, recipe.diagrams(x), strict=True):
        assert image.max() == (1.0 if len(diagram) else 0.0)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_batch_equals_stacked_single_inputs(name):
    rng = np.random.default_rng(14)
    batch = sample_input(name, rng, n=3)
    recipe = get_recipe(name)
    images = recipe.images_batch(batch)
    assert images.shape == (3, batch.shape[1], recipe.resolution, recipe.resolution)
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images, np.stack([recipe.images(x) for x in batch]))
    diagrams, images_again = recipe.transform_batch(batch)
    np.testing.assert_array_equal(images_again, images)
    assert len(diagrams) == 3
    for per_sample, x in zip(diagrams, batch, strict=True):
        assert_same_diagrams(per_sample, recipe.diagrams(x))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_diagrams_are_finite_positive_float64(name):
    rng = np.random.default_rng(15)
    for diagram in get_recipe(name).diagrams(sample_input(name, rng)):
        assert diagram.dtype == np.float64 and diagram.ndim == 2 and diagram.shape[1] == 2
        assert np.isfinite(diagram).all()
        assert (diagram[:, 1] > diagram[:, 0]).all()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_diagrams_with_dimensions_are_the_diagrams_labelled(name):
    x = sample_input(name, np.random.default_rng(17))
    recipe = get_recipe(name)
    diagrams, dimensions = recipe.diagrams_with_dimensions(x)
    assert len(dimensions) == len(x)
    for pairs, labels, expected in zip(diagrams, dimensions, recipe.diagrams(x), strict=True):
        np.testing.assert_array_equal(pairs, expected)
        assert labels.shape == (len(pairs),) and labels.dtype == np.int64
        assert set(labels.tolist()) <= set(recipe.homology_dimensions)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_inputs_are_not_modified(name):
    rng = np.random.default_rng(16)
    x = sample_input(name, rng, n=2)
    copy = x.copy()
    get_recipe(name).transform_batch(x)
    get_recipe(name).images(x[0])
    np.testing.assert_array_equal(x, copy)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_params_are_json_and_rebuild_the_recipe(name):
    recipe = get_recipe(name)
    assert recipe.name == name
    text = json.dumps(recipe.params)
    assert get_recipe(name, json.loads(text)) == recipe
    assert get_recipe(name, recipe.params) == recipe
    assert {"spread", "min_bd", "max_bd"} <= set(recipe.params)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("image-raster", {"spread": 0.1, "min_persistence": 0.0, "float32_filtration": False}),
        ("signal-sublevel", {"spread": 0.5, "min_bd": -5.0, "max_bd": 5.0}),
        ("image-cubical", {"homology_dimensions": [1]}),
        ("image-rips", {"max_bd": 0.4}),
        ("signal-takens", {"dimension": 4, "delay": 3, "stride": 1}),
        ("signal-sublevel-tpkd", {"resolution": 32, "scale": 2.0, "min_persistence": 0.0}),
    ],
)
def test_non_default_params_round_trip(name, params):
    recipe = get_recipe(name, params)
    assert recipe != get_recipe(name)
    for key, value in params.items():
        assert recipe.params[key] == value
    assert get_recipe(name, json.loads(json.dumps(recipe.params))) == recipe


def test_params_change_the_output():
    rng = np.random.default_rng(17)
    window = random_walks(rng, (2, 100))
    default = get_recipe("signal-sublevel").images(window)
    wider = get_recipe("signal-sublevel", {"spread": 0.5}).images(window)
    assert np.abs(default - wider).max() > 0.01
    expected = np.stack(
        [persim_image(ripser_sublevel(c), 0.5, -10.0, 10.0) for c in zscore(window)]
    )
    assert np.abs(wider - expected).max() <= 1e-6


def test_recipe_names():
    assert set(RECIPES) == {
        "image-raster",
        "signal-sublevel",
        "image-cubical",
        "image-rips",
        "signal-takens",
        "signal-sublevel-tpkd",
    }
    for name, recipe_class in RECIPES.items():
        assert recipe_class.name == name


def test_unknown_recipe_is_rejected():
    with pytest.raises(ValueError, match=r"'image-sparkle'.*image-raster"):
        get_recipe("image-sparkle")


def test_unknown_parameter_is_rejected():
    with pytest.raises(ValueError, match=r"image-raster.*sigma"):
        get_recipe("image-raster", {"sigma": 0.1})


@pytest.mark.parametrize(
    ("params", "message"), [({"spread": 0}, "spread"), ({"max_bd": -1}, "max_bd")]
)
def test_bad_grid_parameters_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("signal-sublevel", params)


def test_recipes_are_immutable():
    recipe = get_recipe("image-raster")
    with pytest.raises(AttributeError):
        recipe.spread = 0.1  # type: ignore[misc]


def test_signal_takens_with_a_dimension_beyond_the_signal_costs_nothing() -> None:
    """No embedded point: an empty diagram and a zero PI, without an array of `dimension`
    coordinates (a request may ask for dimension 10^12)."""
    recipe = get_recipe("signal-takens", {"dimension": 10**12})
    signal = np.random.default_rng(0).normal(size=(2, 100))
    assert [len(d) for d in recipe.diagrams(signal)] == [0, 0]
    assert not recipe.images(signal).any()
    assert recipe.homology_dimensions == (1,)
