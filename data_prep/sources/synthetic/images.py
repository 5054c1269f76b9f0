"""`synthetic-images`: eight families of images, from noise textures to shapes, edges and
textured objects on a flat background."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import gaussian_filter

from data_prep.sources.synthetic.common import (
    Family,
    SyntheticSource,
    add_noise,
    log_uniform,
    mix_channels,
    power_law_noise,
)
from pinet.modality import Modality

MAX_SMOOTHING_FRACTION = 0.25  # widest blur: a quarter of the image side
PINK_EXPONENT = (1.0, 3.0)  # power-law textures around natural images' 2
SHARPEN_AMOUNT = (1.0, 4.0)  # unsharp-mask gain
MAX_SHAPES = 8
SHAPE_RADIUS = (0.05, 0.35)  # fraction of the image side
MAX_POLYGON_VERTICES = 6
MAX_EDGES = 4
MAX_OBJECT_PARTS = 3
OBJECT_CONTRAST = (0.1, 1.0)  # a texture's deviation over its object's offset from the background
EDGE_BLUR = (0.3, 2.0)  # pixels: from a sharp step to a soft one
# Pixel values: the darkest pixel lands in [0, DARKEST_MAX], the brightest in
# [BRIGHTEST_MIN, 255], after a random gamma, so images use most of the range in varied ways.
DARKEST_MAX = 64
BRIGHTEST_MIN = 192
GAMMA = (0.5, 2.0)


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """`(y, x)` pixel coordinates as fractions of the side, each `(S, S)` in [0, 1)."""
    y, x = np.mgrid[0:size, 0:size] / size
    return y, x


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel of `x` `(C, S, S)` (wrapping, so borders look alike)."""
    return gaussian_filter(x, sigma=(0.0, sigma, sigma), mode="wrap")


def white_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """Independent uniform pixels: the finest texture."""
    return rng.random((channels, size, size))


def smooth_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """White noise blurred at a random scale, from half a pixel to a quarter of the side."""
    sigma = log_uniform(rng, 0.5, size * MAX_SMOOTHING_FRACTION)
    return blur(rng.normal(size=(channels, size, size)), sigma)


def pink_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """1/f-like noise: every scale at once, as in natural images."""
    exponent = rng.uniform(*PINK_EXPONENT)
    return power_law_noise(rng, (channels, size, size), exponent, dims=2)


def sharpened_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """Slightly blurred noise under an unsharp mask: ringing, exaggerated local contrast."""
    base = blur(rng.normal(size=(channels, size, size)), log_uniform(rng, 0.5, 2.0))
    detail = base - blur(base, log_uniform(rng, 1.0, 4.0))
    return base + rng.uniform(*SHARPEN_AMOUNT) * detail


