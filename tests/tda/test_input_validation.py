"""Bad inputs are refused with a ValueError that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from pinet.tda import get_recipe

SIGNAL = "signal-sublevel"
IMAGE_RECIPES = ["image-raster", "image-cubical", "image-rips"]


def good_signal() -> np.ndarray:
    return np.cumsum(np.random.default_rng(0).standard_normal((3, 40)), axis=1)


def good_image() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (3, 5, 5))


def with_value(x: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    x = x.copy()
    x[index] = value
    return x


def every_entry_point(recipe, x: np.ndarray):
    """The single-input calls on x and the batch calls on x[None]."""
    return [
        lambda: recipe.diagrams(x),
        lambda: recipe.images(x),
        lambda: recipe.images_batch(x[None]),
        lambda: recipe.transform_batch(x[None]),
    ]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_signal_with_nan_or_inf(bad):
    recipe = get_recipe(SIGNAL)
    for call in every_entry_point(recipe, with_value(good_signal(), (1, 7), bad)):
        with pytest.raises(ValueError, match=r"NaN or infinite value.*index \(.*7\)"):
            call()


@pytest.mark.parametrize("name", IMAGE_RECIPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_image_with_nan_or_inf(name, bad):
    for call in every_entry_point(get_recipe(name), with_value(good_image(), (2, 1, 3), bad)):
        with pytest.raises(ValueError, match=r"image contains 1 NaN or infinite"):
            call()


@pytest.mark.parametrize("name", IMAGE_RECIPES)
@pytest.mark.parametrize(("value", "shown"), [(1.5, "1.5"), (-0.25, "-0.25"), (255.0, "255")])
def test_float_image_outside_unit_range(name, value, shown):
    image = with_value(good_image(), (0, 0, 0), value)
    for call in every_entry_point(get_recipe(name), image):
        with pytest.raises(ValueError, match=rf"\[0, 1\].*{shown}.*uint8"):
            call()


@pytest.mark.parametrize("name", IMAGE_RECIPES)
def test_uint8_image_is_accepted_and_equals_float(name):
    image = np.random.default_rng(1).integers(0, 256, (2, 5, 5), dtype=np.uint8)
    recipe = get_recipe(name)
    np.testing.assert_array_equal(recipe.images(image), recipe.images(image / 255.0))


@pytest.mark.parametrize("name", IMAGE_RECIPES)
@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.int8])
def test_integer_images_other_than_uint8(name, dtype):
    with pytest.raises(ValueError, match=rf"image dtype {np.dtype(dtype)} is not supported"):
        get_recipe(name).images(np.zeros((1, 4, 4), dtype=dtype))


@pytest.mark.parametrize("name", [SIGNAL, *IMAGE_RECIPES])
@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.ones((2, 4, 4), dtype=bool), "must be numeric, got dtype bool"),
        (np.full((2, 4, 4), "a"), "must be numeric, got dtype <U1"),
        (np.array([[[1, None]]], dtype=object), "must be numeric, got dtype object"),
        (np.ones((2, 4, 4), dtype=complex), "must be real, got complex"),
    ],
)
def test_non_real_dtypes(name, x, message):
    recipe = get_recipe(name)
    for call in (lambda: recipe.images(x), lambda: recipe.images_batch(x[None])):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("name", [SIGNAL, *IMAGE_RECIPES])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5), (2, 0, 4)])
def test_empty_input(name, shape):
    with pytest.raises(ValueError, match=r"is empty \(shape"):
        get_recipe(name).images(np.zeros(shape))


@pytest.mark.parametrize("name", [SIGNAL, *IMAGE_RECIPES])
def test_empty_batch(name):
    with pytest.raises(ValueError, match="is empty"):
        get_recipe(name).images_batch(np.zeros((0, 3, 5, 5)))


@pytest.mark.parametrize(
    ("shape", "batched", "expected"),
    [
        ((3, 4, 5), False, r"signal \(C, T\) array with 2 dimensions, got shape \(3, 4, 5\)"),
        ((5,), True, r"signal batch \(N, C, T\) array with 3 dimensions, got shape \(5,\)"),
        ((3, 5), True, r"signal batch \(N, C, T\) array with 3 dimensions, got shape \(3, 5\)"),
        ((1, 2, 3, 4), True, "signal batch .* 3 dimensions, got shape"),
    ],
)
def test_signal_wrong_ndim(shape, batched, expected):
    recipe = get_recipe(SIGNAL)
    x = np.ones(shape)
    with pytest.raises(ValueError, match=expected):
        recipe.images_batch(x) if batched else recipe.images(x)


@pytest.mark.parametrize("name", IMAGE_RECIPES)
@pytest.mark.parametrize(
    ("shape", "batched", "expected"),
    [
        ((16,), False, r"image \(C, H, W\) array with 3 dimensions, got shape \(16,\)"),
        ((1, 2, 4, 4), False, r"image \(C, H, W\) array with 3 dimensions"),
        ((3, 4, 4), True, r"image batch \(N, C, H, W\) array with 4 dimensions, got shape"),
        ((4, 4), True, r"image batch \(N, C, H, W\) array with 4 dimensions"),
    ],
)
def test_image_wrong_ndim(name, shape, batched, expected):
    recipe = get_recipe(name)
    x = np.zeros(shape)
    with pytest.raises(ValueError, match=expected):
        recipe.images_batch(x) if batched else recipe.diagrams(x)


@pytest.mark.parametrize("name", IMAGE_RECIPES)
def test_two_dimensional_image_is_one_channel(name):
    image = good_image()[0]
    recipe = get_recipe(name)
    images = recipe.images(image)
    assert images.shape == (1, 50, 50)
    np.testing.assert_array_equal(images, recipe.images(image[None]))


def test_integer_and_float32_signals_are_accepted():
    recipe = get_recipe(SIGNAL)
    ints = np.array([[0, 3, 1, 4, 1, 5, 9, 2, 6]])
    reference = recipe.images(ints.astype(np.float64))
    assert reference.any()
    np.testing.assert_array_equal(recipe.images(ints), reference)
    np.testing.assert_array_equal(recipe.images(ints.astype(np.float32)), reference)
    np.testing.assert_array_equal(recipe.images(ints.tolist()), reference)