def gradient(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """A linear ramp in a random direction plus a radial bowl or dome, per channel, plus noise."""
    y, x = pixel_grid(size)
    slope_y, slope_x, curvature = rng.normal(size=(3, channels, 1, 1))
    centre_y, centre_x = rng.uniform(size=2)
    bowl = (y - centre_y) ** 2 + (x - centre_x) ** 2
    return add_noise(rng, slope_y * y + slope_x * x + curvature * bowl)


def disc(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask of a disc of random centre and radius."""
    centre_y, centre_x = rng.uniform(size=2)
    return (y - centre_y) ** 2 + (x - centre_x) ** 2 < rng.uniform(*SHAPE_RADIUS) ** 2


def rectangle(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask of an axis-aligned rectangle between two random corners."""
    (top, bottom), (left, right) = np.sort(rng.uniform(size=(2, 2)), axis=1)
    return (top <= y) & (y < bottom) & (left <= x) & (x < right)


def polygon(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask of a convex polygon: 3-6 vertices on a random circle, in angle order, so a pixel
    is inside when it is left of every edge."""
    vertices = rng.integers(3, MAX_POLYGON_VERTICES, endpoint=True)
    angles = np.sort(rng.uniform(0.0, 2 * np.pi, vertices))
    centre_y, centre_x = rng.uniform(size=2)
    radius = rng.uniform(*SHAPE_RADIUS)
    corner_x = centre_x + radius * np.cos(angles)
    corner_y = centre_y + radius * np.sin(angles)
    edge_x = np.roll(corner_x, -1) - corner_x
    edge_y = np.roll(corner_y, -1) - corner_y
    cross = edge_x[:, None, None] * (y - corner_y[:, None, None]) - edge_y[:, None, None] * (
        x - corner_x[:, None, None]
    )
    return np.all(cross >= 0, axis=0)


SHAPE_MASKS = (disc, rectangle, polygon)


def shapes(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """1-8 discs, rectangles and convex polygons of random colours painted over each other
    on a plain background, plus noise: flat regions and hard edges."""
    y, x = pixel_grid(size)
    image = np.broadcast_to(rng.uniform(size=(channels, 1, 1)), (channels, size, size)).copy()
    for _ in range(rng.integers(1, MAX_SHAPES, endpoint=True)):
        mask = SHAPE_MASKS[rng.integers(len(SHAPE_MASKS))](rng, y, x)
        image[:, mask] = rng.uniform(size=(channels, 1))
    return add_noise(rng, image)


def edges(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """1-4 straight steps across the image at random angles and places, blurred by a random
    amount, plus noise."""
    y, x = pixel_grid(size)
    image = np.zeros((channels, size, size))
    for _ in range(rng.integers(1, MAX_EDGES, endpoint=True)):
        angle = rng.uniform(0.0, 2 * np.pi)
        through_y, through_x = rng.uniform(size=2)
        side = np.cos(angle) * (x - through_x) + np.sin(angle) * (y - through_y) > 0
        image += rng.normal(size=(channels, 1, 1)) * side
    return add_noise(rng, blur(image, log_uniform(rng, *EDGE_BLUR)))


OBJECT_TEXTURES = (smooth_noise, pink_noise, sharpened_noise, gradient)


def objects(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """One object, the union of 1-3 discs, rectangles and convex polygons, filled with a
    texture, brighter or darker than a flat background without noise: segmented objects,
    product shots, clothes and digits. Most of the image is one exact value, and in a
    raster path (`image-raster`) each row's crossing of the object makes one bar from it."""
    y, x = pixel_grid(size)
    mask = np.zeros((size, size), dtype=bool)
    for _ in range(rng.integers(1, MAX_OBJECT_PARTS, endpoint=True)):
        mask |= SHAPE_MASKS[rng.integers(len(SHAPE_MASKS))](rng, y, x)
    fill = OBJECT_TEXTURES[rng.integers(len(OBJECT_TEXTURES))](rng, channels, size)
    fill = (fill - fill.mean()) / max(fill.std(), 1e-12)
    offset = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5, size=(channels, 1, 1))
    image = np.zeros((channels, size, size))
    image[:, mask] = (offset + log_uniform(rng, *OBJECT_CONTRAST) * fill)[:, mask]
    return image


IMAGE_FAMILIES: dict[str, Family] = {
    "white-noise": white_noise,
    "smooth-noise": smooth_noise,
    "pink-noise": pink_noise,
    "sharpened-noise": sharpened_noise,
    "gradient": gradient,
    "shapes": shapes,
    "edges": edges,
    "objects": objects,
}


def to_uint8(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """`image` `(C, S, S)` rescaled into a random range that spans at least half of 0-255,
    under a random gamma; a constant image becomes the range's dark end."""
    low, high = image.min(), image.max()
    unit = (image - low) / (high - low) if high > low else np.zeros_like(image)
    unit **= log_uniform(rng, *GAMMA)
    darkest = rng.uniform(0, DARKEST_MAX)
    brightest = rng.uniform(BRIGHTEST_MIN, 255)
    return np.round(darkest + (brightest - darkest) * unit).astype(np.uint8)


MIN_IMAGE_SIZE = 8  # likewise for shapes and textures


@dataclass(frozen=True)
class SyntheticImages(SyntheticSource):
    """`count` images `(channels, size, size)` uint8 from IMAGE_FAMILIES.

    channels=1 is grey, 3 colour (any count works): channels are drawn with their own
    colours or noise, then mixed towards their mean by a random weight, as colour planes of
    real images are correlated. Each image is rescaled into a random range spanning at
    least half of 0-255 under a random gamma (`to_uint8`). A store holds one shape: make
    one store per size and channel count. id: `synthetic-images/shapes/000123`; label: the
    family's index in IMAGE_FAMILIES.
    """

    name: ClassVar[str] = "synthetic-images"
    modality: ClassVar[Modality] = "image"
    EXTENT: ClassVar[tuple[str, int]] = ("size", MIN_IMAGE_SIZE)
    FAMILIES: ClassVar[Mapping[str, Family]] = IMAGE_FAMILIES

    families: str = ",".join(IMAGE_FAMILIES)
    size: int = 32  # CIFAR-10's and the photo crops' side, the Image PI-Net's input
    channels: int = 3

    def draw(self, rng: np.random.Generator, family: str) -> np.ndarray:
        image = mix_channels(rng, self.FAMILIES[family](rng, self.channels, self.size))
        return to_uint8(rng, image)
